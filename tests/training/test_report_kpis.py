"""The report's monthly KPIs come from the "features" step, not from the report step."""

from __future__ import annotations

import pandas as pd

import training.report.render as render


def test_the_features_step_computes_the_kpis_the_report_shows(trained_artifacts, trained_run,
                                                             monkeypatch):
    _, version = trained_artifacts
    run = trained_run
    kpis = run.tables["program_kpis"]
    pd.testing.assert_frame_equal(kpis, render.monthly_kpis(run))
    assert len(kpis) > 3 and kpis["active_members"].sum() > 0

    def again(_run):
        raise AssertionError("the report step queried every line again")

    monkeypatch.setattr(render, "monthly_kpis", again)
    html = render.render_report(run, version)
    assert "Retention by month" in html

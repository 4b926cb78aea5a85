"""The report's comparison with the previous version tells a change from the noise."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from training.report.comparison import change_noise, change_verdict
from training.report.html import HtmlReport
from training.report.render import _comparison


def test_the_noise_of_a_change_adds_both_versions_standard_errors():
    assert change_noise(0.03, 0.04) == pytest.approx(2 * 0.05)
    # a previous version from before standard errors were recorded: taken as this one's
    assert change_noise(0.01, None) == pytest.approx(2 * math.sqrt(2) * 0.01)
    assert change_noise(None, 0.01) == pytest.approx(2 * math.sqrt(2) * 0.01)  # either way
    assert change_noise(None, None) is None


@pytest.mark.parametrize("change, noise, higher, verdict", [
    (0.02, 0.05, True, "within noise"),
    (-0.05, 0.05, True, "within noise"),  # as large as the noise: still nothing
    (0.06, 0.05, True, "better"),
    (0.06, 0.05, False, "worse"),  # a Brier score or an MAE went up
    (-0.06, 0.05, False, "better"),
    (0.06, None, True, "better"),  # no standard error: the sign alone, as before
    (0.0, 0.05, True, ""),
    (None, 0.05, True, ""),
])
def test_a_change_is_better_or_worse_only_beyond_the_noise(change, noise, higher, verdict):
    assert change_verdict(change, noise, higher) == verdict


def _run(metrics, previous_metrics):
    manifest = {"version": "v1", "as_of": "2024-01-01", "metrics": previous_metrics}
    return SimpleNamespace(metrics=metrics, previous={"manifest": manifest})


def test_the_report_marks_small_changes_within_noise_and_large_ones_better():
    run = _run({"churn": {"roc_auc": 0.85, "se": {"roc_auc": 0.01}},
                "value": {"spearman": 0.70, "se": {"spearman": 0.01}}},
               {"churn": {"roc_auc": 0.84, "se": {"roc_auc": 0.01}},
                "value": {"spearman": 0.60}})
    rep = HtmlReport("t")
    _comparison(rep, run)
    html = rep.render()
    churn = html[html.index("churn ROC-AUC"):html.index("</tr>", html.index("churn ROC-AUC"))]
    spend = html[html.index("spend Spearman"):html.index("</tr>", html.index("spend Spearman"))]
    assert "within noise" in churn and "0.0283" in churn  # 2 x hypot(0.01, 0.01)
    assert "better" in spend and "within noise" not in spend
    assert "noise (2 s.e.)" in html

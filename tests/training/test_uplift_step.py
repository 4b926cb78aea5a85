"""The training step "uplift": uplift models validated on the data's randomised control groups."""

from __future__ import annotations

import pandas as pd
import pytest

from models.uplift import UPLIFT_SCORE_COLUMNS
from training import artifacts
from training.config import load_config
from training.pipeline import train
from training.synth.generate import generate
from training.uplift_step import control_group_reason

FAST = {"recommend": {"tune": False, "factors": 16, "iterations": 5},
        "churn": {"validate_horizons": []}}  # per-horizon validation: test_horizon_step.py
FAST_K = 10  # the default recommend.k


def _events(*kinds: str) -> pd.DataFrame:
    return pd.DataFrame({"member_id": ["a"] * len(kinds), "event": list(kinds)})


@pytest.mark.parametrize("kinds, message", [
    ((), "no randomised control group"),
    (("sent", "redeemed"), "no 'holdout' rows"),
    (("holdout",), "no sends"),
])
def test_data_without_a_control_group_says_why(kinds, message):
    assert message in control_group_reason(_events(*kinds))


def test_sends_with_holdouts_may_train():
    assert control_group_reason(_events("sent", "holdout", "redeemed")) is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A synthetic program (planted uplift and holdouts), trained end to end."""
    data = generate(tmp_path_factory.mktemp("uplift-synth") / "data", 600, seed=11)
    out = tmp_path_factory.mktemp("uplift-artifacts")
    version, run = train(data, out, config=load_config(**FAST))
    return data, out, version, run


def test_uplift_is_trained_validated_and_reported(trained):
    _, out, version, run = trained
    m = run.metrics["uplift"]
    assert m["trained"] is True and m["validation_members"] > 0
    outcomes = {(r["offer_type"], r["outcome"]) for r in m["models"]}
    assert {o for _, o in outcomes} == {"spend", "retained"}
    for record in m["models"]:
        assert record["n_train"] > 0 and record["n_validation"] > 0
        assert (f"{record['offer_type']}/{record['outcome']}" in m["better_than_random"]) == \
            record["better_than_random"]
    opened = artifacts.open_version(out)
    assert opened.manifest["metrics"]["uplift"] == m
    curves = opened.load_frame("uplift_curves")
    assert set(curves["policy"]) == {"uplift", "response", "random"}
    assert set(zip(curves["offer_type"], curves["outcome"])) == outcomes
    html = (out / version / "report.html").read_text()
    assert ">Uplift (incremental effect of offers)</h" in html
    assert html.count("<figcaption>Qini curves, ") == len(outcomes)
    # A model no better than random is flagged in red, one line per such model.
    losers = len(m["models"]) - len(m["better_than_random"])
    assert html.count("is not better than random targeting") == losers


def test_data_without_holdouts_trains_everything_else(trained, tmp_path):
    data, _, _, _ = trained
    events = pd.read_parquet(data / "offer_events.parquet")
    assert (events["event"] == "holdout").any()
    copy = tmp_path / "data"
    copy.mkdir()
    for path in data.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    events[events["event"] != "holdout"].to_parquet(copy / "offer_events.parquet", index=False)
    out = tmp_path / "art"
    version, run = train(copy, out, config=load_config(**FAST))
    assert run.metrics["uplift"] == {"trained": False,
                                     "reason": control_group_reason(events.iloc[:0])}
    assert "uplift" not in run.metrics["skipped"]  # offers are still made: ranked by value
    assert not (out / version / "uplift_validation.parquet").exists()
    html = (out / version / "report.html").read_text()
    assert "Not trained: no randomised control group" in html


def test_every_baseline_flag_is_a_red_line_in_the_report_and_the_metrics(trained):
    _, out, version, run = trained
    from training.baseline_flags import baseline_flags, flag_line

    metrics = {k: v for k, v in run.metrics.items() if k != "flags"}
    assert run.metrics["flags"] == baseline_flags(metrics, FAST_K)
    assert artifacts.open_version(out).manifest["metrics"]["flags"] == run.metrics["flags"]
    html = (out / version / "report.html").read_text()
    for flag in run.metrics["flags"]:
        assert f'<p class="worse">{flag_line(flag)}</p>' in html
    assert (">Models that lose to their baseline</h" in html) == bool(run.metrics["flags"])


def test_the_free_heap_goes_back_between_the_fits_and_the_scoring(monkeypatch):
    """The fits' rows are freed when every member is scored, but glibc kept their pages: at
    1M members the scoring's peak sat on top of 1.2 GB of free heap (bench/RESULTS.md)."""
    import types

    import training.uplift_step as step

    calls = []
    validation = pd.DataFrame({"offer_type": ["a"], "outcome": ["spend"],
                               "better_than_random": [True]})
    fit = types.SimpleNamespace(
        validation=validation, validation_members=["m1"], models={("a", "spend"): object()},
        curves={("a", "spend"): pd.DataFrame({"policy": ["uplift"], "gain": [0.0]})})

    def fake_fit(*args, **kwargs):
        calls.append("fit")
        return fit

    monkeypatch.setattr(step, "offer_events", lambda run: _events("sent", "holdout"))
    monkeypatch.setattr(step, "member_source", lambda run: None)
    monkeypatch.setattr(step, "offer_specs_from_events", lambda source, extras: pd.DataFrame())
    monkeypatch.setattr(step, "fit_uplift", fake_fit)
    monkeypatch.setattr(step, "release_free_heap", lambda: calls.append("release"))
    monkeypatch.setattr(step, "_member_uplift",
                        lambda run, f, offers: calls.append("score")
                        or pd.DataFrame(columns=list(UPLIFT_SCORE_COLUMNS)))
    run = types.SimpleNamespace(data_dir="/nonexistent", as_of=pd.Timestamp("2024-01-01"),
                                config={"seed": 0}, metrics={}, tables={},
                                engine_tables=None)
    step.fit_uplift_step(run)
    assert calls == ["fit", "release", "score"]
    assert run.metrics["uplift"]["served_types"] == ["a"]

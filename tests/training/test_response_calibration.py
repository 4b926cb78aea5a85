"""Calibration of the engine's P(redeem) on later sends, next to the old heuristic."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.offer_response import calibration, later_sends_calibration


@pytest.fixture(scope="module")
def rows():
    """Planted sends: redemption rises with frequency and category share; base rate ~0.25,
    far above the documented priors (0.05-0.08), which the old heuristic then underestimates."""
    rng = np.random.default_rng(4)
    n = 4000
    frequency = rng.uniform(0, 25, n)
    kind = rng.choice(["percent_off", "cashback"], n)
    share = rng.uniform(0, 0.6, n)
    logit = -2.2 + 0.06 * frequency + 0.5 * (kind == "cashback") + 1.5 * share
    return pd.DataFrame({
        "m__frequency": frequency, "type": kind, "depth": rng.choice([0.1, 0.2], n),
        "n_categories": 1.0, "population_share": 0.2, "category_share": share,
        "lift": share / 0.2, "item_purchases": np.nan,
        "sent_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        "redeemed": rng.random(n) < 1 / (1 + np.exp(-logit)),
    })


def test_brier_scores_per_type_and_reliability_on_the_later_sends(rows):
    result = later_sends_calibration(rows, "logistic")
    late = rows[rows["sent_at"] >= result.split]
    brier = result.brier.set_index("offer_type")
    assert list(brier.index) == ["all", "cashback", "percent_off"]
    assert brier.loc["all", "sends"] == len(late)
    assert brier.loc["cashback", "redeemed_rate"] == pytest.approx(
        late.loc[late["type"] == "cashback", "redeemed"].mean())
    # No item counts in these rows: the engine's P(redeem) is the model's.
    assert (brier["brier_engine"] == brier["brier_model"]).all()
    # The learned model is calibrated to the planted rate; the heuristic's priors are not.
    assert (brier["brier_engine"] < brier["brier_heuristic"] - 0.01).all()
    curve = result.curve
    engine = curve[curve["source"] == "engine"]
    assert engine["sends"].sum() == len(late) and len(engine) == 10
    assert np.abs(engine["mean_predicted"] - engine["observed_rate"]).max() < 0.1
    heuristic = curve[curve["source"] == "heuristic"]
    assert (heuristic["mean_predicted"] < heuristic["observed_rate"]).mean() > 0.8
    summary = json.loads(json.dumps(result.summary()))
    assert summary["brier"]["all"]["brier_engine"] == pytest.approx(brier.loc["all",
                                                                              "brier_engine"])


def test_one_class_in_a_part_gives_no_calibration(rows):
    assert later_sends_calibration(rows.assign(redeemed=False), "logistic") is None


def test_the_heuristic_uses_the_engines_constants():
    from serving.engine.engine import EngineConfig
    from serving.engine.member_context import RESPONSIVENESS_BOUNDS

    assert calibration.RESPONSIVENESS_BOUNDS == RESPONSIVENESS_BOUNDS
    assert (calibration.LIFT_CAP, calibration.P_MAX) == (EngineConfig().lift_cap,
                                                         EngineConfig().p_max)


def test_the_training_report_and_metrics_show_the_calibration(trained_artifacts):
    artifacts_dir, version = trained_artifacts
    folder = artifacts_dir / version
    metrics = json.loads((folder / "metrics.json").read_text())
    brier = metrics["offer_response"]["calibration"]["brier"]
    assert {"all", "percent_off", "cashback", "points_multiplier"} <= set(brier)
    for scores in brier.values():
        assert 0 <= scores["brier_engine"] <= 0.25 and 0 <= scores["brier_heuristic"] <= 1
    html = (folder / "report.html").read_text()
    assert ">Calibration of P(redeem)</h" in html and "Reliability of P(redeem)" in html


def test_spend_reliability_bins_members_by_each_sources_prediction():
    from models.lifecycle import spend_reliability

    actual = np.arange(100, dtype=float)
    table = spend_reliability({"right": actual, "flat": np.full(100, 50.0)}, actual, bins=4)
    right = table[table["source"] == "right"]
    assert list(right["members"]) == [25, 25, 25, 25]
    assert list(right["mean_predicted"]) == list(right["mean_actual"])
    flat = table[table["source"] == "flat"]  # one prediction: one bin, the mean of everyone
    assert len(flat) == 1 and flat["mean_actual"].iloc[0] == pytest.approx(49.5)


def test_the_report_shows_the_spend_calibration(trained_artifacts):
    artifacts_dir, version = trained_artifacts
    html = (artifacts_dir / version / "report.html").read_text()
    assert "Calibration of the spend prediction" in html


def test_the_report_shows_the_churn_calibration_and_brier(trained_artifacts):
    """Issue 12: churn gets the reliability curve and Brier score too, beside its baseline."""
    artifacts_dir, version = trained_artifacts
    html = (artifacts_dir / version / "report.html").read_text()
    start = html.index(">Churn risk</h")
    churn = html[start:html.index("<h2", start)]
    assert "<th>brier</th>" in churn and "recency_baseline" in churn
    assert "<figcaption>Calibration</figcaption>" in churn

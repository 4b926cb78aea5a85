"""The "horizons" step: BG/NBD + Gamma-Gamma validated per horizon, and its flags."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from features.loading import load_dataset
from models.lifecycle import predict_at_horizon
from training.horizon_step import (
    fit_purchase_cycle,
    horizon_flags,
    validate_horizon,
)
from training.synth.generate import generate

AS_OF = pd.Timestamp("2026-01-01")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_dataset(generate(tmp_path_factory.mktemp("horizon") / "data", 400, seed=5))


def test_validation_at_a_horizon_compares_the_three_models(dataset):
    result = validate_horizon(dataset, AS_OF, 45)
    assert result["validation_cutoff"].startswith("2025-11-17")  # as_of - 45 days
    assert set(result["churn"]) == {"churn_model", "recency_only", "bgnbd"}
    assert set(result["value"]) == {"value_model", "past_spend_rate", "bgnbd_gamma_gamma"}
    for scores in result["churn"].values():
        assert 0.5 < scores["roc_auc"] <= 1.0  # all better than chance on this data
    assert result["value"]["bgnbd_gamma_gamma"]["spearman"] > 0.3


def test_on_duckdb_the_validation_is_the_same(dataset):
    """Windows and purchase summaries on the engine: baselines and BG/NBD exactly as on
    pandas; the boosted models within noise (features equal to 1e-9, not bit for bit)."""
    assert_validated_as_on_pandas("duckdb", dataset)


def assert_validated_as_on_pandas(engine_kind: str, dataset) -> None:
    """The validation at 45 days on an engine against pandas': the same windows, baselines
    and BG/NBD (to 1e-6), the boosted churn model within noise, the sums over members alike."""
    from training.engines import open_engine

    engine = open_engine(engine_kind, dataset)
    try:
        got = validate_horizon(dataset, AS_OF, 45, engine=engine)
    finally:
        engine.close()
    want = validate_horizon(dataset, AS_OF, 45)
    assert (got["validation_cutoff"], got["validation_members"]) == (
        want["validation_cutoff"], want["validation_members"])
    for task, models in (("churn", ("recency_only", "bgnbd")),
                         ("value", ("past_spend_rate", "bgnbd_gamma_gamma"))):
        for model in models:
            assert got[task][model] == pytest.approx(want[task][model], rel=1e-6), model
    assert got["churn"]["churn_model"]["roc_auc"] == pytest.approx(
        want["churn"]["churn_model"]["roc_auc"], abs=0.01)
    cycle = "bgnbd_gamma_gamma"
    assert got["value_sums"][cycle]["total_ratio"] == pytest.approx(
        want["value_sums"][cycle]["total_ratio"], rel=1e-6)


def test_each_loss_to_a_baseline_carries_the_noise_of_the_margin(dataset):
    """At 120 days on this data the churn model ranks below recency only; its flags say by
    how much the members measured could move that margin. Models that beat their baseline
    are not resampled. (At 90 days it lost too while it learned from today's points
    balance, which no model reads since 2026-12-07.)"""
    result = validate_horizon(dataset, AS_OF, 120)
    losses = {(task, model, name)
              for task, base, names in (("churn", "recency_only", ("roc_auc", "pr_auc")),
                                        ("value", "past_spend_rate",
                                         ("spearman", "mae", "top_decile_capture")))
              for model, values in result[task].items() if model != base
              for name in names
              if (values[name] > result[task][base][name] if name == "mae"
                  else values[name] < result[task][base][name])}
    noise = {(task, model, name): se for task, models in result["baseline_se"].items()
             for model, ses in models.items() for name, se in ses.items()}
    assert ("churn", "churn_model", "pr_auc") in losses
    assert set(noise) == losses
    # A share's noise is under 0.2; the MAE's, in currency, under the MAE itself.
    assert all(0 < se < (result[t][m][n] if n == "mae" else 0.2)
               for (t, m, n), se in noise.items())
    flags = horizon_flags({"horizons": {"validation": {"120": result}}})
    assert {f["metric"] for f in flags} >= {"churn model pr_auc at 120 days"}
    assert all(f["noise"] == 2 * noise[(t, m, f["measure"])] for f in flags
               for t, m in [_task_model(f["subject"])])


def _task_model(label: str) -> tuple[str, str]:
    from training.horizon_step import LABELS

    model = next(k for k, v in LABELS.items() if v == label)
    return ("churn" if model in ("churn_model", "bgnbd") else "value"), model


def test_a_horizon_too_long_for_the_data_is_refused(dataset):
    with pytest.raises(ConfigError, match="earliest cutoff"):
        validate_horizon(dataset, AS_OF, 400)


def test_predictions_grow_with_the_horizon(dataset):
    params, summary = fit_purchase_cycle(dataset.transactions, AS_OF)
    short, long = (predict_at_horizon(params, summary, d) for d in (30, 365))
    assert (long["churn_risk"] <= short["churn_risk"] + 1e-12).all()
    assert (long["expected_spend"] >= short["expected_spend"] - 1e-9).all()
    assert short["churn_risk"].between(0, 1).all() and list(short.index) == list(summary.index)


def test_flags_name_each_model_that_loses_to_its_baseline_at_a_horizon():
    churn = {"churn_model": {"roc_auc": 0.8, "pr_auc": 0.5},
             "recency_only": {"roc_auc": 0.7, "pr_auc": 0.6},
             "bgnbd": {"roc_auc": 0.75, "pr_auc": 0.65}}
    value = {"value_model": {"spearman": 0.6, "mae": 12.0, "top_decile_capture": 0.4},
             "past_spend_rate": {"spearman": 0.5, "mae": 10.0, "top_decile_capture": 0.4},
             "bgnbd_gamma_gamma": {"spearman": 0.55, "mae": 9.0, "top_decile_capture": 0.45}}
    metrics = {"horizons": {"trained": True, "validation": {"61": {"churn": churn,
                                                                  "value": value}}}}
    flags = horizon_flags(metrics)
    assert [f["metric"] for f in flags] == ["churn model pr_auc at 61 days",
                                            "spend model mae at 61 days"]
    assert flags[0]["baseline"] == "recency only" and flags[0]["baseline_value"] == 0.6
    assert horizon_flags({"horizons": {"trained": False, "reason": "x"}}) == []
    # At the version's own horizon only BG/NBD is judged here (baseline_flags does the rest).
    own = horizon_flags({**metrics, "churn": {"horizon_days": 61}})
    assert [f["metric"] for f in own] == []
    value["bgnbd_gamma_gamma"]["mae"] = 11.0
    assert [f["metric"] for f in horizon_flags({**metrics, "churn": {"horizon_days": 61}})] == [
        "BG/NBD + Gamma-Gamma spend mae at 61 days"]


@pytest.mark.parametrize("bad", [[0], [30, 4000], [30.5]])
def test_bad_validate_horizons_are_refused_with_the_setting_named(bad):
    from training.config import load_config

    with pytest.raises(ConfigError, match="churn.validate_horizons"):
        load_config(churn={"validate_horizons": bad})

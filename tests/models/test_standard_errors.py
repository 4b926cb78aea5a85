"""Standard errors of the validation metrics by bootstrap (models.metrics.standard_errors)."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import (
    brier,
    mae,
    paired_standard_errors,
    roc_auc,
    spearman,
    standard_errors,
)


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(3)
    y = rng.random(4000) < 0.3
    p = np.clip(np.where(y, 0.45, 0.25) + rng.normal(0, 0.15, y.size), 0, 1)
    return y, p


def test_the_standard_error_of_a_mean_matches_its_formula(scored):
    y, p = scored
    squared = (p - y) ** 2
    analytic = squared.std(ddof=1) / np.sqrt(y.size)
    se = standard_errors(y, p, {"brier": brier})["brier"]
    assert se == pytest.approx(analytic, rel=0.15)


def test_four_times_the_rows_halve_the_standard_error(scored):
    y, p = scored
    small = standard_errors(y[:1000], p[:1000], {"roc_auc": roc_auc})["roc_auc"]
    large = standard_errors(y, p, {"roc_auc": roc_auc})["roc_auc"]
    assert 0.005 < large < small and large / small == pytest.approx(0.5, abs=0.12)


def test_the_resamples_are_seeded_and_shared_by_the_metrics(scored):
    y, p = scored
    spend = np.where(y, 0, 50 * p)
    one = standard_errors(spend, p, {"spearman": spearman, "mae": mae}, seed=1)
    assert one == standard_errors(spend, p, {"spearman": spearman, "mae": mae}, seed=1)
    assert one != standard_errors(spend, p, {"spearman": spearman, "mae": mae}, seed=2)
    assert standard_errors(spend, p, {"mae": mae}, seed=1)["mae"] == one["mae"]


def test_undefined_resamples_are_left_out_and_too_few_rows_give_nan():
    # 1 positive in 60: many resamples have no positive, where ROC-AUC is undefined
    y, p = np.arange(60) == 0, np.linspace(1, 0, 60)
    se = standard_errors(y, p, {"roc_auc": roc_auc})["roc_auc"]
    assert np.isfinite(se)
    assert np.isnan(standard_errors([1], [0.5], {"brier": brier})["brier"])
    assert np.isnan(standard_errors(np.zeros(20), np.full(20, 0.5), {"roc_auc": roc_auc})[
        "roc_auc"])


def test_above_the_row_cap_a_smaller_resample_scaled_gives_the_same_error(scored):
    y, p = scored
    full = standard_errors(y, p, {"roc_auc": roc_auc, "brier": brier}, max_rows=y.size)
    capped = standard_errors(y, p, {"roc_auc": roc_auc, "brier": brier}, max_rows=1000)
    for name in full:
        assert capped[name] == pytest.approx(full[name], rel=0.2), name


def test_a_margin_on_the_same_rows_is_less_noisy_than_either_score(scored):
    """Two close scores of the same members move together on every resample: their
    difference's error is far below either's (the reason flags use the paired one)."""
    y, p = scored
    rng = np.random.default_rng(4)
    close = np.clip(p + rng.normal(0, 0.02, p.size), 0, 1)
    paired = paired_standard_errors(y, p, close, {"roc_auc": roc_auc})["roc_auc"]
    alone = standard_errors(y, p, {"roc_auc": roc_auc})["roc_auc"]
    assert 0 < paired < alone / 3
    assert paired_standard_errors(y, p, p, {"roc_auc": roc_auc})["roc_auc"] == 0.0

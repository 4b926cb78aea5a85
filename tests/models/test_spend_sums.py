"""Sums of spend forecasts by time since the last purchase: what a segment's revenue
forecast is judged on (models.lifecycle.reliability)."""

from __future__ import annotations

import numpy as np
import pytest

from models.lifecycle import spend_by_recency, spend_sums
from models.lifecycle.reliability import recency_bands


def test_sums_in_all_and_by_band():
    actual = np.array([10.0, 20.0, 5.0, 0.0, 0.0])
    recency = np.array([3.0, 20.0, 40.0, 100.0, 200.0])  # H = 30: <=30, <=30, 30-60, 60-120, >120
    median = np.array([10.0, 10.0, 0.0, 0.0, 0.0])
    mean = np.array([9.0, 21.0, 6.0, 1.0, 0.5])
    found = spend_sums(spend_by_recency({"median": median, "mean": mean}, actual, recency, 30,
                                        min_spenders=1), min_spenders=1)
    assert list(found) == ["median", "mean"]
    assert found["median"]["total_ratio"] == pytest.approx(20 / 35)
    assert found["mean"]["total_ratio"] == pytest.approx(37.5 / 35)
    near, lapsed = recency_bands(30)[:2]
    assert found["median"]["by_last_purchase"] == {near: pytest.approx(20 / 30), lapsed: 0.0}
    # Bands where nothing was spent have no ratio: left out, not infinite, and named.
    assert found["mean"]["by_last_purchase"] == {near: 1.0, lapsed: pytest.approx(6 / 5)}
    assert found["mean"]["not_judged"] == recency_bands(30)[2:]


def test_nothing_spent_has_no_total():
    found = spend_sums(spend_by_recency({"m": np.ones(2)}, np.zeros(2), np.array([1.0, 50.0]),
                                        28, min_spenders=1), min_spenders=1)
    assert found["m"] == {"total_ratio": None, "by_last_purchase": {},
                          "not_judged": recency_bands(28)[:2]}


def test_a_band_where_few_members_spent_is_not_judged():
    """Five members long gone spent 1.42 between them, one of them anything: a ratio over
    that (1,029 on a shop's export) is a division by almost nothing, so the band is given
    without a ratio; the members who did spend (20 of them) are judged."""
    recency = np.r_[np.full(20, 5.0), np.full(5, 200.0)]
    actual = np.r_[np.full(20, 50.0), [1.42, 0, 0, 0, 0]]
    mean = np.r_[np.full(20, 55.0), np.full(5, 290.0)]
    table = spend_by_recency({"mean": mean}, actual, recency, 30)
    lapsed = table.set_index("last_purchase").loc[recency_bands(30)[3]]
    assert (lapsed["members"], lapsed["spenders"], lapsed["actual"]) == (5, 1, 1.42)
    assert np.isnan(lapsed["ratio"])
    found = spend_sums(table)["mean"]
    assert found["by_last_purchase"] == {recency_bands(30)[0]: pytest.approx(1.1)}
    assert found["not_judged"] == [recency_bands(30)[3]]
    assert found["total_ratio"] == pytest.approx((1100 + 1450) / 1001.42)
    # With fewer spenders in all than the minimum, not even the total is judged.
    few = spend_sums(spend_by_recency({"mean": mean}, actual, recency, 30, min_spenders=25),
                     min_spenders=25)["mean"]
    assert few["total_ratio"] is None and few["by_last_purchase"] == {}


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
    found = spend_sums(spend_by_recency({"median": median, "mean": mean}, actual, recency, 30))
    assert list(found) == ["median", "mean"]
    assert found["median"]["total_ratio"] == pytest.approx(20 / 35)
    assert found["mean"]["total_ratio"] == pytest.approx(37.5 / 35)
    near, lapsed = recency_bands(30)[:2]
    assert found["median"]["by_last_purchase"] == {near: pytest.approx(20 / 30), lapsed: 0.0}
    # Bands where nothing was spent have no ratio: left out, not infinite.
    assert found["mean"]["by_last_purchase"] == {near: 1.0, lapsed: pytest.approx(6 / 5)}


def test_nothing_spent_has_no_total():
    found = spend_sums(spend_by_recency({"m": np.ones(2)}, np.zeros(2), np.array([1.0, 50.0]),
                                        28))
    assert found["m"] == {"total_ratio": None, "by_last_purchase": {}}


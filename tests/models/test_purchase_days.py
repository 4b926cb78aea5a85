"""Purchase days grouped once and cut at any midnight (models/lifecycle/purchase_days.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import ConfigError, DataError
from models.lifecycle import purchase_summary
from models.lifecycle.purchase_days import PurchaseDays


@pytest.fixture
def lines():
    rng = np.random.default_rng(4)
    n = 3_000
    ts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200 * 24 * 60, n), "min")
    amount = rng.gamma(2.0, 10.0, n).round(2)
    amount[rng.random(n) < 0.05] *= -1  # returns
    amount[rng.random(n) < 0.02] = 0.0
    members = rng.choice([f"m{i:03d}" for i in range(80)], n)
    members[:40] = "late"  # buys only in the last weeks
    ts = ts.to_numpy().copy()
    ts[:40] = np.datetime64("2024-07-10T10:00")
    return pd.DataFrame({"member_id": members, "timestamp": ts, "amount": amount})


@pytest.mark.parametrize("as_of", ["2024-01-02", "2024-02-15", "2024-07-10", "2024-07-11",
                                   "2025-01-01"])
def test_the_summary_at_a_midnight_equals_that_of_the_lines(lines, as_of):
    got = PurchaseDays.of(lines).summary(as_of)
    pd.testing.assert_frame_equal(got, purchase_summary(lines, as_of))


def test_a_members_days_equal_the_summary_of_their_lines(lines):
    keep = pd.Index(["m001", "m017", "late", "nobody"])
    got = PurchaseDays.of(lines).of_members(keep).summary("2024-08-01")
    want = purchase_summary(lines[lines["member_id"].isin(keep)], "2024-08-01")
    pd.testing.assert_frame_equal(got, want)
    assert list(got.index) == ["late", "m001", "m017"]


def test_a_cut_not_at_midnight_or_before_every_purchase_is_refused(lines):
    days = PurchaseDays.of(lines)
    with pytest.raises(ConfigError, match="midnights"):
        days.summary("2024-03-01 12:00")
    with pytest.raises(DataError, match="no transactions before"):
        days.summary("2023-12-01")

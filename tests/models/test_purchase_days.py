"""Purchase days grouped once and cut at any midnight (models/lifecycle/purchase_days.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import ConfigError, DataError
from models.lifecycle import purchase_summary
from models.lifecycle.purchase_days import PurchaseDays


def _reference(transactions, as_of):
    """The summary as purchase_summary computed it before PurchaseDays (the oracle)."""
    as_of = pd.Timestamp(as_of)
    tx = transactions[transactions["timestamp"] < as_of]
    days = pd.DataFrame({
        "member_id": tx["member_id"].astype(str).to_numpy(),
        "day": tx["timestamp"].dt.normalize().to_numpy(),
        "amount": tx["amount"].to_numpy(dtype=np.float64),
    }).groupby(["member_id", "day"], sort=True, observed=True)["amount"].sum().reset_index()
    first = days.groupby("member_id", sort=True)["day"].transform("min")
    days["repeat_spend"] = days["amount"].where((days["day"] > first) & (days["amount"] > 0))
    grouped = days.groupby("member_id", sort=True)
    start, end = grouped["day"].min(), grouped["day"].max()
    out = pd.DataFrame({
        "frequency": (grouped.size() - 1).astype(np.int64),
        "recency": (end - start).dt.days.astype(np.float64),
        "T": (as_of.normalize() - start).dt.days.astype(np.float64).clip(lower=0.0),
        "monetary": grouped["repeat_spend"].mean(),
    })
    out.index = pd.Index(out.index.astype(str), dtype="str", name="member_id")
    return out


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
    pd.testing.assert_frame_equal(got, _reference(lines, as_of))
    pd.testing.assert_frame_equal(purchase_summary(lines, as_of), got)


@pytest.mark.parametrize("as_of", ["2024-02-15 09:30", "2024-07-10 10:00", "2024-07-10 10:01"])
def test_the_summary_of_the_lines_at_any_time_equals_the_grouping_it_replaced(lines, as_of):
    pd.testing.assert_frame_equal(purchase_summary(lines, as_of), _reference(lines, as_of))


def test_a_members_days_equal_the_summary_of_their_lines(lines):
    keep = pd.Index(["m001", "m017", "late", "nobody"])
    got = PurchaseDays.of(lines).of_members(keep).summary("2024-08-01")
    want = _reference(lines[lines["member_id"].isin(keep)], "2024-08-01")
    pd.testing.assert_frame_equal(got, want)
    assert list(got.index) == ["late", "m001", "m017"]


def test_a_cut_not_at_midnight_or_before_every_purchase_is_refused(lines):
    days = PurchaseDays.of(lines)
    with pytest.raises(ConfigError, match="midnights"):
        days.summary("2024-03-01 12:00")
    with pytest.raises(DataError, match="no transactions before"):
        days.summary("2023-12-01")

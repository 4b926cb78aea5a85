"""Slices of a table by ranges of a column (features/relational/portable.py ``slices``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.relational import connect
from features.relational.portable import range_bounds, register_frame, slices


@pytest.fixture
def table():
    rng = np.random.default_rng(3)
    ids = np.array([f"M{i:05d}" for i in range(2_000)])
    # Members with very different numbers of rows, and a few rows without a member.
    member = np.repeat(ids, rng.integers(1, 40, len(ids))).astype(object)
    member[rng.choice(len(member), 5, replace=False)] = None
    frame = pd.DataFrame({"member_id": member, "x": np.arange(len(member))})
    return register_frame(connect(), "lines_for_slices", frame), frame


def _members(part) -> list:
    return part.select("member_id").to_pyarrow()["member_id"].to_pylist()


@pytest.mark.parametrize("with_keys", [False, True])
def test_slices_are_disjoint_ranges_holding_every_row(table, with_keys):
    t, frame = table
    n = len(frame)
    keys = frame["member_id"].dropna().unique() if with_keys else None
    parts = slices(t, "member_id", n, n / 4.5, keys=keys)
    assert len(parts) == 5
    got = [_members(p) for p in parts]
    assert sum(len(g) for g in got) == n  # every row once, those without a member too
    named = [sorted(m for m in g if m is not None) for g in got]
    for lower, upper in zip(named[:-1], named[1:]):  # ranges: no member in two slices
        assert lower[-1] < upper[0]
    sizes = np.array([len(g) for g in got])
    assert sizes.min() > 0.5 * n / 5  # roughly balanced


def test_bounds_come_from_a_sample_balanced_in_rows(table):
    t, frame = table
    counts = frame["member_id"].value_counts().sort_index()
    bounds = range_bounds(t, "member_id", 4, len(frame))
    assert len(bounds) == 3 and bounds == sorted(bounds)
    share = [counts[counts.index < b].sum() / counts.sum() for b in bounds]
    np.testing.assert_allclose(share, [0.25, 0.5, 0.75], atol=0.03)


def test_one_slice_when_the_rows_fit_and_fewer_when_values_are_few(table):
    t, frame = table
    assert slices(t, "member_id", len(frame), len(frame)) == [t]
    one = register_frame(connect(), "one_value", pd.DataFrame({"k": ["a"] * 50}))
    parts = slices(one, "k", 50, 10)
    assert sum(len(_members_of(p)) for p in parts) == 50 and len(parts) == 2


def _members_of(part) -> list:
    return part.to_pyarrow()["k"].to_pylist()

"""Distinct counts before a cutoff from pairs kept per frame (features/first_seen.py)."""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
import pandas as pd
import pytest

from features import first_seen
from features.code_groups import NAT, distinct_pair_counts
from features.first_seen import distinct_before


def _lines(seed=0, n=5_000):
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, 1_000, n)).astype(np.int64) * 10**9
    frame = pd.DataFrame({"member": rng.integers(0, 40, n), "basket": rng.integers(0, 300, n),
                          "ts": ts, "flag": rng.random(n)})
    return frame


def _by_sorting(a, b, ts, n_a, cutoff, rows=None):
    keep = (ts < cutoff) & (ts != NAT) & (a >= 0) & (b >= 0)
    if rows is not None:
        keep &= rows
    return distinct_pair_counts(a[keep], b[keep], n_a, int(b.max()) + 1)


@pytest.mark.parametrize("cutoff", [0, 1, 250 * 10**9, 999 * 10**9, 2_000 * 10**9])
def test_counts_equal_a_sort_of_the_lines_before_each_cutoff(cutoff):
    frame = _lines()
    a, b, ts = (frame[c].to_numpy() for c in ("member", "basket", "ts"))
    a, b, ts = a.copy(), b.copy(), ts.copy()
    a[:7], b[7:9], ts[9:11] = -1, -1, NAT  # missing ids and times never count
    frame = pd.DataFrame({"member": a, "basket": b, "ts": ts, "flag": frame["flag"]})
    a, b, ts = (frame[c].to_numpy() for c in ("member", "basket", "ts"))
    rows = frame["flag"].to_numpy() > 0.7
    got = distinct_before(frame, "all", a, b, ts, 40, cutoff)
    np.testing.assert_array_equal(got, _by_sorting(a, b, ts, 40, cutoff))
    got = distinct_before(frame, "flagged", a, b, ts, 40, cutoff, rows=rows,
                          rows_source=frame["flag"].to_numpy())
    np.testing.assert_array_equal(got, _by_sorting(a, b, ts, 40, cutoff, rows))


def test_a_replaced_column_is_counted_afresh_and_the_pairs_go_with_the_frame():
    frame = _lines(1)
    cutoff = 500 * 10**9

    def count(frame):
        a, b, ts = (frame[c].to_numpy() for c in ("member", "basket", "ts"))
        return distinct_before(frame, "pairs", a, b, ts, 40, cutoff), (a, b, ts)

    first, _ = count(frame)
    assert id(frame) in first_seen._KEPT
    frame["basket"] = 0  # every line in one basket now
    second, (a, b, ts) = count(frame)
    np.testing.assert_array_equal(second, _by_sorting(a, b, ts, 40, cutoff))
    assert second.max() == 1 and first.max() > 1
    key = id(frame)
    del frame, a, b, ts
    gc.collect()
    assert key not in first_seen._KEPT


def test_frames_above_the_limit_are_counted_without_keeping_pairs(monkeypatch):
    monkeypatch.setattr(first_seen, "MAX_LINES", 10)
    frame = _lines(2)
    a, b, ts = (frame[c].to_numpy() for c in ("member", "basket", "ts"))
    got = distinct_before(frame, "big", a, b, ts, 40, 600 * 10**9)
    np.testing.assert_array_equal(got, _by_sorting(a, b, ts, 40, 600 * 10**9))
    assert id(frame) not in first_seen._KEPT


def test_member_features_at_many_cutoffs_equal_those_of_a_fresh_frame(make_data_dir):
    """The purchase and coupon features through kept pairs equal those of plain columns
    (object ids: the sorting path) at each cutoff."""
    from features.loading import load_dataset
    from features.member_features import build_member_features
    from training.synth.generate import generate

    data = generate(make_data_dir("synth").parent / "s", 120, seed=3)
    ds = load_dataset(data)
    assert isinstance(ds.transactions["member_id"].dtype, pd.CategoricalDtype)
    coupon = np.where(np.random.default_rng(0).random(len(ds.transactions)) < 0.1, 0.5, 0.0)
    ds = dataclasses.replace(ds, transactions=ds.transactions.assign(coupon_discount=coupon))
    plain = ds.transactions.assign(member_id=ds.transactions["member_id"].astype(str),
                                   item_id=ds.transactions["item_id"].astype(str))
    for cutoff in ("2025-03-01", "2025-07-15 12:00", "2026-01-01"):
        kept = build_member_features(ds, cutoff)
        assert kept["coupon_lines"].sum() > 0 and kept["n_items_distinct"].max() > 1
        fresh = build_member_features(dataclasses.replace(ds, transactions=plain), cutoff)
        pd.testing.assert_frame_equal(kept, fresh)

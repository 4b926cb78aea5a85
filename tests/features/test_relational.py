"""The DuckDB (Ibis) features equal the pandas features, the oracle (issue 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.coupon_features import COUPON_FEATURES
from features.errors import ConfigError, DataError
from features.item_features import build_item_features
from features.loading import load_dataset
from features.member_features import build_member_features
from features.relational import (
    connect,
    item_features,
    member_features,
    tables_from_dataset,
    tables_from_parquet,
)

COPIES = 30


@pytest.fixture(scope="module")
def synth(synth_data):
    ds = load_dataset(synth_data, now="2100-01-01")
    as_of = ds.last_timestamp - pd.Timedelta(days=30)
    return ds, as_of


def pandas_only_coupons(want: pd.DataFrame) -> pd.DataFrame:
    """pandas' member features less the coupon-use columns, which it computes from the
    optional ``coupon_discount`` (the Complete Journey import has it) and the relational
    engines do not yet (docs/models.md): they must be there, and the rest must agree."""
    assert set(COUPON_FEATURES) <= set(want.columns)
    return want.drop(columns=list(COUPON_FEATURES))


def assert_same_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert list(got.index) == list(want.index)
    for col in want.columns:
        w, g = want[col], got[col]
        if pd.api.types.is_float_dtype(w.dtype):
            np.testing.assert_allclose(
                g.to_numpy(dtype=float),
                w.to_numpy(dtype=float),
                rtol=1e-9,
                atol=1e-9,
                equal_nan=True,
                err_msg=col,
            )
        else:
            assert g.astype("object").where(g.notna(), None).tolist() == (
                w.astype("object").where(w.notna(), None).tolist()
            ), col


def test_member_features_equal_pandas_on_synthetic_data(synth):
    ds, as_of = synth
    con = connect()
    lines = tables_from_dataset(con, ds)["transactions"]
    want = build_member_features(ds, as_of)
    got = member_features(lines, ds, as_of)
    assert len(want) > 100 and want["cat_share__other"].notna().any()
    assert_same_frame(got, want)


def test_aggregates_in_slices_equal_pandas(synth, monkeypatch):
    """Above LINES_PER_PART lines, the distinct items (per slice of members) and the item
    aggregates (per slice of items) are computed slice by slice: the same answers."""
    import features.relational.items as items
    import features.relational.pairs as pairs
    import features.relational.portable as portable

    ds, as_of = synth
    monkeypatch.setattr(pairs, "LINES_PER_PART", len(ds.transactions) // 5)
    cut = []
    slices = portable.slices
    counted = lambda *a: cut.append(len(slices(*a))) or slices(*a)  # noqa: E731
    monkeypatch.setattr(pairs, "slices", counted)
    monkeypatch.setattr(items, "slices", counted)
    lines = tables_from_dataset(connect(), ds)["transactions"]
    assert_same_frame(member_features(lines, ds, as_of), build_member_features(ds, as_of))
    assert_same_frame(item_features(lines, ds.items, as_of),
                      build_item_features(ds.transactions, ds.items, as_of))
    # The pairs per slice of members (for each), the item aggregates per slice of items.
    assert len(cut) == 3 and min(cut) >= 5


def test_member_features_without_spend_mix_and_other_options(synth):
    ds, as_of = synth
    lines = tables_from_dataset(connect(), ds)["transactions"]
    want = build_member_features(ds, as_of, n_categories=3, trend_days=20, spend_mix=False)
    got = member_features(lines, ds, as_of, n_categories=3, trend_days=20, spend_mix=False)
    assert_same_frame(got, want)


def test_item_features_equal_pandas_on_synthetic_data(synth):
    ds, as_of = synth
    lines = tables_from_dataset(connect(), ds)["transactions"]
    want = build_item_features(ds.transactions, ds.items, as_of, recent_days=14)
    got = item_features(lines, ds.items, as_of, recent_days=14)
    assert (want["popularity"] > 0).any()
    assert_same_frame(got, want)


def test_bad_options_and_missing_columns_are_named(synth, tmp_path):
    ds, as_of = synth
    lines = tables_from_dataset(connect(), ds)["transactions"]
    with pytest.raises(ConfigError, match="trend_days"):
        member_features(lines, ds, as_of, trend_days=0)
    with pytest.raises(ConfigError, match="recent_days"):
        item_features(lines, ds.items, as_of, recent_days=-1)
    with pytest.raises(DataError, match="category"):
        item_features(lines, ds.items.drop(columns="category"), as_of)
    with pytest.raises(ConfigError, match="memory_limit"):
        connect(memory_limit="lots")
    with pytest.raises(DataError, match="no such file"):
        tables_from_parquet(connect(), tmp_path / "nope.parquet")
    ds.transactions.drop(columns="amount").to_parquet(tmp_path / "tx.parquet")
    with pytest.raises(DataError, match=r"lack column\(s\) \['amount'\]"):
        tables_from_parquet(connect(), tmp_path / "tx.parquet")


def test_spills_under_a_memory_limit_far_below_the_data_and_gives_the_same_features(
    synth, tmp_path
):
    """DuckDB with 32 MB for ~1.8M lines (~140 MB as pandas frames) spills and agrees."""
    ds, as_of = synth
    tx = ds.transactions
    # Enough lines that the aggregations cannot fit: the synthetic lines repeated
    # under distinct basket ids and members (each copy is a new set of members).
    copies = [
        tx.assign(
            member_id=tx["member_id"].astype("str") + f"~{k}",
            basket_id=tx["basket_id"] + k * (int(tx["basket_id"].max()) + 1),
            item_id=tx["item_id"].astype("str"),
        )
        for k in range(COPIES)
    ]
    big = pd.concat(copies, ignore_index=True)
    big.to_parquet(tmp_path / "tx.parquet")
    spill = tmp_path / "spill"
    free = member_features(
        tables_from_parquet(connect(), tmp_path / "tx.parquet")["transactions"],
        {"items": ds.items, "members": None, "offer_events": None},
        as_of,
    )
    con = connect(memory_limit="32MB", temp_directory=spill, threads=1)
    limited = member_features(
        tables_from_parquet(con, tmp_path / "tx.parquet")["transactions"],
        {"items": ds.items, "members": None, "offer_events": None},
        as_of,
    )
    assert big.memory_usage(deep=True).sum() > 4 * 32 * 2**20
    assert len(limited) == tx.loc[tx["timestamp"] < as_of, "member_id"].nunique() * COPIES
    assert_same_frame(limited, free)


@pytest.mark.slow
def test_member_and_item_features_equal_pandas_on_a_complete_journey_sample(
    tmp_path, complete_journey
):
    source = complete_journey[0]
    tx = pd.read_parquet(source / "transactions.parquet")
    sample = tx[tx["member_id"].astype("str").isin(tx["member_id"].astype("str").unique()[:300])]
    for name in ("items", "members", "offer_events"):
        pd.read_parquet(source / f"{name}.parquet").to_parquet(tmp_path / f"{name}.parquet")
    sample.to_parquet(tmp_path / "transactions.parquet")
    ds = load_dataset(tmp_path, now="2100-01-01")
    as_of = "2017-10-01"
    lines = tables_from_dataset(connect(), ds)["transactions"]
    assert_same_frame(member_features(lines, ds, as_of),
                      pandas_only_coupons(build_member_features(ds, as_of)))
    assert_same_frame(
        item_features(lines, ds.items, as_of), build_item_features(ds.transactions, ds.items, as_of)
    )

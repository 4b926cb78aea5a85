"""The DuckDB (Ibis) features equal the pandas features, the oracle (issue 11)."""

from __future__ import annotations

from pathlib import Path

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


# Coupon lines before the cutoff (2024-02-01): member 1 two of them in one of three baskets
# (one signed negative, as some exports do), a zero, a missing; member 2 only after the
# cutoff; member 3 none; member 4 in the members file without purchases.
COUPON_TX = (
    "member_id,timestamp,item_id,quantity,amount,basket_id,coupon_discount\n"
    "1,2023-10-01T10:00:00,A,1,3.5,b0,0\n"
    "1,2024-01-02T10:00:00,A,1,3.5,b1,0.5\n"
    "1,2024-01-02T10:00:00,C,1,1.0,b1,-0.25\n"
    "1,2024-01-09T10:00:00,B,2,4.0,b2,\n"
    "2,2024-01-03T11:00:00,C,1,2.0,b3,0\n"
    "2,2024-02-03T11:00:00,A,1,9.0,b4,1.0\n"
    "3,2024-01-05T09:30:00,B,1,2.5,b5,\n"
)
COUPON_MEMBERS = "member_id,joined_at\n1,2023-01-01\n2,2023-01-01\n3,2023-06-01\n4,2023-02-01\n"


def test_coupon_features_on_the_engine_equal_pandas_from_every_input(make_data_dir, tmp_path):
    """The coupon-use columns (and every other) agree on DuckDB whether the lines come from
    the data directory, a loaded dataset or canonical Parquet; without the optional
    ``coupon_discount`` neither engine has them."""
    from features.relational import load_relational

    as_of = "2024-02-01"
    ds = load_dataset(make_data_dir(transactions=COUPON_TX, **{"members.csv": COUPON_MEMBERS}),
                      now="2025-01-01")
    want = build_member_features(ds, as_of)
    cols = list(want.columns)
    assert cols[cols.index("coupon_share") + 1:][:3] == list(COUPON_FEATURES)
    np.testing.assert_allclose(want[list(COUPON_FEATURES)].to_numpy(), [
        [2.0, 1 / 3, 29 + 14 / 24], [0.0, 0.0, np.nan], [0.0, 0.0, np.nan],
        [0.0, np.nan, np.nan]], equal_nan=True)
    relational = load_relational(connect(), make_data_dir(
        name="again", transactions=COUPON_TX, **{"members.csv": COUPON_MEMBERS}), now="2025-01-01")
    assert_same_frame(member_features(relational.transactions, relational, as_of), want)
    assert_same_frame(member_features(tables_from_dataset(connect(), ds)["transactions"], ds,
                                      as_of), want)
    tx = ds.transactions.assign(member_id=ds.transactions["member_id"].astype("str"),
                                item_id=ds.transactions["item_id"].astype("str"))
    tx.to_parquet(tmp_path / "tx.parquet")
    parquet = tables_from_parquet(connect(), tmp_path / "tx.parquet")["transactions"]
    assert_same_frame(member_features(parquet, ds, as_of), want)

    plain = load_dataset(make_data_dir(name="plain"), now="2025-01-01")
    got = member_features(tables_from_dataset(connect(), plain)["transactions"], plain, as_of)
    assert not set(COUPON_FEATURES) & set(got.columns)
    assert_same_frame(got, build_member_features(plain, as_of))


def test_aggregates_in_slices_equal_pandas(synth, monkeypatch):
    """Above LINES_PER_PART lines, the distinct items (per slice of members) and, with more
    (item, price) pairs than MAX_PRICE_ROWS, the item aggregates (per slice of items above
    MEDIAN_LINES lines) are computed slice by slice: the same answers."""
    import features.relational.items as items
    import features.relational.pairs as pairs
    import features.relational.portable as portable

    ds, as_of = synth
    monkeypatch.setattr(pairs, "LINES_PER_PART", len(ds.transactions) // 5)
    monkeypatch.setattr(items, "MEDIAN_LINES", len(ds.transactions) // 5)
    monkeypatch.setattr(items, "MAX_PRICE_ROWS", 10)
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


def test_spend_mix_in_blocks_of_members_equals_pandas(synth, monkeypatch):
    """The spend mix comes from the engine MIX_BLOCK members at a time (one wide row per
    member): blocks that split the members give the pandas features, top labels included."""
    import features.relational.purchases as purchases

    ds, as_of = synth
    want = build_member_features(ds, as_of)
    assert want["top_department"].nunique() > 1 and want["top_category"].nunique() > 1
    fetched = []
    to_frame = purchases.to_frame
    monkeypatch.setattr(purchases, "MIX_BLOCK", len(want) // 4 + 1)
    monkeypatch.setattr(purchases, "to_frame", lambda e: fetched.append(1) or to_frame(e))
    lines = tables_from_dataset(connect(), ds)["transactions"]
    assert_same_frame(member_features(lines, ds, as_of), want)
    assert len(fetched) >= 8  # the sums and the top category of each of >= 4 blocks


def test_member_features_without_spend_mix_and_other_options(synth):
    ds, as_of = synth
    lines = tables_from_dataset(connect(), ds)["transactions"]
    want = build_member_features(ds, as_of, n_categories=3, trend_days=20, spend_mix=False)
    got = member_features(lines, ds, as_of, n_categories=3, trend_days=20, spend_mix=False)
    assert_same_frame(got, want)


def test_item_prices_from_one_grouping_by_price_equal_pandas(synth, monkeypatch):
    """Few distinct prices: one grouping by (item, price) and its weighted median, not the
    engine's median per slice of items."""
    import features.relational.items as items

    def engine_median(*_):
        raise AssertionError("the engine's median should not run")

    monkeypatch.setattr(items, "_item_aggregates", engine_median)
    ds, as_of = synth
    lines = tables_from_dataset(connect(), ds)["transactions"]
    assert_same_frame(item_features(lines, ds.items, as_of),
                      build_item_features(ds.transactions, ds.items, as_of))


def test_weighted_median_is_the_median_of_the_repeated_values():
    from features.relational.items import weighted_median

    rng = np.random.default_rng(0)
    for _ in range(300):
        n, groups = int(rng.integers(1, 40)), int(rng.integers(1, 6))
        codes = rng.integers(0, groups, n)
        values = rng.choice([0.0, 0.5, 1.0, 2.25, 3.0, 7.0], n)
        weights = rng.integers(1, 5, n)
        got = weighted_median(codes, groups, values, weights)
        for g in range(groups):
            repeated = np.repeat(values[codes == g], weights[codes == g])
            if len(repeated):
                assert got[g] == np.median(repeated)
            else:
                assert np.isnan(got[g])


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
    want = build_member_features(ds, as_of)
    assert set(COUPON_FEATURES) <= set(want.columns)  # the import has coupon_discount
    assert (want["coupon_lines"] > 0).any() and want["days_since_coupon"].notna().any()
    assert_same_frame(member_features(lines, ds, as_of), want)
    assert_same_frame(
        item_features(lines, ds.items, as_of), build_item_features(ds.transactions, ds.items, as_of)
    )


def test_the_connection_hands_freed_memory_back_to_the_system():
    # Without background threads DuckDB's jemalloc keeps what a query freed, and a
    # training run carries it into every pandas step after (bench/RESULTS.md, issue 11).
    con = connect(memory_limit="500MB")
    setting = con.raw_sql("SELECT current_setting('allocator_background_threads')").fetchone()
    assert setting[0] is True


def test_each_connection_spills_to_its_own_directory_removed_with_it():
    """DuckDB's default spill directory, ``.tmp`` in the working directory, was shared
    by every run started there: a 1M and a 3M training from one directory broke each
    other (one closing removed the files the other was spilling to)."""
    import gc

    def spill_dir(con) -> Path:
        return Path(con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0])

    first, second = connect(memory_limit="64MB"), connect(memory_limit="64MB")
    one, two = spill_dir(first), spill_dir(second)
    assert one != two and one.is_dir() and two.is_dir()
    assert one.is_absolute() and one.name.startswith("offers-duckdb-")
    first.disconnect()
    del first
    gc.collect()
    assert not one.exists() and two.is_dir()

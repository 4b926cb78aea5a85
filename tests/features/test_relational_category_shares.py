"""``category_shares`` on DuckDB: the member features' ``cat_share__*`` columns alone (the
uplift scoring's full category mix), summed wide on the engine; pandas is the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import ConfigError
from features.loading import load_dataset
from features.member_features import build_member_features
from features.relational import connect, tables_from_dataset
from features.relational.purchases import category_share_blocks, category_shares


@pytest.fixture(scope="module")
def synth(synth_data):
    ds = load_dataset(synth_data, now="2100-01-01")
    lines = tables_from_dataset(connect(), ds)["transactions"]
    return ds, lines, ds.last_timestamp - pd.Timedelta(days=30)


@pytest.mark.parametrize("n_categories", [0, 5, 1000])
def test_category_shares_equal_the_pandas_member_features(synth, n_categories):
    ds, lines, as_of = synth
    want = build_member_features(ds, as_of, n_categories=n_categories).filter(like="cat_share__")
    ids = pd.Index([*want.index.astype(str)[::-1], "never-bought"])
    got = category_shares(lines, ds.items, as_of, ids, n_categories)
    want = want.set_axis(want.index.astype(str)).reindex(ids)
    assert list(got.columns) == list(want.columns) and list(got.index) == list(ids)
    assert got.shape[1] == min(n_categories, ds.items["category"].nunique()) + 1
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True)
    assert got.iloc[-1].isna().all() and got.notna().all(axis=1).sum() > 100
    bought = got.notna().all(axis=1)
    np.testing.assert_allclose(got[bought].sum(axis=1), 1.0)


def test_category_shares_refuse_a_bad_number_of_categories(synth):
    ds, lines, as_of = synth
    with pytest.raises(ConfigError, match="n_categories=-1 should be an integer >= 0"):
        category_shares(lines, ds.items, as_of, pd.Index(["1"]), -1)


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_category_share_blocks_equal_the_whole_frame(synth, chunk):
    ds, lines, as_of = synth
    want = build_member_features(ds, as_of, n_categories=5).filter(like="cat_share__")
    # A subset, out of order, with a member who never bought: the top categories still come
    # from every member's spend, and each block keeps the order it was given.
    ids = pd.Index([*want.index.astype(str)[::-3][:40], "never-bought"])
    blocks = list(category_share_blocks(lines, ds.items, as_of, ids, 5, chunk=chunk))
    assert [len(b) for b in blocks][:-1] == [chunk] * (len(blocks) - 1)
    got = pd.concat(blocks)
    assert list(got.index) == list(ids) and list(got.columns) == list(want.columns)
    want = want.set_axis(want.index.astype(str)).reindex(ids)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True)
    assert got.iloc[-1].isna().all()


def test_category_share_blocks_refuse_a_bad_chunk(synth):
    ds, lines, as_of = synth
    with pytest.raises(ConfigError, match="chunk=0 should be an integer >= 1"):
        next(category_share_blocks(lines, ds.items, as_of, pd.Index(["1"]), 5, chunk=0))


def _user_views(con) -> set[str]:
    return {v for (v,) in con.raw_sql(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def test_the_share_pairs_live_in_a_file_while_the_blocks_are_read(synth, tmp_path):
    """The (member, department, category) spend is staged as Parquet in DuckDB's temp
    directory, not held in its buffers beside the blocks, and removed when the blocks end
    (also when the reader stops early)."""
    import ibis

    ds, lines, as_of = synth
    con = ibis.get_backend(lines)
    before = con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
    con.raw_sql(f"SET temp_directory = '{tmp_path}'")
    views = _user_views(con)
    try:
        ids = pd.Index(ds.members["member_id"].astype(str))
        blocks = category_share_blocks(lines, ds.items, as_of, ids, 5, chunk=50)
        next(blocks)
        staged = list(tmp_path.glob("offers-*share_pairs*/part.parquet"))
        assert len(staged) == 1 and staged[0].stat().st_size > 0
        (name,) = _user_views(con) - views  # a view of the file, not a table
        tables = con.raw_sql("SELECT table_name FROM duckdb_tables()").fetchall()
        assert "share_pairs" in name and (name,) not in tables
        blocks.close()
        assert not list(tmp_path.glob("offers-*share_pairs*"))
        assert _user_views(con) == views
    finally:
        con.raw_sql(f"SET temp_directory = '{before}'")


def test_staged_spend_pairs_serve_both_readers_and_stay_for_their_owner(synth, monkeypatch):
    """Spend pairs staged by a caller (the features step, for the uplift scoring too) are
    summed by the member features' spend mix and by the share blocks without grouping the
    lines again, give the same shares, and stay staged until the caller releases them;
    pairs of another cutoff are not used."""
    import ibis

    from features.relational import member_features, purchases

    ds, lines, as_of = synth
    con = ibis.get_backend(lines)
    ids = pd.Index(ds.members["member_id"].astype(str))
    want_blocks = pd.concat(category_share_blocks(lines, ds.items, as_of, ids, 5, chunk=64))
    want_features = member_features(lines, ds, as_of, n_categories=5)
    views = _user_views(con)
    stage_pairs = purchases.spend_pairs
    spend = stage_pairs(lines, ds.items, as_of)
    staged = []
    monkeypatch.setattr(purchases, "spend_pairs",
                        lambda *a, **k: staged.append(a) or stage_pairs(*a, **k))
    try:
        got_blocks = pd.concat(category_share_blocks(lines, ds.items, as_of, ids, 5, chunk=64,
                                                     spend=spend))
        got_features = member_features(lines, ds, as_of, n_categories=5, spend=spend)
        assert staged == []  # the lines were not grouped again
        pd.testing.assert_frame_equal(got_blocks, want_blocks)
        pd.testing.assert_frame_equal(got_features, want_features)
        assert spend.table.get_name() in _user_views(con)  # still there for its owner
        # Pairs of another cutoff are not summed: these blocks group the lines themselves.
        earlier = as_of - pd.Timedelta(days=60)
        list(category_share_blocks(lines, ds.items, earlier, ids[:5], 5, spend=spend))
        assert len(staged) == 1
    finally:
        spend.release()
    assert _user_views(con) == views


def test_the_share_pairs_stage_where_duckdb_has_not_spilled_yet(synth, tmp_path):
    """DuckDB makes its temp_directory (default ".tmp") only when it first spills: a
    missing one is no error, the system's temporary directory holds the file then."""
    import ibis

    ds, lines, as_of = synth
    con = ibis.get_backend(lines)
    before = con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
    con.raw_sql(f"SET temp_directory = '{tmp_path / 'not-yet'}'")
    try:
        ids = pd.Index(ds.members["member_id"].astype(str))[:30]
        got = pd.concat(category_share_blocks(lines, ds.items, as_of, ids, 5, chunk=10))
        assert list(got.index) == list(ids) and not (tmp_path / "not-yet").exists()
    finally:
        con.raw_sql(f"SET temp_directory = '{before}'")

"""The recommenders' interactions built on DuckDB equal the pandas ones (issue 11).

The pandas :func:`build_interactions` (one entry per line) is the oracle: the
engine's :class:`PairInteractions` has the same ids, counts and first-purchase
ages exactly, and decayed counts equal to float32 rounding (the engine sums in
float64), so every recommender fitted on either scores alike.
"""

from __future__ import annotations

import gc

import ibis
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from features.errors import DataError
from features.loading import load_dataset
from features.relational import connect, tables_from_dataset
from features.relational.portable import register_frame
from models.recommenders import (
    BlendRecommender,
    EngineLines,
    PairInteractions,
    build_interactions,
    category_interactions,
    item_categories,
    make_recommender,
)
from models.recommenders.category import without_categories
from models.recommenders.metrics import MODES, holdout_truth
from models.recommenders.tuning import fit_tuned, tune_recommenders

HALF_LIVES = (7.0, 30.0, 90.5)

#: One candidate each, small ALS: the tuning path, not the search, is what is compared.
GRID = {
    "popularity": [{"half_life_days": 14.0}, {"half_life_days": 30.0}],
    "buy_again": [{"half_life_days": 30.0}, {"half_life_days": None}],
    "als_common": {"factors": 8, "iterations": 3, "min_item_buyers": 2, "random_state": 0},
    "als": [{"weighting": "log1p", "alpha": 1.0, "regularization": 0.1}],
    "blend_als": [0.0, 0.2],
    "blend_popularity": [0.05],
    "first_purchase_popularity": [{"half_life_days": 30.0}],
    "new_als": [0.5],
    "new_popularity": [0.1],
    "new_first_purchase": [1.0],
    "new_category_popularity": [0.25],
}


@pytest.fixture(scope="module")
def synth(synth_data):
    ds = load_dataset(synth_data, now="2100-01-01")
    lines = tables_from_dataset(connect(), ds)["transactions"]
    as_of = ds.last_timestamp.normalize() - pd.Timedelta(days=20)
    return ds, EngineLines(lines), as_of


@pytest.fixture(scope="module")
def both(synth):
    ds, lines, as_of = synth
    return build_interactions(ds.transactions, as_of), lines.interactions(as_of)


def assert_same_csr(got, want, rtol=0.0):
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    assert got.has_canonical_format and want.has_canonical_format
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.data, want.data, rtol=rtol, atol=0)


def test_pairs_have_the_ids_counts_and_first_purchases_of_the_lines(both):
    want, got = both
    assert isinstance(got, PairInteractions) and got.n_pairs < want.n_lines
    np.testing.assert_array_equal(got.member_ids, want.member_ids)
    np.testing.assert_array_equal(got.item_ids, want.item_ids)
    assert (got.n_lines, got.as_of) == (want.n_lines, want.as_of)
    assert_same_csr(got.matrix, want.matrix)
    assert_same_csr(got.purchased(), want.purchased())
    assert_same_csr(got.decayed_counts(None), want.decayed_counts(None))
    for g, w in zip(got.first_purchase_ages(), want.first_purchase_ages()):
        np.testing.assert_array_equal(g, w)
    # pandas rounds each age to float32 (relative 6e-8) before 0.5 ** (age / h): a line
    # 50 half-lives old weighs 2e-15 there, within 50 * ln 2 * 6e-8 ~ 2e-6 of the engine's
    for h in HALF_LIVES:
        assert_same_csr(got.decayed_counts(h), want.decayed_counts(h), rtol=5e-6)
    # each call is a copy: a caller that scales it leaves the cached one alone
    got.decayed_counts(30.0).data[:] = 0
    assert_same_csr(got.decayed_counts(30.0), want.decayed_counts(30.0), rtol=5e-6)
    assert_same_csr(got.weighted("bm25", 30.0), want.weighted("bm25", 30.0), rtol=1e-5)


def test_pairs_queried_per_range_of_members_equal_one_query(synth, both, monkeypatch):
    """Above LINES_PER_PAIRS_QUERY lines the pairs come in member-row ranges: same arrays."""
    from models.recommenders import engine_interactions

    _, lines, as_of = synth
    _, whole = both
    queries = []
    batches = engine_interactions._batches
    monkeypatch.setattr(engine_interactions, "_batches",
                        lambda expr: queries.append(expr) or batches(expr))
    monkeypatch.setattr(engine_interactions, "LINES_PER_PAIRS_QUERY", whole.n_lines // 4)
    ranged = lines.interactions(as_of, half_lives=(30.0,))
    assert len(queries) in (4, 5)  # ~n_lines / (n_lines // 4) ranges, one query each
    assert ranged.n_pairs == whole.n_pairs and ranged.n_lines == whole.n_lines
    assert_same_csr(ranged.matrix, whole.matrix)
    for g, w in zip(ranged.first_purchase_ages(), whole.first_purchase_ages()):
        np.testing.assert_array_equal(g, w)
    for h in (30.0, 90.5):  # prefetched with the pairs, and asked for afterwards
        assert_same_csr(ranged.decayed_counts(h), whole.decayed_counts(h))
    assert len(queries) in (8, 10)
    assert engine_interactions.row_ranges(7, 100, 10) == [(i, i + 1) for i in range(7)]


def test_roll_up_to_categories_equals_the_lines_rolled_up(synth, both):
    ds, _, _ = synth
    want, got = (category_interactions(im, ds.items) for im in both)
    assert isinstance(got, PairInteractions) and 1 < got.n_items < both[0].n_items
    np.testing.assert_array_equal(got.item_ids, want.item_ids)
    assert_same_csr(got.matrix, want.matrix)
    assert_same_csr(got.decayed_counts(14.0), want.decayed_counts(14.0), rtol=1e-5)
    for g, w in zip(got.first_purchase_ages(), want.first_purchase_ages()):
        np.testing.assert_array_equal(g, w)
    with pytest.raises(DataError, match="item_groups has 2 entries"):
        both[1].roll_up(["a", "b"])


def _fitted(interactions, items):
    with threadpool_limits(1, "blas"):
        models = {
            "popularity": make_recommender("popularity", half_life_days=30.0),
            "buy_again": make_recommender("buy_again", half_life_days=90.0),
            "als": make_recommender("als", factors=8, iterations=3, min_item_buyers=2,
                                    random_state=0, num_threads=1),
            "first_purchase_popularity": make_recommender("first_purchase_popularity",
                                                          half_life_days=30.0),
        }
        models = {name: model.fit(interactions) for name, model in models.items()}
    models["category_popularity"] = make_recommender("category_popularity").fit(
        interactions, item_categories(interactions, items))
    models["blend"] = BlendRecommender.from_fitted(
        models, {"buy_again": 1.0, "als": 0.2, "popularity": 0.05},
        new_weights={"als": 0.5, "popularity": 0.1, "first_purchase_popularity": 1.0,
                     "category_popularity": 0.25})
    return models


def test_every_recommender_scores_alike_on_either_form(synth, both):
    items = synth[0].items
    want_models, got_models = _fitted(both[0], items), _fitted(both[1], items)
    rows = np.arange(both[0].n_members)
    for name, want in want_models.items():
        got = got_models[name]
        for exclude in (False, True):
            g = got.score(rows, exclude_purchased=exclude)
            w = want.score(rows, exclude_purchased=exclude)
            np.testing.assert_array_equal(np.isfinite(g), np.isfinite(w), err_msg=name)
            finite = np.isfinite(w)
            np.testing.assert_allclose(g[finite], w[finite], rtol=1e-5, atol=1e-6,
                                       err_msg=name)
            g_top = got.recommend(rows, k=10, exclude_purchased=exclude)[0]
            w_top = want.recommend(rows, k=10, exclude_purchased=exclude)[0]
            assert (g_top == w_top).all(axis=1).mean() >= 0.99, name


def test_holdout_truths_and_excluded_categories_equal_the_frames(synth, both):
    ds, lines, as_of = synth
    want_im, got_im = both
    end = as_of + pd.Timedelta(days=14)
    for mode in MODES:
        want = holdout_truth(ds.transactions, want_im, as_of, end, mode=mode)
        got = holdout_truth(lines, got_im, as_of, end, mode=mode)
        np.testing.assert_array_equal(got.member_ids, want.member_ids)
        np.testing.assert_array_equal(got.member_rows, want.member_rows)
        np.testing.assert_array_equal(got.n_relevant, want.n_relevant)
        assert (got.items != want.items).nnz == 0 and got.items.nnz > 0
    with pytest.raises(DataError, match="no transaction in the holdout window"):
        holdout_truth(lines, got_im, "2000-01-01", "2000-02-01")
    category = ds.items["category"].astype(str).value_counts().index[0]
    kept_tx, n_tx = without_categories(ds.transactions, ds.items, [category.upper()])
    kept, n = without_categories(lines, ds.items, [category])
    assert n == n_tx > 0 and isinstance(kept, EngineLines)
    want, got = build_interactions(kept_tx, as_of), kept.interactions(as_of)
    np.testing.assert_array_equal(got.item_ids, want.item_ids)
    assert_same_csr(got.matrix, want.matrix)


def test_the_stand_in_popularity_recommender_on_the_engine(synth):
    from training.applicability import popularity_only

    ds, lines, as_of = synth
    params = {"popularity": {"half_life_days": 30.0}, "buy_again": {"half_life_days": 90.0},
              "als": {"factors": 4, "iterations": 1, "random_state": 0, "num_threads": 1}}
    with threadpool_limits(1, "blas"):
        want = popularity_only(ds.transactions, ds.items, as_of, params, 3)
        got = popularity_only(lines, ds.items, as_of, params, 3)
    np.testing.assert_array_equal(got["item_category"], want["item_category"])
    assert [list(t) for t in got["top_categories"]] == [list(t) for t in want["top_categories"]]


def test_interactions_errors_and_the_default_cutoff(synth):
    ds, lines, _ = synth
    with pytest.raises(DataError, match="no transaction is before as_of=2000-01-01"):
        lines.interactions("2000-01-01")
    with pytest.raises(DataError, match=r"lack column\(s\) \['ts_us'\]"):
        EngineLines(lines.table.drop("ts_us"))
    con = ibis.get_backend(lines.table).con  # DuckDB's own connection

    def tables():
        return {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

    before = tables()
    want, got = build_interactions(ds.transactions), lines.interactions(None)
    assert got.as_of == want.as_of and got.n_lines == want.n_lines == len(ds.transactions)
    made = tables() - before
    assert len([name for name in made if "rec_coded_lines" in name]) == 1
    del got  # the coded lines the decayed counts are summed from, and the id lists
    gc.collect()
    assert not made & tables()  # ... are dropped with the interactions


@pytest.mark.parametrize("max_members", [None, 150])
def test_tuning_and_final_fit_on_the_engine_equal_pandas(synth, max_members):
    ds, lines, as_of = synth
    kwargs = dict(holdout_days=21, k=10, grid=GRID, num_threads=1, max_members=max_members,
                  random_state=4, items=ds.items)
    with threadpool_limits(1, "blas"):
        want = tune_recommenders(ds.transactions, as_of, **kwargs)
        got = tune_recommenders(lines, as_of, **kwargs)
        want_fit = fit_tuned(ds.transactions, as_of, want.params, warm_start=want.models["als"],
                             items=ds.items)
        got_fit = fit_tuned(lines, as_of, got.params, warm_start=got.models["als"],
                            items=ds.items)
    assert got.params == want.params
    assert got.split["members"] == want.split["members"]
    assert got.split["sampled"] == want.split["sampled"] == (max_members is not None)
    if max_members:  # the same members: the sample draws from the sorted ids
        np.testing.assert_array_equal(got.models["blend"].member_ids_,
                                      want.models["blend"].member_ids_)
    pd.testing.assert_frame_equal(got.table, want.table, rtol=1e-6)
    pd.testing.assert_frame_equal(got.trials, want.trials, rtol=1e-6)
    assert isinstance(got_fit["interactions"], PairInteractions)
    rows = np.arange(want_fit["blend"].n_members)
    for exclude in (False, True):
        g_top = got_fit["blend"].recommend(rows, k=10, exclude_purchased=exclude)[0]
        w_top = want_fit["blend"].recommend(rows, k=10, exclude_purchased=exclude)[0]
        assert (g_top == w_top).all(axis=1).mean() >= 0.99


def test_pair_columns_fill_arrays_of_their_own_shrunk_to_the_pairs():
    """The pairs are copied out of the streamed batches into arrays allocated for the
    number of lines and shrunk in place: no view keeps a batch alive, no column is held
    twice, and the arrays are exactly as long as the pairs."""
    import pyarrow as pa

    from models.recommenders.engine_interactions import _pair_columns

    batches = [pa.record_batch(
        [pa.array(rows, pa.int32()), pa.array(cols, pa.int32()), pa.array([2] * len(rows)),
         pa.array([0] * len(rows)), pa.array([0.5] * len(rows), pa.float64())],
        names=["row", "col", "n", "first_us", "w0"])
        for rows, cols in (([0, 0, 1], [2, 5, 1]), ([3], [0]))]
    indptr, *columns = _pair_columns(iter(batches), 86_400 * 10**6, 1, 4, capacity=1000)
    assert indptr.tolist() == [0, 2, 3, 3, 4]
    assert [c.tolist() for c in columns] == [[2, 5, 1, 0], [2.0] * 4, [1.0] * 4, [0.5] * 4]
    for array in columns:
        assert array.base is None and array.flags.owndata and len(array) == 4
    with pytest.raises(DataError, match="more than 3 pairs"):
        _pair_columns(iter(batches), 0, 1, 4, capacity=3)


def _coded_tables(lines) -> list[str]:
    con = ibis.get_backend(lines.table).con  # DuckDB's own connection
    names = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    return [name for (name,) in names if "rec_coded_lines" in name]


def test_release_engine_drops_the_coded_lines_and_a_later_ask_rebuilds_them(synth, both):
    """fit_tuned releases the engine's coded lines once the pairs are in; a decayed count
    asked for afterwards (not prefetched) rebuilds them and is the same."""
    _, lines, as_of = synth
    _, whole = both
    before = set(_coded_tables(lines))
    got = lines.interactions(as_of, half_lives=(30.0,))
    made = set(_coded_tables(lines)) - before
    assert len(made) == 1
    got.release_engine()
    assert not made & set(_coded_tables(lines))
    assert_same_csr(got.decayed_counts(30.0), whole.decayed_counts(30.0))  # prefetched
    assert_same_csr(got.decayed_counts(7.0), whole.decayed_counts(7.0))  # rebuilt
    rebuilt = set(_coded_tables(lines)) - before - made
    assert len(rebuilt) == 1
    del got
    gc.collect()
    assert not rebuilt & set(_coded_tables(lines))  # the rebuilt ones go with the pairs


def test_pairs_out_of_order_from_the_engine_are_refused():
    import pyarrow as pa

    from models.recommenders.engine_interactions import _pair_columns

    def batch(rows, cols):
        n = len(rows)
        return pa.record_batch([pa.array(rows, pa.int32()), pa.array(cols, pa.int32()),
                                pa.array([1] * n, pa.int64()), pa.array([0] * n, pa.int64())],
                               names=["row", "col", "n", "first_us"])

    indptr, cols, counts, oldest = _pair_columns(
        iter([batch([0, 0, 2], [1, 3, 0]), batch([2, 3], [4, 0])]), 0, 0, 4, 10)
    assert indptr.tolist() == [0, 2, 2, 4, 5] and cols.tolist() == [1, 3, 0, 4, 0]
    assert counts.dtype == np.float32 and counts.tolist() == [1.0] * 5
    for bad in ([batch([0, 1], [0, 0]), batch([1], [0])],  # a pair twice, across batches
                [batch([1, 0], [0, 0])]):  # rows out of order
        with pytest.raises(DataError, match="out of \\(row, col\\) order"):
            _pair_columns(iter(bad), 0, 0, 4, 10)


def test_one_grouping_gives_every_id_and_the_ids_before_each_cutoff(monkeypatch):
    """The tuning's member sample (every member) and the final fit (ids before its cutoff) read
    one grouping of the lines: a member and an item first seen after the cutoff are in the
    first, not in the interactions; the answers equal the pandas oracle's and the query runs
    once per set of lines."""
    import models.recommenders.engine_interactions as engine

    day = 86_400_000_000
    frame = pd.DataFrame({"member_id": ["a", "b", "a", "late", "b"],
                          "item_id": ["x", "y", "y", "x", "new"],
                          "ts_us": [0, day, 2 * day, 5 * day, 6 * day]})
    lines = EngineLines(register_frame(connect(), "first_seen_lines", frame))
    calls = []
    grouped = engine._first_lines
    monkeypatch.setattr(engine, "_first_lines", lambda t: calls.append(1) or grouped(t))
    np.testing.assert_array_equal(lines.member_ids(), ["a", "b", "late"])
    cut = pd.Timestamp(4 * day, unit="us")
    im = lines.interactions(cut)
    oracle = engine.build_engine_interactions(lines.table, cut)  # its own distinct query
    np.testing.assert_array_equal(im.member_ids, ["a", "b"])
    np.testing.assert_array_equal(im.item_ids, ["x", "y"])
    np.testing.assert_array_equal(im.member_ids, oracle.member_ids)
    np.testing.assert_array_equal(im.item_ids, oracle.item_ids)
    assert_same_csr(im.matrix, oracle.matrix)
    whole = lines.interactions(pd.Timestamp(7 * day, unit="us"))
    np.testing.assert_array_equal(whole.item_ids, ["new", "x", "y"])
    assert calls == [1]

"""The recommenders hold one copy of the purchases, not one per component (issue 11).

At 1M members the recommendations step held several copies of the ~40M bought
(member, item) pairs: one purchase matrix per fitted component, a full CSR per
decayed-count half-life, an extra confidence matrix in ALS. These tests fail
if the copies come back; they time nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from features.relational import connect
from features.relational.portable import register_frame
from models.recommenders import (
    ALSRecommender,
    BlendRecommender,
    EngineLines,
    PairInteractions,
    build_interactions,
)
from models.recommenders import engine_interactions as engine_module


def _lines(n_members: int = 60, n_items: int = 25, n_lines: int = 1500, seed: int = 0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "member_id": [f"m{i:03d}" for i in rng.integers(0, n_members, n_lines)],
        "item_id": [f"i{i:02d}" for i in rng.integers(0, n_items, n_lines)],
        "timestamp": pd.Timestamp("2024-01-01")
        + pd.to_timedelta(rng.integers(0, 200 * 86_400, n_lines), unit="s"),
    })


AS_OF = pd.Timestamp("2024-07-01")
BLEND = {"weights": {"buy_again": 1.0, "als": 0.2, "popularity": 0.05},
         "als": {"factors": 4, "iterations": 2, "num_threads": 1},
         "popularity": {"half_life_days": 30.0}, "buy_again": {"half_life_days": 90.0},
         "new_weights": {"als": 0.5, "first_purchase_popularity": 1.0}}


@pytest.fixture(scope="module")
def engine_lines():
    frame = _lines()
    table = register_frame(connect(), "lines", pd.DataFrame({
        "member_id": frame["member_id"], "item_id": frame["item_id"],
        "ts_us": frame["timestamp"].astype("datetime64[us]").astype(np.int64)}))
    return frame, EngineLines(table)


@pytest.mark.parametrize("kind", ["pandas", "engine"])
def test_the_components_of_a_blend_share_one_read_only_purchase_matrix(kind, engine_lines):
    frame, lines = engine_lines
    im = build_interactions(frame, AS_OF) if kind == "pandas" else lines.interactions(AS_OF)
    with threadpool_limits(1):
        blend = BlendRecommender(**BLEND).fit(im)
    indptr, indices = im.purchased_arrays()
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert not indptr.flags.writeable and not indices.flags.writeable
    assert len(blend.components_) == 4
    for name, comp in [("blend", blend), *blend.components_.items()]:
        assert comp.purchased_indptr_ is indptr, name
        assert comp.purchased_indices_ is indices, name
    ba = blend.components_["buy_again"]  # its scores have the purchases' entries
    assert ba.scores_indices_ is indices and ba.scores_indptr_ is indptr
    assert ba.scores_data_.dtype == np.float32 and ba.scores_data_.flags.writeable
    # and they still are what each member bought
    bought = im.purchased()
    want = im.decayed_counts(None)
    np.testing.assert_array_equal(bought.indices, want.indices)
    np.testing.assert_array_equal(bought.indptr, want.indptr)
    assert bought.dtype == np.float32 and (bought.data == 1).all()


def test_engine_decayed_counts_are_values_beside_the_count_matrix_indices(engine_lines,
                                                                          monkeypatch):
    frame, lines = engine_lines
    im = lines.interactions(AS_OF)
    queries = []
    original = engine_module._batches
    monkeypatch.setattr(engine_module, "_batches",
                        lambda expr: queries.append(1) or original(expr))
    monkeypatch.setattr(engine_module, "_BATCH_ROWS", 100)  # several batches a query
    view = im.decayed_view(30.0)
    again = im.decayed_view(30.0)
    assert len(queries) == 1  # one engine query per half-life, then the cache
    counts = im.matrix
    for m in (view, again):  # no copy of the pairs: the count matrix's index arrays
        assert np.shares_memory(m.indices, counts.indices)
        assert np.shares_memory(m.indptr, counts.indptr)
        assert m.dtype == np.float32 and m.has_canonical_format
    cached = im._cache[30.0]
    assert isinstance(cached, np.ndarray) and cached.shape == (im.n_pairs,)
    assert cached.dtype == np.float32
    # a copy for whoever asks for decayed_counts: changing it leaves the cache alone
    copy = im.decayed_counts(30.0)
    copy.data[:] = -1.0
    assert (im.decayed_view(30.0).data > 0).all()
    # equal to the pandas oracle up to float32 rounding of the engine's float64 sums
    want = build_interactions(frame, AS_OF).decayed_counts(30.0)
    np.testing.assert_array_equal(view.indices, want.indices)
    np.testing.assert_array_equal(view.indptr, want.indptr)
    np.testing.assert_allclose(view.data, want.data, rtol=1e-6)


def test_pairs_given_unsorted_are_sorted_and_a_decayed_csr_of_the_same_pairs_kept_as_values():
    rows, cols = np.array([1, 0, 1, 0]), np.array([0, 2, 1, 0])
    shape = (2, 3)
    dense = np.array([[0.5, 0, 0.25], [1.0, 2.0, 0]], dtype=np.float32)
    im = PairInteractions(["a", "b"], ["x", "y", "z"], rows, cols, [1, 1, 2, 3],
                          [1.0, 2.0, 3.0, 4.0], lambda h: sp.csr_matrix(dense), AS_OF)
    assert im.pair_rows.tolist() == [0, 0, 1, 1] and im.pair_cols.tolist() == [0, 2, 0, 1]
    assert im.pair_counts.tolist() == [3, 1, 1, 2]
    assert im.oldest_age_days.tolist() == [4.0, 2.0, 1.0, 3.0]
    assert im.matrix.toarray().tolist() == [[3, 0, 1], [1, 2, 0]]
    np.testing.assert_array_equal(im.decayed_view(7.0).toarray(), dense)
    assert isinstance(im._cache[7.0], np.ndarray)
    assert np.shares_memory(im.decayed_view(7.0).indices, im.matrix.indices)
    assert im.shape == shape


def test_als_scales_its_own_confidence_copy_as_implicit_would(engine_lines):
    """alpha applied in place, not by implicit on one more copy: the same factors."""
    from implicit.cpu.als import AlternatingLeastSquares

    frame, _ = engine_lines
    im = build_interactions(frame, AS_OF)
    params = {"factors": 4, "iterations": 3, "regularization": 0.1, "random_state": 3}
    with threadpool_limits(1):
        model = ALSRecommender(alpha=2.5, weighting="log1p", min_item_buyers=1,
                               num_threads=1, **params).fit(im)
        oracle = AlternatingLeastSquares(alpha=2.5, num_threads=1, **params)
        oracle.fit(im.weighted("log1p"), show_progress=False)
    np.testing.assert_array_equal(model.user_factors_, oracle.user_factors)
    np.testing.assert_array_equal(model.item_factors_, oracle.item_factors)
    # the interactions' own matrices are untouched by the in-place scaling
    assert im.matrix.data.max() == np.bincount(
        im.rows.astype(np.int64) * im.n_items + im.cols).max()


def test_als_uses_its_threads_inside_a_one_thread_limit_with_the_same_factors(engine_lines,
                                                                              monkeypatch):
    """offers train limits every pool to one thread; implicit's OpenMP gets num_threads."""
    from models.recommenders import als as als_module

    frame, _ = engine_lines
    im = build_interactions(frame, AS_OF)
    limits = []
    original = als_module.threadpool_limits
    monkeypatch.setattr(als_module, "threadpool_limits",
                        lambda n, api=None: limits.append((api, n)) or original(n, api))
    params = {"factors": 4, "iterations": 3, "min_item_buyers": 1, "random_state": 1}
    with threadpool_limits(1):
        one = ALSRecommender(num_threads=1, **params).fit(im)
        two = ALSRecommender(num_threads=2, **params).fit(im)
    assert limits == [("openmp", 1), ("blas", 1), ("openmp", 2), ("blas", 1)]
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)


def test_half_lives_asked_for_up_front_come_with_the_pairs_in_one_query(engine_lines,
                                                                        monkeypatch):
    _, lines = engine_lines
    queries = []
    original = engine_module._batches
    monkeypatch.setattr(engine_module, "_batches",
                        lambda expr: queries.append(1) or original(expr))
    im = lines.interactions(AS_OF, half_lives=(90.0, None, 30.0, 90.0))
    assert len(queries) == 1  # the pairs, their counts and both decayed sums
    lazy = lines.interactions(AS_OF)
    for h in (30.0, 90.0):
        np.testing.assert_array_equal(im.decayed_view(h).data, lazy.decayed_view(h).data)
    assert len(queries) == 1 + 1 + 2  # the second interactions computed theirs when asked
    im.decayed_view(7.0)  # one not asked for: a query of its own
    assert len(queries) == 5

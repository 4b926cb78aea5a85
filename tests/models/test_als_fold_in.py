"""ALS swept over a member sample, every member then folded in (issue 11).

The fold-in is checked against two oracles: the closed-form least-squares
user solve written out in numpy, and one more user half-sweep of implicit's own
exact solver; the sample against its cap and its seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from features.errors import ConfigError
from models.recommenders import ALSRecommender, build_interactions
from models.recommenders.als_fold_in import fold_in_users, sample_rows

AS_OF = pd.Timestamp("2024-03-01")


@pytest.fixture(scope="module")
def groups():
    """600 members in two groups, each buying (1 to 3 times) among its own 30 of 60 items."""
    rng = np.random.default_rng(3)
    rows = []
    for m in range(600):
        own = 30 * (m % 2)
        for item in rng.choice(30, size=rng.integers(3, 12), replace=False):
            for _ in range(rng.integers(1, 4)):
                day = f"2024-02-{rng.integers(1, 28):02d}"
                rows.append((f"m{m:03d}", f"i{own + item:02d}", day))
    member, item, ts = zip(*rows)
    tx = pd.DataFrame({"member_id": pd.Categorical(member), "item_id": pd.Categorical(item),
                       "timestamp": pd.to_datetime(list(ts)), "quantity": 1.0, "amount": 1.0})
    return build_interactions(tx, AS_OF)


def closed_form(conf: sp.csr_matrix, Y: np.ndarray, reg: float) -> np.ndarray:
    """x_u = (YᵀY + Yᵀ(C_u - I)Y + λI)⁻¹ YᵀC_u p(u), member by member, in float64."""
    Y = Y.astype(np.float64)
    YtY = Y.T @ Y
    out = np.zeros((conf.shape[0], Y.shape[1]))
    for u in range(conf.shape[0]):
        cols = conf.indices[conf.indptr[u]:conf.indptr[u + 1]]
        c = conf.data[conf.indptr[u]:conf.indptr[u + 1]].astype(np.float64)
        A = YtY + (Y[cols].T * (c - 1)) @ Y[cols] + reg * np.eye(Y.shape[1])
        out[u] = np.linalg.solve(A, Y[cols].T @ c)
    return out


@pytest.mark.parametrize("factors", [6, 64])
def test_fold_in_is_the_least_squares_user_solve(factors):
    """At 64 factors the conjugate-gradient steps (fewer than the factors) must still land
    on the exact solve."""
    rng = np.random.default_rng(0)
    items = 25 if factors < 25 else 400
    conf = sp.random(40, items, density=0.2 if items == 25 else 0.1, format="csr",
                     random_state=1, dtype=np.float32)
    conf.data = 1 + 3 * conf.data
    conf.sort_indices()
    Y = (rng.random((items, factors), dtype=np.float32) - 0.5) / np.sqrt(factors)
    with threadpool_limits(1, "blas"):
        got = fold_in_users(conf, Y, regularization=0.5, num_threads=1)
        # alpha scales the confidences as the fit saw them
        scaled = fold_in_users(conf, Y, regularization=0.5, alpha=2.0, num_threads=1)
    assert got.dtype == np.float32 and got.shape == (40, factors)
    np.testing.assert_allclose(got, closed_form(conf, Y, 0.5), rtol=1e-3, atol=1e-5)
    doubled = conf.copy()
    doubled.data *= 2
    np.testing.assert_allclose(scaled, closed_form(doubled, Y, 0.5), rtol=1e-3, atol=1e-5)
    # the control: other item factors give other user factors
    assert not np.allclose(fold_in_users(conf, Y[::-1].copy(), 0.5, num_threads=1), got,
                           atol=1e-3)
    with pytest.raises(ConfigError, match="item columns"):
        fold_in_users(conf, Y[:10], 0.5)
    assert conf.data.min() >= 1  # the caller's confidences are not scaled in place


def test_fold_in_equals_one_more_implicit_user_half_sweep(groups, monkeypatch):
    from implicit.cpu import _als

    monkeypatch.setattr("models.recommenders.als_fold_in.FOLD_IN_ROWS", 64)  # several chunks
    with threadpool_limits(1, "blas"):
        model = ALSRecommender(factors=8, iterations=4, min_item_buyers=1, num_threads=1,
                               regularization=0.1, alpha=2.0).fit(groups)
        conf = groups.weighted("log1p", None)
        conf.sort_indices()
        got = fold_in_users(conf, model.item_factors_, 0.1, alpha=2.0, num_threads=1)
        users = np.zeros_like(got)
        scaled = conf.copy()
        scaled.data *= 2.0
        _als.least_squares(scaled, users, model.item_factors_.copy(), 0.1, num_threads=1)
    np.testing.assert_allclose(got, users, rtol=1e-4, atol=1e-6)


def test_sample_rows_honours_the_cap_and_the_seed():
    ids = np.array([f"m{i:05d}" for i in range(20_000)])
    rows = sample_rows(ids, 2_000, random_state=7)
    assert abs(len(rows) - 2_000) < 200 and np.all(np.diff(rows) > 0)  # ~4 standard deviations
    np.testing.assert_array_equal(rows, sample_rows(ids, 2_000, random_state=7))
    # the draw depends on the ids, not on their order
    shuffled = np.random.default_rng(0).permutation(ids)
    assert set(shuffled[sample_rows(shuffled, 2_000, random_state=7)]) == set(ids[rows])
    assert len(np.intersect1d(rows, sample_rows(ids, 2_000, random_state=8))) < 600
    assert sample_rows(ids, 20_000) is None and sample_rows(ids, None) is None
    with pytest.raises(ConfigError, match="als_members=0 should be a positive whole number"):
        sample_rows(ids, 0)


def test_als_on_a_sample_folds_in_every_member(groups):
    params = dict(factors=8, iterations=6, min_item_buyers=1, num_threads=1, random_state=4)
    with threadpool_limits(1, "blas"):
        full = ALSRecommender(**params).fit(groups)
        same = ALSRecommender(**params).fit(groups, fit_members=10_000)  # over the cap: no sample
        sampled = ALSRecommender(**params).fit(groups, fit_members=200)
        again = ALSRecommender(**params).fit(groups, fit_members=200)
        warm = ALSRecommender(**{**params, "iterations": 2}).fit(groups, init=full,
                                                                 fit_members=200)
    for name in ("user_factors_", "item_factors_", "item_columns_"):
        np.testing.assert_array_equal(getattr(same, name), getattr(full, name))
    assert full.fit_members_ == same.fit_members_ == 600
    assert 150 < sampled.fit_members_ < 250 and sampled.user_factors_.shape == (600, 8)
    np.testing.assert_array_equal(sampled.user_factors_, again.user_factors_)
    assert sampled.get_params() == full.get_params()  # how it was fitted is not a parameter
    # every member, sampled or not, holds the exact solve against the sample's item factors
    conf = groups.weighted("log1p", None)
    conf.sort_indices()
    np.testing.assert_allclose(
        sampled.user_factors_,
        closed_form(conf * np.float32(sampled.alpha), sampled.item_factors_,
                    sampled.regularization),
        rtol=1e-3, atol=1e-4)
    # the planted groups come out: members rank their own group's items first
    for model in (sampled, warm):
        items, _ = model.recommend(np.arange(600), k=5, exclude_purchased=True)
        own = (items >= 30) == (np.arange(600) % 2 == 1)[:, None]
        assert own.mean() > 0.95


def test_a_sample_fit_weighs_the_confidences_a_block_at_a_time(groups, monkeypatch):
    """With a sample, no confidence matrix of every member is made (the sample's rows for
    the sweeps, then the fold-in's blocks); the factors are those of a fold-in over the
    whole matrix, bit for bit."""
    from models.recommenders.interactions import RowWeighting

    monkeypatch.setattr("models.recommenders.als_fold_in.FOLD_IN_ROWS", 64)  # 10 blocks
    params = dict(factors=8, iterations=4, min_item_buyers=75, num_threads=1, random_state=2,
                  weighting="bm25", alpha=3.0)
    blocks, wholes = [], []
    real_rows, real_matrix = RowWeighting.rows, RowWeighting.matrix

    def rows(self, picked):
        out = real_rows(self, picked)
        blocks.append(out.shape[0])
        return out

    def matrix(self):
        wholes.append(self.shape[0])
        return real_matrix(self)

    monkeypatch.setattr(RowWeighting, "rows", rows)
    monkeypatch.setattr(RowWeighting, "matrix", matrix)
    with threadpool_limits(1, "blas"):
        model = ALSRecommender(**params).fit(groups, fit_members=200)
        assert wholes == [] and max(blocks) <= 250 and sum(blocks[1:]) == 600
        conf = groups.weighted("bm25", None)  # the whole matrix, for the oracle
        kept = model.item_columns_
        conf = conf[:, kept].tocsr()
        conf.sort_indices()
        want = fold_in_users(conf, model.item_factors_, model.regularization, alpha=3.0,
                             num_threads=1)
    assert 10 < len(kept) < 60  # some items dropped: the blocks' columns are sliced too
    np.testing.assert_array_equal(model.user_factors_, want)

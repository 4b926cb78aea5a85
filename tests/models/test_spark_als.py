"""``ALSRecommender(solver=...)``: the choice is checked, MLlib's factor rows land on their ids.

Fitting with Spark MLlib itself is tested end to end by
tests/training/test_engines_spark.py (one Spark session for the suite).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from threadpoolctl import threadpool_limits

from features.errors import ConfigError
from models.recommenders import ALSRecommender, build_interactions
from models.recommenders.spark_als import _dense


def test_an_unknown_solver_is_refused_with_the_choices():
    import pandas as pd

    tx = pd.DataFrame(
        {
            "member_id": ["a", "a", "b"],
            "item_id": ["x", "y", "x"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "quantity": 1.0,
            "amount": 1.0,
            "basket_id": [1, 2, 3],
        }
    )
    interactions = build_interactions(tx, "2024-02-01")
    with pytest.raises(ConfigError, match=r"solver='gpu' is not one of \('implicit', 'spark'\)"):
        ALSRecommender(solver="gpu").fit(interactions)


def test_mllib_factor_rows_are_placed_by_id_and_missing_ids_get_zeros():
    table = pa.table(
        {
            "id": pa.array([3, 0], pa.int32()),
            "features": pa.array([[3.0, 3.5], [0.0, 0.5]], pa.list_(pa.float32())),
        }
    )
    got = _dense(table, 5, 2)
    want = np.array([[0, 0.5], [0, 0], [0, 0], [3, 3.5], [0, 0]], dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    assert not _dense(table.slice(0, 0), 2, 2).any()


def _ratings(n_members: int, n_items: int, seed: int):
    """A random positive member x item matrix with 1-12 entries a member, some members none."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for r in range(n_members):
        if r % 17 == 5:
            continue  # a member without entries
        picked = rng.choice(n_items, size=int(rng.integers(1, 13)), replace=False)
        rows += [r] * len(picked)
        cols += picked.tolist()
    values = rng.gamma(2.0, 1.5, len(rows)).astype(np.float32)
    conf = sp.csr_matrix((values, (rows, cols)), shape=(n_members, n_items), dtype=np.float32)
    conf.sort_indices()
    return conf


def test_the_mllib_fold_in_gives_the_members_mllib_gave(spark_con):
    """MLlib's last half-sweep solves every member against the final item factors: the
    fold-in (confidence 1 + alpha r, lambda regParam x entries) recovers those factors."""
    from models.recommenders.als_fold_in import fold_in_mllib, fold_in_users
    from models.recommenders.spark_als import mllib_reg_param, spark_als_factors

    conf = _ratings(240, 30, seed=4)
    users, items = spark_als_factors(conf, factors=6, regularization=0.3, alpha=2.0,
                                     iterations=6, seed=1)
    with threadpool_limits(1, "blas"):  # as ALSRecommender.fit calls them
        got = fold_in_mllib(conf, items, mllib_reg_param(conf, 0.3), alpha=2.0)
        other = fold_in_users(conf, items, 0.3, alpha=2.0)
    empty = np.diff(conf.indptr) == 0
    assert empty.any() and not got[empty].any() and not users[empty].any()
    np.testing.assert_allclose(got, users, rtol=2e-3, atol=2e-4)
    # implicit's own system (confidence alpha r, one lambda) is another answer
    assert np.abs(other - users).max() > 50 * np.abs(got - users).max()


def test_mllib_sweeps_on_a_sample_then_every_member_folded_in(spark_con, monkeypatch):
    """fit_members on Spark: MLlib factorises the sample's rows only, every member is then
    solved against its item factors."""
    import pandas as pd

    import models.recommenders.spark_als as spark_als

    rng = np.random.default_rng(0)
    n = 3_000
    tx = pd.DataFrame({
        "member_id": [f"m{i % 300:03d}" for i in range(n)],
        "item_id": [f"i{j:02d}" for j in rng.integers(0, 25, n)],
        "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 50, n), "D"),
        "quantity": 1.0, "amount": 1.0, "basket_id": np.arange(n)})
    interactions = build_interactions(tx, "2024-03-01")
    fitted_rows = []
    real = spark_als.spark_als_factors

    def spy(conf, **kwargs):
        fitted_rows.append(conf.shape[0])
        return real(conf, **kwargs)

    monkeypatch.setattr(spark_als, "spark_als_factors", spy)
    model = ALSRecommender(factors=4, iterations=4, solver="spark", random_state=3,
                           weighting="log1p").fit(interactions, fit_members=100)
    assert fitted_rows == [model.fit_members_] and 60 < model.fit_members_ < 140
    assert model.user_factors_.shape == (300, 4)
    assert (np.abs(model.user_factors_).sum(axis=1) > 0).all()  # every member solved
    whole = ALSRecommender(factors=4, iterations=4, solver="spark", random_state=3,
                           weighting="log1p").fit(interactions)
    assert fitted_rows[-1] == 300 and whole.fit_members_ == 300

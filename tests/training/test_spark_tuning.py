"""The Spark run's tuning (:mod:`training.spark_tuning`): ALS candidates searched with
implicit, one MLlib fit of the choice, the interactions built once on the engine.

MLlib itself is replaced by a recorder here (its fits are covered by
tests/models/test_spark_als.py and the Spark train of test_engines_spark.py):
what is tested is which fits run and on what.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import models.recommenders.engine_interactions as engine_interactions
import models.recommenders.spark_als as spark_als
from features.loading import load_dataset
from features.relational import connect, tables_from_dataset
from models.recommenders.engine_interactions import EngineLines
from models.recommenders.tuning import tune_recommenders
from training.spark_tuning import tune_on_spark

GRID = {
    "popularity": [{"half_life_days": 14.0}, {"half_life_days": 30.0}],
    "buy_again": [{"half_life_days": 30.0}, {"half_life_days": None}],
    "als_common": {"factors": 8, "iterations": 3, "min_item_buyers": 2, "random_state": 0},
    "als": [{"weighting": "log1p", "alpha": 1.0, "regularization": 0.1, "solver": "spark"},
            {"weighting": "bm25", "alpha": 2.0, "regularization": 0.05, "solver": "spark"}],
    "blend_als": [0.0, 0.2],
    "blend_popularity": [0.05],
    "first_purchase_popularity": [{"half_life_days": 30.0}],
    "new_als": [0.5],
    "new_popularity": [0.1],
    "new_first_purchase": [1.0],
    "new_category_popularity": [0.0],
}
OPTIONS = dict(holdout_days=21, k=10, num_threads=1, random_state=4)


@pytest.fixture(scope="module")
def synth(synth_data):
    ds = load_dataset(synth_data, now="2100-01-01")
    lines = tables_from_dataset(connect(), ds)["transactions"]
    return EngineLines(lines), ds.last_timestamp.normalize() - pd.Timedelta(days=20)


@pytest.fixture
def recorded(monkeypatch):
    """The MLlib fits (their arguments) and the interaction builds on the engine."""
    calls = {"mllib": [], "builds": 0}

    def mllib(conf, *, factors, regularization, alpha, iterations, seed):
        calls["mllib"].append({"shape": conf.shape, "regularization": regularization,
                               "alpha": alpha})
        rng = np.random.default_rng(seed)
        return (rng.random((conf.shape[0], factors), dtype=np.float32),
                rng.random((conf.shape[1], factors), dtype=np.float32))

    build = engine_interactions.build_engine_interactions

    def counted(*args, **kwargs):
        calls["builds"] += 1
        return build(*args, **kwargs)

    monkeypatch.setattr(spark_als, "spark_als_factors", mllib)
    monkeypatch.setattr(engine_interactions, "build_engine_interactions", counted)
    return calls


def test_the_grid_is_searched_with_implicit_and_only_the_choice_fitted_by_mllib(synth,
                                                                               recorded):
    lines, as_of = synth
    with threadpool_limits(1, "blas"):
        got = tune_on_spark(lines, as_of, grid=GRID, **OPTIONS)
        assert recorded["builds"] == 1  # both passes read the interactions built once
        implicit = {**GRID, "als": [{**p, "solver": "implicit"} for p in GRID["als"]]}
        recorded["builds"] = 0
        want = tune_recommenders(lines, as_of, grid=implicit, **OPTIONS)
    assert recorded["builds"] == 1  # so the count of 1 above is not vacuous: one per pass
    chosen = want.params["als"]
    assert got.params["als"] == {**chosen, "solver": "spark"}
    assert got.params["popularity"] == want.params["popularity"]
    assert got.params["buy_again"] == want.params["buy_again"]
    (fit,) = recorded["mllib"]  # one MLlib fit, of the chosen candidate
    assert fit["alpha"] == chosen["alpha"] and fit["shape"][0] == got.split["members"]
    assert got.seconds > want.seconds * 0.5
    # the reported ALS metrics are the MLlib model's (random factors here), not implicit's
    als = got.table.set_index(["model", "mode"]).loc[("als", "all")]
    assert als["ndcg@10"] < want.table.set_index(["model", "mode"]).loc[("als", "all"),
                                                                         "ndcg@10"]


def test_one_candidate_is_one_mllib_pass(synth, recorded):
    lines, as_of = synth
    grid = {**GRID, "als": GRID["als"][:1]}
    with threadpool_limits(1, "blas"):
        got = tune_on_spark(lines, as_of, grid=grid, **OPTIONS)
    assert recorded["builds"] == 1 and len(recorded["mllib"]) == 1
    assert got.params["als"] == {**GRID["als_common"], "num_threads": 1, **GRID["als"][0]}

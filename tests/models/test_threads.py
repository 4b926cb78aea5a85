"""The tree models' OpenMP threads: every core for large work, the same answers as one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from features.errors import ConfigError
from models import threads
from models.lifecycle.churn import ChurnModel
from models.lifecycle.value import ValueModel
from models.threads import PARALLEL_ROWS, tree_threads
from models.uplift.learners import XLearnerUplift


def _openmp_threads() -> set[int]:
    found = {info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"}
    assert found, "scikit-learn's OpenMP runtime should be loaded"
    return found


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 2)


def test_auto_gives_every_core_to_large_work_only(two_cores):
    with threadpool_limits(1, "openmp"):  # as training runs
        with tree_threads("auto", PARALLEL_ROWS - 1):
            assert _openmp_threads() == {1}
        with tree_threads("auto", PARALLEL_ROWS):
            assert _openmp_threads() == {2}
        assert _openmp_threads() == {1}  # restored on the way out
        with tree_threads(None, 10**9), tree_threads("auto", None):
            assert _openmp_threads() == {1}
        with tree_threads(3):
            assert _openmp_threads() == {3}


def test_auto_on_one_core_keeps_the_limit(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 1)
    with threadpool_limits(1, "openmp"), tree_threads("auto", 10**7):
        assert _openmp_threads() == {1}


@pytest.mark.parametrize("bad", [0, -1, 1.5, "all", "2"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ConfigError, match="positive whole number, 'auto' or None"):
        tree_threads(bad, 10)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    n = PARALLEL_ROWS + 5_000
    X = pd.DataFrame({"recency_days": rng.exponential(30, n), "frequency": rng.poisson(5, n),
                      "monetary": rng.gamma(2, 50, n), "tenure_days": rng.uniform(0, 400, n)})
    X.loc[rng.random(n) < 0.1, "monetary"] = np.nan
    churned = (X["recency_days"] / 30 + rng.normal(0, 1, n) > 1.5).astype(int).to_numpy()
    spend = X["monetary"].fillna(0).to_numpy() * rng.uniform(0.5, 1.5, n)
    return X, churned, spend


def test_churn_and_value_answer_the_same_on_one_thread_and_on_every_core(rows, two_cores):
    X, churned, spend = rows
    with threadpool_limits(1, "openmp"):
        one = ChurnModel(n_threads=1).fit(X, churned)
        auto = ChurnModel().fit(X, churned)
        assert np.array_equal(one.predict_proba(X), auto.predict_proba(X))
        v_one = ValueModel(n_threads=1).fit(X, spend)
        v_auto = ValueModel().fit(X, spend)
        assert np.array_equal(v_one.predict(X), v_auto.predict(X))


def test_uplift_learner_answers_the_same_on_every_core(rows, two_cores, monkeypatch):
    X, _, spend = rows
    treated = np.random.default_rng(1).random(len(X)) < 0.5
    y = spend + 20.0 * treated * (X["frequency"].to_numpy() > 5)
    with threadpool_limits(1, "openmp"):
        many = XLearnerUplift(max_iter=20).fit(X, y, treated).predict(X)
        monkeypatch.setattr(threads, "PARALLEL_ROWS", 10**9)  # "auto" stays on one thread
        one = XLearnerUplift(max_iter=20).fit(X, y, treated).predict(X)
    assert np.array_equal(one, many)

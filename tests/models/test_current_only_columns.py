"""The churn, value, offer-response and uplift models do not learn from the members file's
current-only values (points balance, referrals).

The members file holds them as they are today. In a training window that ends before
today, today's balance counts the spend that came after the window's cutoff, the very
thing the window's label is about, so a model fitted on it reads the answer; when it then
scores today's members the relation does not hold. The synthetic generator's balance is a
share of all the member's spend: the churn and value models of a synthetic train used to
list it among their features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.profile_features import CURRENT_ONLY
from models.lifecycle import ChurnModel, ValueModel
from models.offer_response.inputs import MEMBER_PREFIX, select_member_columns
from models.uplift.rows import feature_matrix


def _leaky_members(n: int = 600, seed: int = 0):
    """Member features where ``points_balance`` is the future spend itself."""
    rng = np.random.default_rng(seed)
    recency = rng.exponential(20, n)
    frequency = rng.poisson(8, n) + 1.0
    future = rng.gamma(2, 50, n) * (recency < 30)
    X = pd.DataFrame({"recency_days": recency, "frequency": frequency,
                      "monetary_total": frequency * rng.gamma(5, 10, n),
                      "points_balance": future * 3, "referrals": (future > 100) * 1.0})
    return X, future


def test_churn_and_value_models_leave_out_the_current_only_columns():
    X, future = _leaky_members()
    churn = ChurnModel(max_iter=20, cv=2).fit(X, future == 0)
    value = ValueModel(horizon_days=28, random_state=0).fit(X, future,
                                                            past_spend=X["monetary_total"])
    for model in (churn, value):
        names = list(model.feature_names_in_)
        assert names == ["recency_days", "frequency", "monetary_total"], names


def test_offer_response_rows_leave_them_out():
    rows = pd.DataFrame({"member_id": ["a", "b", "c"], "m__frequency": [1.0, 2.0, 3.0]})
    for name in CURRENT_ONLY:
        rows[MEMBER_PREFIX + name] = [5.0, 0.0, 9.0]
    assert select_member_columns(rows) == ["frequency"]


def test_uplift_rows_leave_them_out():
    rows = pd.DataFrame({"member_id": ["a", "b", "c"], "treated": [True, False, True],
                         "spend": [1.0, 0.0, 4.0], "m__frequency": [1.0, 2.0, 3.0],
                         "depth": [0.1, 0.2, 0.1]})
    for name in CURRENT_ONLY:
        rows[MEMBER_PREFIX + name] = [5.0, 0.0, 9.0]
    X, names = feature_matrix(rows)
    assert names == ["m__frequency", "depth"] and X.shape == (3, 2)
    # Asked for by name (a fitted model's columns), a column is given as asked.
    assert feature_matrix(rows, ["m__points_balance"])[1] == ["m__points_balance"]


def test_a_synthetic_train_learns_nothing_from_the_points_balance(trained_run):
    assert {"points_balance", "referrals"} <= set(trained_run.member_features.columns)
    for model in (trained_run.churn, trained_run.value):
        assert not set(CURRENT_ONLY) & set(model.feature_names_in_)
    assert not set(CURRENT_ONLY) & set(trained_run.offer_response.member_columns_)

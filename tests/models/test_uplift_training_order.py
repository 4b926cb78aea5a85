"""The uplift fits read slices of a feature matrix in training order (issue 11: no boolean-mask
copies of X per offer type and group), and learn exactly what they learnt from the masked rows.

The groups have more than 10,000 rows, so the boosting holds out a seeded split of each fit's
rows for early stopping: a fit on the same rows in another order would learn other trees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.uplift import fit_uplift
from models.uplift.fit import _response_model, training_order
from models.uplift.learners import XLearnerUplift, by_columns, take_rows
from models.uplift.rows import feature_matrix

N_ROWS = 72_000


def _rows(seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.random(N_ROWS) < 0.5
    x = rng.normal(size=(N_ROWS, 4))
    x[rng.random((N_ROWS, 4)) < 0.03] = np.nan
    effect = np.nan_to_num(x[:, 0]) > 0
    spend = 5 + 2 * np.nan_to_num(x[:, 1]) + 3 * effect * treated + rng.normal(0, 1, N_ROWS)
    retained = (rng.random(N_ROWS) < 0.4 + 0.2 * effect * treated).astype(float)
    rows = pd.DataFrame({
        "member_id": rng.integers(0, 9_000, N_ROWS).astype(str),
        "offer_id": "o1", "sent_at": pd.Timestamp("2025-06-01"),
        "cutoff": pd.Timestamp("2025-06-01"), "treated": treated,
        "type": rng.choice(["cashback", "points"], N_ROWS), "redeemed": treated & effect,
        "spend": spend, "retained": retained,
    })
    for j in range(4):
        rows[f"m__x{j}"] = x[:, j]
    return rows


def test_fits_on_slices_in_training_order_equal_fits_on_the_masked_rows(one_thread):
    rows = _rows()
    fitted = fit_uplift(None, "2026-01-01", pd.DataFrame(), rows=rows, max_iter=12)
    X, _ = feature_matrix(rows)  # rows' order: what the fits read by boolean masks before
    is_val = rows["member_id"].isin(fitted.validation_members).to_numpy()
    treated = rows["treated"].to_numpy()
    types = rows["type"].to_numpy()
    for (offer_type, outcome), model in fitted.models.items():
        train = (types == offer_type) & ~is_val
        assert train.sum() * 0.5 > 10_000  # early stopping on: the order matters
        want = XLearnerUplift(binary=outcome == "retained", max_iter=12).fit(
            X[train], rows[outcome].to_numpy(dtype=float)[train], treated[train])
        np.testing.assert_array_equal(model.predict(X), want.predict(X))
        sent = train & treated
        response = _response_model(X[sent], rows["redeemed"].to_numpy()[sent], 0, 12)
        np.testing.assert_array_equal(fitted.response_models[offer_type].predict_proba(X),
                                      response.predict_proba(X))
    table = fitted.validation.set_index(["offer_type", "outcome"])
    assert (table["n_train"] + table["n_validation"] > 20_000).all()


def test_training_order_puts_each_group_in_one_run_in_the_rows_order():
    rng = np.random.default_rng(2)
    types = rng.choice(["b", "a", "c"], 500)
    is_val, treated = rng.random(500) < 0.3, rng.random(500) < 0.5
    order, spans = training_order(types, is_val, treated)
    assert sorted(order) == list(range(500))
    for offer_type, (start, holdouts, validation, end) in spans.items():
        of_type = types == offer_type
        for (lo, hi), mask in (((start, holdouts), of_type & ~is_val & treated),
                               ((holdouts, validation), of_type & ~is_val & ~treated),
                               ((validation, end), of_type & is_val)):
            np.testing.assert_array_equal(order[lo:hi], np.flatnonzero(mask))
    assert [spans[t][0] for t in "abc"] == sorted(spans[t][0] for t in "abc")


def test_take_rows_is_a_view_for_one_run_and_a_copy_otherwise():
    X = by_columns(np.arange(40.0).reshape(10, 4))
    run = np.zeros(10, dtype=bool)
    run[3:7] = True
    view = take_rows(X, run)
    assert np.shares_memory(view, X) and by_columns(view) is view
    np.testing.assert_array_equal(view, X[run])
    gaps = run.copy()
    gaps[8] = True
    np.testing.assert_array_equal(take_rows(X, gaps), X[gaps])
    assert take_rows(X, np.zeros(10, dtype=bool)).shape == (0, 4)

"""The churn and value models predict on column-major matrices (how the trees predict
fastest), and the memory order never changes a prediction, a driver's impact or a reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.lifecycle.churn_reasons import driver_impacts, risky_side, usable_drivers
from models.lifecycle.tabular import to_matrix
from models.lifecycle.value import PastSpendBaseline


def test_to_matrix_is_column_major_with_the_frames_values():
    frame = pd.DataFrame({"a": [1.5, np.inf, 3.0], "flag": [True, False, True],
                          "n": pd.array([1, None, 3], dtype="Int64")})
    X = to_matrix(frame, ["n", "a", "cat_share__x", "flag"])
    assert X.flags.f_contiguous and X.dtype == np.float64
    np.testing.assert_array_equal(X, [[1, 1.5, 0, 1], [np.nan, np.nan, 0, 0], [3, 3.0, 0, 1]])


def test_every_driver_prediction_is_given_a_column_major_matrix_with_the_old_values():
    rng = np.random.default_rng(0)
    names = ["recency_days", "overdue_ratio", "frequency", "monetary_total", "tenure_days"]
    X = pd.DataFrame(rng.random((200, len(names))) * 100, columns=names)
    matrix = to_matrix(X, names)
    reference = np.median(matrix, axis=0)
    drivers = usable_drivers(names)
    weights = np.arange(1.0, len(names) + 1)
    layouts = []

    def predict(m):  # column by column in a fixed order: the same sums for either layout
        layouts.append(m.flags.f_contiguous)
        return np.tanh(sum(m[:, c] * weights[c] for c in range(m.shape[1])) / 500)

    rows = risky_side(X, pd.Series(reference, index=names), drivers)
    impacts = driver_impacts(predict, matrix, names, reference, drivers, rows=rows)
    assert len(layouts) == len(drivers) + 1 and all(layouts)
    # The impacts as computed before the column-major copy: a row-major copy of the rows.
    col = {n: i for i, n in enumerate(names)}
    base = predict(np.ascontiguousarray(matrix))
    for j, driver in enumerate(drivers):
        take = np.flatnonzero(rows[:, j])
        changed = np.ascontiguousarray(matrix)[take]
        idx = [col[f] for f in driver.features if f in col]
        changed[:, idx] = reference[idx]
        np.testing.assert_array_equal(impacts[take, j], base[take] - predict(changed))
        assert np.isnan(impacts[~rows[:, j], j]).all()


def test_churn_and_value_predictions_do_not_depend_on_the_memory_order(case, one_thread):
    X_val, _ = case.windows.validation()
    churn, value = case.churn, case.value
    names = list(churn.feature_names_in_)
    rows_first = np.ascontiguousarray(to_matrix(X_val, names))
    want = churn.calibrated_.predict_proba(rows_first)[:, 1]
    assert want.std() > 0
    np.testing.assert_array_equal(churn.predict_proba(X_val), want)
    np.testing.assert_array_equal(churn._predict(rows_first), want)
    value_names = list(value.feature_names_in_)
    booster = np.clip(value.regressor_.predict(
        np.ascontiguousarray(to_matrix(X_val, value_names))), 0.0, None)
    assert booster.std() > 0
    shrink = float(getattr(value, "shrink_", 0.0))
    rate = PastSpendBaseline(value.horizon_days_, value.trend_days).predict(X_val)
    want = (1.0 - shrink) * booster + shrink * np.clip(rate, 0.0, None) if shrink else booster
    np.testing.assert_array_equal(value.predict(X_val), want)

"""The uplift feature matrices are column-major (how the trees predict fastest), and the
memory order of a matrix never changes a prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.uplift import XLearnerUplift
from models.uplift.learners import by_columns
from models.uplift.rows import feature_matrix


def test_feature_matrix_is_column_major_with_the_rows_values():
    rows = pd.DataFrame({"member_id": ["a", "b", "c"], "treated": [True, False, True],
                         "m__spend": [1.5, np.nan, 3.0], "flag": [True, False, False],
                         "constant": [7, 7, 7], "text": ["x", "y", "z"], "n": [1, 2, 3]})
    X, names = feature_matrix(rows)
    assert names == ["m__spend", "flag", "n"] and X.flags.f_contiguous and X.dtype == float
    np.testing.assert_array_equal(X, [[1.5, 1, 1], [np.nan, 0, 2], [3.0, 0, 3]])
    again, _ = feature_matrix(rows.iloc[::-1], ["n", "m__spend"])
    np.testing.assert_array_equal(again, [[3, 3.0], [2, np.nan], [1, 1.5]])


def test_predictions_do_not_depend_on_the_memory_order(one_thread):
    rng = np.random.default_rng(3)
    X = rng.random((3000, 6))
    treated = rng.random(3000) < 0.5
    y = 2 * X[:, 0] * treated + rng.normal(0, 0.1, 3000)
    X[:, 1:][rng.random((3000, 5)) < 0.05] = np.nan  # missing values go down their branch
    rows_first = np.ascontiguousarray(X)
    assert by_columns(rows_first).flags.f_contiguous
    columns = by_columns(rows_first)
    assert by_columns(columns) is columns  # no copy when already by columns
    coin = (y + rng.normal(0, 0.5, 3000) > 0.5).astype(float)
    for binary, target in ((False, y), (True, coin)):
        model = XLearnerUplift(binary=binary, max_iter=15).fit(rows_first, target, treated)
        want = model.predict(rows_first)
        assert want.std() > 0
        np.testing.assert_array_equal(model.predict(columns), want)
        np.testing.assert_array_equal(model.predict(X[::2]), want[::2])  # strided

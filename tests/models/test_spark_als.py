"""``ALSRecommender(solver=...)``: the choice is checked, MLlib's factor rows land on their ids.

Fitting with Spark MLlib itself is tested end to end by
tests/training/test_engines_spark.py (one Spark session for the suite).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

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

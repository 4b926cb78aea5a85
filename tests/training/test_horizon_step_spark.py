"""The step "horizons" on a real local Spark session: the validation at a horizon equals
pandas' (test_horizon_step.py holds the DuckDB twin). A Spark train validates every
horizon this way; the Spark train of test_engines_spark.py turns it off for speed."""

from __future__ import annotations

import pytest

from features.loading import load_dataset
from tests.training.test_horizon_step import assert_validated_as_on_pandas
from training.synth.generate import generate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_dataset(generate(tmp_path_factory.mktemp("horizon-spark") / "data", 400,
                                 seed=5))


def test_on_spark_the_validation_at_a_horizon_is_pandas(spark_con, dataset):
    """Windows and purchase summaries built by Spark SQL: the baselines and BG/NBD as on
    pandas, the boosted models within noise; sums over members as on pandas."""
    assert_validated_as_on_pandas("spark", dataset)

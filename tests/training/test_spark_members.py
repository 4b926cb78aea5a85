"""Member features on Spark after the segmentation (training/spark_members.py) and every
member's uplift scored there (training/spark_uplift.py): the driver's answers, and only
result columns come back."""

from __future__ import annotations

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from features.loading import load_dataset
from models.offer_response import offer_specs_from_events
from models.uplift import engine_member_uplift, fit_uplift
from training.engines import open_engine
from training.spark_members import SparkMembers
from training.spark_uplift import spark_member_uplift


@pytest.fixture(scope="module")
def uplift_case(spark_con, synth_data, trained_run):
    """``(fit, offers, as_of, member features, duckdb tables, spark tables)`` on the
    serving synth data: uplift models with few boosting rounds, the pandas run's features."""
    dataset = load_dataset(synth_data)
    offers = offer_specs_from_events(dataset)
    with threadpool_limits(1):
        fit = fit_uplift(dataset, trained_run.as_of, offers, max_iter=10, random_state=0)
    duck = open_engine("duckdb", dataset)
    spark = open_engine("spark", dataset)
    assert not spark.owns_session  # the tests' session, left running
    yield fit, offers, trained_run.as_of, trained_run.member_features, duck, spark
    duck.close()
    spark.close()


def test_the_features_on_spark_come_back_column_by_column_as_they_went(spark_con, trained_run,
                                                                      tmp_path):
    mf = trained_run.member_features.iloc[::-1]  # not in id order
    for staging in (None, tmp_path):
        members = SparkMembers.from_frame(spark_con, mf, staging_dir=staging)
        try:
            assert list(members.index) == list(mf.index) and members.columns == list(mf.columns)
            columns = ["frequency", "tier", "email_opt_in", "top_category"]
            got = members.select(columns)
            pd.testing.assert_frame_equal(got, mf[columns])
            with pytest.raises(KeyError, match="no member feature"):
                members.select(["frequency", "nope"])
        finally:
            members.release()
    assert (tmp_path / "member_features.parquet").is_file()


def test_every_members_uplift_in_partitions_equals_the_drivers(uplift_case, spark_con):
    """The same sums from Spark's queries, scored in the driver (``engine_member_uplift``)
    and in partitions: the same scores (DuckDB sums floats in another order, which may
    move a member across a tree's split)."""
    fit, offers, as_of, mf, _, spark = uplift_case
    mf = mf.sample(frac=1.0, random_state=5)  # not in id order
    want = engine_member_uplift(fit, spark.lines, spark.small, offers, as_of, mf.index,
                                base=mf, base_trend_days=90)
    assert len(want) == len(mf) * len({t for t, _ in fit.models}) and len(mf) > 500
    assert want["uplift_spend"].notna().all() and want["uplift_spend"].std() > 0
    members = SparkMembers.from_frame(spark_con, mf)
    try:
        got = spark_member_uplift(spark_con, fit, spark.lines, spark.small, offers, as_of,
                                  members, base_trend_days=90)
    finally:
        members.release()
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)

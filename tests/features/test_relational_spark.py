"""The same Ibis feature expressions on a real local Spark session equal the pandas oracle."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError, DataError
from features.item_features import build_item_features
from features.loading import load_dataset
from features.member_features import build_member_features
from features.relational import (
    connect_spark,
    item_features,
    member_features,
    tables_from_dataset,
    tables_from_parquet,
)
from features.relational.portable import to_frame


@pytest.fixture(scope="module")
def synth(synth_data):
    ds = load_dataset(synth_data, now="2100-01-01")
    as_of = ds.last_timestamp - pd.Timedelta(days=30)
    return ds, as_of


@pytest.fixture(scope="module")
def spark_lines(spark_con, synth):
    return tables_from_dataset(spark_con, synth[0])["transactions"]


def test_member_features_on_spark_equal_pandas(spark_lines, synth):
    ds, as_of = synth
    want = build_member_features(ds, as_of)
    got = member_features(spark_lines, ds, as_of)
    assert len(want) > 100 and want["cat_share__other"].notna().any()
    assert want["interpurchase_std_days"].notna().any() and want["top_category"].notna().any()
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)


def test_item_features_on_spark_equal_pandas(spark_lines, synth):
    ds, as_of = synth
    want = build_item_features(ds.transactions, ds.items, as_of, recent_days=14)
    got = item_features(spark_lines, ds.items, as_of, recent_days=14)
    assert (want["popularity"] > 0).any() and want["price"].notna().any()
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)


@pytest.mark.parametrize("unit", ["ns", "us"])
def test_spark_reads_a_directory_of_parquet_parts_with_naive_timestamps(
    spark_con, synth, tmp_path, unit
):
    """Parts as pandas writes them: ns (no Spark type: read as integers) or us (TIMESTAMP_NTZ)."""
    ds, as_of = synth
    tx = ds.transactions
    parts = tmp_path / "lines"
    parts.mkdir()
    half = len(tx) // 2
    for k, chunk in enumerate((tx.iloc[:half], tx.iloc[half:])):
        chunk.assign(timestamp=chunk["timestamp"].astype(f"datetime64[{unit}]")).to_parquet(
            parts / f"part-{k}.parquet"
        )
    lines = tables_from_parquet(spark_con, parts)["transactions"]
    dataset = {"items": ds.items, "members": None, "offer_events": None}
    got = member_features(lines, dataset, as_of, spend_mix=False)
    want = build_member_features({"transactions": tx, "items": ds.items}, as_of, spend_mix=False)
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)


def test_nanosecond_parquet_times_floor_to_the_exact_microsecond(spark_con, tmp_path):
    stamps = pd.to_datetime(
        ["2024-01-01 00:00:00.123456789", "1969-12-31 23:59:59.999999999", "2017-10-01"],
        format="ISO8601",
    ).astype("datetime64[ns]")
    pd.DataFrame(
        {
            "member_id": ["a", "b", "c"],
            "item_id": "i",
            "timestamp": stamps,
            "basket_id": [1, 2, 3],
            "quantity": 1.0,
            "amount": 1.0,
        }
    ).to_parquet(tmp_path / "tx.parquet")
    lines = tables_from_parquet(spark_con, tmp_path / "tx.parquet")["transactions"]
    got = to_frame(lines.order_by("member_id"))["ts_us"].tolist()
    assert got == [1704067200123456, -1, 1506816000000000]


def test_spark_input_errors_name_the_path_and_the_fix(spark_con, synth, tmp_path):
    with pytest.raises(DataError, match="no such file"):
        tables_from_parquet(spark_con, tmp_path / "nope.parquet")
    with pytest.raises(DataError, match=r"hdfs://nowhere:1/x.parquet: Spark cannot read it"):
        tables_from_parquet(spark_con, "hdfs://nowhere:1/x.parquet")
    synth[0].transactions.drop(columns="amount").to_parquet(tmp_path / "tx.parquet")
    with pytest.raises(DataError, match=r"lack column\(s\) \['amount'\]"):
        tables_from_parquet(spark_con, tmp_path / "tx.parquet")


def test_an_unreachable_master_or_a_missing_java_is_one_clear_line(monkeypatch):
    with pytest.raises(ConfigError, match=r"spark://127\.0\.0\.1:9 does not answer .*start the"):
        connect_spark("spark://127.0.0.1:9")
    with pytest.raises(ConfigError, match="not a URL Spark reads"):
        connect_spark("spark://:x")
    with pytest.raises(ConfigError, match="shuffle_partitions=0"):
        connect_spark("local[1]", shuffle_partitions=0)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match="Spark needs Java 17 .* apt-get install openjdk-17"):
        connect_spark()


def test_coupon_features_on_spark_equal_pandas_from_a_dataset_and_the_staged_load(
    spark_con, make_data_dir, tmp_path, monkeypatch
):
    """The optional ``coupon_discount`` reaches Spark (registered from a dataset, and staged
    as Parquet by the Spark engine's load) and the coupon-use columns equal pandas'."""
    import tempfile

    from features.coupon_features import COUPON_FEATURES
    from features.relational.frames import member_dataset
    from tests.features.test_relational import COUPON_MEMBERS, COUPON_TX, assert_same_frame
    from training.engines import load_spark

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the default staging's parent
    data_dir = make_data_dir(transactions=COUPON_TX, **{"members.csv": COUPON_MEMBERS})
    ds = load_dataset(data_dir, now="2025-01-01")
    as_of = "2024-02-01"
    want = build_member_features(ds, as_of)
    assert set(COUPON_FEATURES) <= set(want.columns) and want["coupon_lines"].max() == 2
    lines = tables_from_dataset(spark_con, ds)["transactions"]
    assert_same_frame(member_features(lines, ds, as_of), want)
    data, tables = load_spark(data_dir, spark_master="local[2]")
    try:
        assert "coupon_discount" in tables.lines.columns
        assert_same_frame(member_features(tables.lines, data, as_of), want)
        sample = member_dataset(tables.con, tables.lines, tables.small, ["1"])
        assert sample.transactions["coupon_discount"].abs().sum() == 0.75  # a fetched sample
    finally:
        tables.close()


def test_member_features_of_several_cutoffs_on_spark_equal_pandas(spark_con, synth):
    """The one-pass build of several cutoffs (features.relational.cutoffs) runs on Spark too."""
    from features.relational.members import member_features_at

    ds, as_of = synth
    # Registered again: tests above replace the session's "transactions" view.
    lines = tables_from_dataset(spark_con, ds)["transactions"]
    cutoffs = [as_of - pd.Timedelta(days=60, hours=6), as_of]
    got = member_features_at(lines, ds, cutoffs)
    for cutoff in cutoffs:
        pd.testing.assert_frame_equal(got[cutoff], build_member_features(ds, cutoff), rtol=1e-9)


def test_program_kpis_on_spark_equal_pandas(spark_con, synth):
    """The KPIs' reductions (baskets with their revenue, each period's 90-day activity from
    each member's last purchase per period) run on Spark as on DuckDB."""
    from features.kpis import program_kpis
    from features.relational.kpis import program_kpis as relational_kpis
    from tests.features.test_relational_kpis import assert_same_kpis

    ds, _ = synth
    tables = tables_from_dataset(spark_con, ds)
    want = program_kpis(ds, "month")
    assert want["active_90d"].gt(0).any() and want["revenue"].gt(0).all()
    assert_same_kpis(relational_kpis(tables["transactions"], ds.members,
                                     tables["offer_events"], "month"), want)

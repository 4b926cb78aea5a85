"""The Spark session's settings chosen before the JVM starts: the local heap, memory sizes."""

from __future__ import annotations

import pytest

import features.relational.spark as spark
from features.errors import ConfigError

GIB = 1 << 30


def test_a_local_master_gets_a_quarter_of_the_machine_as_heap():
    assert spark.local_driver_memory(24 * GIB) == "6g"
    assert spark.local_driver_memory(256 * GIB) == "64g"
    assert spark.local_driver_memory(2 * GIB) == "1g"  # never below Spark's own default
    assert spark.local_driver_memory().endswith("g")


@pytest.mark.parametrize("value", ["512m", "8g", "8G", "1024"])
def test_memory_sizes_spark_reads_pass(value):
    assert spark.check_memory_size(f" {value} ", "spark.driver.memory") == value


@pytest.mark.parametrize("value", ["8 GB", "8gb", "-1g", "0g", "", "lots"])
def test_other_memory_sizes_are_a_config_error_naming_the_setting(value):
    with pytest.raises(ConfigError, match="spark.driver.memory=.* is not a memory size; pass"):
        spark.check_memory_size(value, "spark.driver.memory")


def test_the_heap_counts_as_configured_wherever_spark_would_read_it(tmp_path):
    assert not spark._driver_memory_configured({}, environ={})
    assert spark._driver_memory_configured({"spark.driver.memory": "2g"}, environ={})
    args = {"PYSPARK_SUBMIT_ARGS": "--driver-memory 4g pyspark-shell"}
    assert spark._driver_memory_configured({}, environ=args)
    (tmp_path / "spark-defaults.conf").write_text("spark.executor.memory 2g\n")
    assert not spark._driver_memory_configured({}, environ={"SPARK_CONF_DIR": str(tmp_path)})
    (tmp_path / "spark-defaults.conf").write_text("# heap\nspark.driver.memory   3g\n")
    assert spark._driver_memory_configured({}, environ={"SPARK_CONF_DIR": str(tmp_path)})
    conf_dir = tmp_path / "home" / "conf"
    conf_dir.mkdir(parents=True)
    (conf_dir / "spark-defaults.conf").write_text("spark.driver.memory 3g\n")
    assert spark._driver_memory_configured({}, environ={"SPARK_HOME": str(tmp_path / "home")})


def _settings(monkeypatch, master, **options):
    """The settings ``connect_spark`` would start a session with (no JVM started)."""
    seen = {}

    def session(master, app_name, settings):
        seen.update(settings)
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(spark, "_check_java", lambda: None)
    monkeypatch.setattr(spark, "_session", session)
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    monkeypatch.delenv("SPARK_HOME", raising=False)
    with pytest.raises(ConfigError, match="stopped by the test"):
        spark.connect_spark(master, **options)
    return seen


def test_connect_spark_sizes_a_local_heap_unless_told(monkeypatch):
    assert _settings(monkeypatch, "local[2]")["spark.driver.memory"] == \
        spark.local_driver_memory()
    assert _settings(monkeypatch, "local[2]", driver_memory="3g")["spark.driver.memory"] == "3g"
    conf = {"spark.driver.memory": "5g"}
    assert _settings(monkeypatch, "local[2]", conf=conf)["spark.driver.memory"] == "5g"
    assert "spark.driver.memory" not in _settings(monkeypatch, "yarn")
    monkeypatch.setattr(spark, "_session", lambda *a: pytest.fail("started with a bad size"))
    with pytest.raises(ConfigError, match="spark.driver.memory='8 GB' is not a memory size"):
        spark.connect_spark("local[2]", conf={"spark.driver.memory": "8 GB"})

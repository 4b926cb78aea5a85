"""``offers train|features --engine spark``: features and ALS on a real local Spark session.

The version it writes is served like any other and trains the same models as
the pandas engine (whose features the DuckDB engine equals: test_engines.py);
its ALS, fitted by Spark MLlib, ranks as well as implicit's.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

from offers.cli import main
from serving import create_app
from training.artifacts import open_version
from training.artifacts.schema import MEMBER_COLUMNS, RESPONSE_FEATURES, read_members

AS_OF = "2025-11-01"
KEY = "spark-test-key-0123456789"
# tests/conftest.py's SERVING_FAST, as the TOML a user would pass with --config.
FAST_TOML = """
[recommend]
tune = false
factors = 16
iterations = 5

[churn]
validate_horizons = []
"""


class SparkTrain(NamedTuple):
    out: object
    output: str
    spied: dict  # what the spies in spark_trained saw (the member features on Spark)


@pytest.fixture(scope="module")
def spark_trained(spark_con, synth_data, tmp_path_factory):
    """A train on Spark where the pandas loader never runs (it raises): the data directory
    named by a ``file://`` URL (copied through Spark's filesystem, as from ``hdfs://``),
    DuckDB loads, Spark reads the staged Parquet, which is removed at the end. Spies record
    where the member features went
    (:func:`test_the_member_features_stay_on_spark_once_segmented`)."""
    import features.loading
    import features.relational
    import training.member_table
    import training.spark_uplift
    import training.uplift_step
    from training.spark_members import SparkMembers

    def no_pandas_loader(*args, **kwargs):
        raise AssertionError("the pandas loader ran on --engine spark")

    def not_in_the_driver(*args, **kwargs):
        raise AssertionError("every member was scored in the driver on --engine spark")

    spied = {"built_at": [], "sent": [], "fetched": [], "uplift": []}
    build, send = features.relational.member_features, SparkMembers.from_frame.__func__
    fetch, uplift = SparkMembers.select, training.spark_uplift.spark_member_uplift

    def member_features(lines, dataset, as_of, **kwargs):
        spied["built_at"].append(pd.Timestamp(as_of))
        return build(lines, dataset, as_of, **kwargs)

    def from_frame(cls, con, mf, staging_dir=None):
        spied["sent"].append((mf.shape, staging_dir is not None))
        return send(cls, con, mf, staging_dir=staging_dir)

    def select(self, columns):
        spied["fetched"].append(list(columns))
        return fetch(self, columns)

    def spark_member_uplift(*args, **kwargs):
        found = uplift(*args, **kwargs)
        spied["uplift"].append(len(found))
        return found

    fit_uplift = training.uplift_step.fit_uplift

    def serving_fit_uplift(*args, **kwargs):
        """Every spend model served (600 members validate none): the scoring runs."""
        fit = fit_uplift(*args, **kwargs)
        fit.validation["better_than_random"] = fit.validation["outcome"].eq("spend")
        return fit

    root = tmp_path_factory.mktemp("spark-train")
    config = root / "fast.toml"
    config.write_text(FAST_TOML)
    out, staging = root / "artifacts", root / "staging"
    staging.mkdir()
    args = ["train", synth_data.as_uri(), "--out", str(out), "--config", str(config),
            "--staging-dir", str(staging)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(features.loading, "load_dataset", no_pandas_loader)
        patch.setattr(features.relational, "member_features", member_features)
        patch.setattr(SparkMembers, "from_frame", classmethod(from_frame))
        patch.setattr(SparkMembers, "select", select)
        patch.setattr(training.spark_uplift, "spark_member_uplift", spark_member_uplift)
        patch.setattr(training.uplift_step, "fit_uplift", serving_fit_uplift)
        for module in (training.uplift_step, training.spark_uplift):
            patch.setattr(module, "engine_member_uplift", not_in_the_driver)
        patch.setattr(training.member_table, "member_predictions", not_in_the_driver)
        result = CliRunner().invoke(main, [*args, "--engine", "spark",
                                           "--spark-master", "local[2]"])
    assert result.exit_code == 0, result.output
    assert list(staging.iterdir()) == []
    return SparkTrain(out, result.output, spied)


def test_the_member_features_stay_on_spark_once_segmented(spark_trained):
    """Built once at the cut-off, sent to Spark (staged) after the segmentation; then only
    the columns the version stores come back, and every member is scored on Spark."""
    version = open_version(spark_trained.out)
    spied, as_of = spark_trained.spied, pd.Timestamp(version.manifest["as_of"])
    n_members = version.manifest["row_counts"]["members_scored"]
    assert spied["built_at"].count(as_of) == 1  # the features step's; uplift built none
    [((rows, columns), staged)] = spied["sent"]
    assert rows == n_members > 500 and columns > 40 and staged
    stored = ({c.name for c in MEMBER_COLUMNS}
              | set(version.load_frame(RESPONSE_FEATURES).columns))
    assert spied["fetched"] and all(set(f) <= stored for f in spied["fetched"])
    assert max(len(f) for f in spied["fetched"]) < columns / 2
    served = version.manifest["metrics"]["uplift"]["served_types"]
    assert served and spied["uplift"] == [n_members * len(served)]


def test_train_on_spark_gives_the_pandas_engines_segments_and_churn_ranks(
    spark_trained, trained_artifacts
):
    spark_out, output = spark_trained.out, spark_trained.output
    assert "wrote " in output and "members scored" in output
    pandas_out, _ = trained_artifacts
    got = read_members(open_version(spark_out)).set_index("member_id").sort_index()
    want = read_members(open_version(pandas_out)).set_index("member_id").sort_index()
    assert list(got.index) == list(want.index) and len(got) > 100
    assert got["segment"].tolist() == want["segment"].tolist()
    assert got["cluster"].tolist() == want["cluster"].tolist()
    buyers = want["churn_risk"].notna()
    assert buyers.sum() > 100 and got["churn_risk"].notna().tolist() == buyers.tolist()
    rho = spearmanr(got.loc[buyers, "churn_risk"], want.loc[buyers, "churn_risk"]).statistic
    assert rho > 0.99
    got_rec = open_version(spark_out).manifest["metrics"]["recommend"]
    want_rec = open_version(pandas_out).manifest["metrics"]["recommend"]
    # The recommenders' interactions were built on Spark: the models that do not
    # factorise (the ALS is MLlib's here) agree with pandas up to float rounding.
    for key in [k for k in want_rec if "@" in k and k.startswith(("popularity_", "buy_again_"))]:
        assert got_rec[key] == pytest.approx(want_rec[key], rel=1e-6, abs=1e-9), key


def test_spark_fits_the_als_with_mllib_and_it_ranks_as_well_as_implicits(
    spark_trained, trained_artifacts
):
    got_rec = open_version(spark_trained[0]).manifest["metrics"]["recommend"]
    want_rec = open_version(trained_artifacts[0]).manifest["metrics"]["recommend"]
    assert got_rec["params"]["als"]["solver"] == "spark"
    assert want_rec["params"]["als"].get("solver", "implicit") == "implicit"
    for metric in ("als_ndcg@10", "als_ndcg@10_new", "blend_ndcg@10"):
        assert want_rec[metric] > 0.02, metric
        assert got_rec[metric] == pytest.approx(want_rec[metric], abs=0.02), metric


def test_the_server_loads_and_serves_the_spark_trained_version(spark_trained, tmp_path):
    out = spark_trained.out
    app = create_app(
        {
            "ARTIFACTS_DIR": str(out),
            "EVENTS_DB": str(tmp_path / "events.sqlite3"),
            "API_KEYS": {KEY: ["read"]},
            "TESTING": True,
        }
    )
    members = read_members(open_version(out))
    member = str(members.loc[members["frequency"] > 0, "member_id"].iloc[0])
    reply = app.test_client().get(
        f"/v1/members/{member}/offers?channel=email",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["model_version"] == open_version(out).version


def test_the_spark_train_has_the_pandas_row_counts_and_cleaning(spark_trained,
                                                                 trained_artifacts):
    got, want = open_version(spark_trained[0]).manifest, open_version(trained_artifacts[0]).manifest
    assert got["row_counts"]["transactions"] > 10_000
    for key in ("as_of", "row_counts", "cleaning"):
        assert got[key] == want[key], key


def test_the_version_names_the_url_and_fingerprints_the_data(spark_trained, synth_data):
    """The manifest says where the data came from (the URL, not the run's copy) and has the
    local directory's fingerprint: the copy was byte for byte."""
    from training.pipeline import data_fingerprint

    manifest = open_version(spark_trained[0]).manifest
    assert manifest["data_dir"] == synth_data.as_uri()
    assert manifest["data_fingerprint"] == data_fingerprint(synth_data)


def test_item_features_export_on_spark_equals_pandas(spark_con, synth_data, tmp_path):
    """The member level is covered by training above; items are the cheaper CLI check."""
    frames = {}
    for engine in ("pandas", "spark"):
        path = tmp_path / f"{engine}.parquet"
        args = ["features", str(synth_data), "--as-of", AS_OF, "--out", str(path)]
        result = CliRunner().invoke(main, [*args, "--engine", engine, "--level", "item"])
        assert result.exit_code == 0, result.output
        assert f"({engine})" in result.output
        frames[engine] = pd.read_parquet(path)
    assert frames["pandas"]["item_id"].is_unique and (frames["pandas"]["popularity"] > 0).any()
    pd.testing.assert_frame_equal(frames["spark"], frames["pandas"], rtol=1e-9)


@pytest.mark.parametrize("option, value", [("--spark-master", "x"), ("--staging-dir", "x"),
                                           ("--spark-conf", "spark.driver.memory=8g")])
@pytest.mark.parametrize("command", ["train", "features"])
def test_spark_options_with_another_engine_are_a_usage_error(synth_data, tmp_path, command,
                                                             option, value):
    args = [command, str(synth_data), "--out", str(tmp_path / "o.parquet"), option, value]
    if command == "features":
        args += ["--as-of", AS_OF]
    result = CliRunner().invoke(main, [*args, "--engine", "duckdb"])
    assert result.exit_code == 2
    assert f"{option} applies to --engine spark only" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["train", "features"])
def test_an_unanswering_master_or_no_java_is_one_error_line_before_any_work(
    synth_data, tmp_path, monkeypatch, command
):
    out = tmp_path / "out"
    args = [command, str(synth_data), "--out", str(out / "f.parquet"), "--engine", "spark"]
    if command == "features":
        args += ["--as-of", AS_OF]
    result = CliRunner().invoke(main, [*args, "--spark-master", "spark://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.startswith("error: Spark master spark://127.0.0.1:9 does not answer")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.startswith("error: Spark needs Java 17")
    assert not out.exists()


@pytest.mark.parametrize("command", ["train", "features"])
def test_spark_conf_reaches_the_session_and_a_malformed_one_is_a_usage_error(
    synth_data, tmp_path, monkeypatch, command
):
    import features.relational.spark as spark
    from features.errors import ConfigError

    seen = []

    def connect(master, **options):
        seen.append((master, options.get("conf")))
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(spark, "connect_spark", connect)
    args = [command, str(synth_data), "--out", str(tmp_path / "o.parquet"), "--engine", "spark",
            "--spark-master", "local[1]"]
    if command == "features":
        args += ["--as-of", AS_OF]
    result = CliRunner().invoke(main, [*args, "--spark-conf", "spark.driver.memory=8g",
                                       "--spark-conf", "spark.sql.shuffle.partitions = 3"])
    assert result.output.startswith("error: stopped by the test"), result.output
    assert seen == [("local[1]", {"spark.driver.memory": "8g",
                                  "spark.sql.shuffle.partitions": "3"})]
    for bad in ("spark.driver.memory", "driver.memory=8g", "spark.driver.memory="):
        result = CliRunner().invoke(main, [*args, "--spark-conf", bad])
        assert result.exit_code == 2
        assert f"{bad!r} is not KEY=VALUE with a spark.* key" in result.output
    assert len(seen) == 1 and list(tmp_path.iterdir()) == []

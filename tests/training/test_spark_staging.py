"""The Spark engine's load: DuckDB checks and cleans, Spark reads the staged Parquet.

:func:`training.engines.load_spark` must give Spark the pandas loader's lines
(a directory of Parquet parts as its single file), the same problems on bad
data, and leave no staged file behind, failed or not.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest

import features.relational.staging as staging_module
from features.errors import ConfigError, DataValidationError
from features.loading import load_dataset
from features.relational.frames import events_frame
from features.relational.portable import to_frame
from features.relational.staging import Staging
from tests.features.test_parquet_parts import parts_data  # noqa: F401 (a fixture)
from training.engines import load_spark

NOW = "2026-01-01"
COLUMNS = ["member_id", "item_id", "ts_us", "basket_id", "quantity", "amount", "discount"]


def spark_lines(tables) -> pd.DataFrame:
    return to_frame(tables.lines).sort_values(COLUMNS, ignore_index=True)


def test_parts_on_spark_equal_the_single_file_and_the_staging_goes(
    spark_con, synth_data, parts_data, tmp_path, monkeypatch  # noqa: F811
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the default staging's parent
    got = {}
    for name, data_dir in (("file", synth_data), ("parts", parts_data)):
        data, tables = load_spark(data_dir, spark_master="local[2]")
        try:
            assert tables.con.name == "pyspark" and not tables.owns_session
            (staged,) = tmp_path.iterdir()
            assert sorted(p.name for p in staged.iterdir()) == [
                "offer_events.parquet", "transactions.parquet"]
            # the events stay on Spark; every one of them fetched here (a small test set)
            events = events_frame(tables.small["offer_events"]).astype(str)
            got[name] = (spark_lines(tables), data.row_counts(), data.cleaning,
                         events.sort_values(list(events.columns), ignore_index=True))
        finally:
            tables.close()
        assert list(tmp_path.iterdir()) == []
    pandas = load_dataset(synth_data)
    lines, counts, cleaning, events = got["file"]
    assert len(lines) == len(pandas.transactions) > 10_000
    assert counts == pandas.row_counts() and cleaning == pandas.cleaning
    assert lines["ts_us"].max() == pandas.transactions["timestamp"].max().value // 1000
    for part, whole in zip(got["parts"], got["file"], strict=True):
        if isinstance(part, pd.DataFrame):
            pd.testing.assert_frame_equal(part, whole)
        else:
            assert part == whole


def test_bad_data_gives_the_pandas_problems_and_stages_nothing(make_data_dir, tmp_path):
    data = make_data_dir(items="item_id,category\nA,x\n")  # B and C unknown
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(DataValidationError) as want:
        load_dataset(data)
    with pytest.raises(DataValidationError) as got:
        load_spark(data, spark_master="local[2]", staging_dir=staging)
    assert [str(p) for p in got.value.problems] == [str(p) for p in want.value.problems]
    assert list(staging.iterdir()) == []


def test_a_failure_after_staging_removes_the_staged_files(spark_con, make_data_dir, tmp_path,
                                                          monkeypatch):
    def unreadable(con, files):
        assert all(p.is_file() for p in files.values())
        raise OSError("the executors cannot read it")

    monkeypatch.setattr(staging_module, "read_staged", unreadable)
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(OSError, match="the executors cannot read it"):
        load_spark(make_data_dir(), spark_master="local[2]", staging_dir=staging)
    assert list(staging.iterdir()) == []


def test_a_cluster_master_needs_a_staging_dir_the_executors_read(make_data_dir, tmp_path):
    data = make_data_dir()
    with pytest.raises(ConfigError) as info:
        load_spark(data, spark_master="spark://cluster:7077")
    assert str(info.value) == (
        "--engine spark with master spark://cluster:7077 needs --staging-dir: a directory on a "
        "filesystem this machine writes and the Spark executors read (e.g. an NFS mount); the "
        "cleaned lines are staged there as Parquet.")
    with pytest.raises(ConfigError, match=r"--staging-dir s3a://b/x is a URL; pass a path"):
        load_spark(data, spark_master="yarn", staging_dir="s3a://b/x")
    with pytest.raises(ConfigError, match=r"--staging-dir .*nope is not a directory; create it"):
        load_spark(data, spark_master="yarn", staging_dir=tmp_path / "nope")


STOPPED_RUN = """
import sys, time
from features.relational.staging import Staging
staging = Staging.open("local[2]", sys.argv[1])
try:  # as load_spark and EngineTables.close: the staging goes in a finally
    (staging.path / "transactions.parquet").write_bytes(b"lines")
    print(staging.path, flush=True)
    while True:
        time.sleep(0.05)
finally:
    staging.remove()
"""


def test_sigterm_removes_the_staged_files_as_ctrl_c_does(tmp_path):
    import signal
    import subprocess
    import sys

    run = subprocess.Popen([sys.executable, "-c", STOPPED_RUN, str(tmp_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staged = run.stdout.readline().strip()
    assert staged and (tmp_path / staged).is_dir()
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=30)
    assert run.returncode != 0 and "KeyboardInterrupt: stopped by signal 15 (SIGTERM)" in err
    assert list(tmp_path.iterdir()) == []


def test_sigterm_handling_is_given_back_and_a_programs_own_is_kept(tmp_path):
    import signal

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with Staging.open("local[2]", tmp_path):
        assert signal.getsignal(signal.SIGTERM) is staging_module._sigterm
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def own(signum, frame):
        pass

    signal.signal(signal.SIGTERM, own)
    try:
        with Staging.open("local[2]", tmp_path):
            assert signal.getsignal(signal.SIGTERM) is own
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_the_next_run_removes_what_a_killed_run_staged_and_nothing_else(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    run = subprocess.Popen([sys.executable, "-c", STOPPED_RUN, str(tmp_path)],
                           stdout=subprocess.PIPE, text=True)
    killed = Path(run.stdout.readline().strip())
    run.send_signal(signal.SIGKILL)  # no clean-up can run
    run.wait(timeout=30)
    run.stdout.close()
    assert killed.is_dir()
    mine = staging_module._owner_prefix()
    others = [tmp_path / (mine + "live"),  # this process's: alive
              tmp_path / f"{staging_module.PREFIX}otherhost-{run.pid}-x",  # another host's
              tmp_path / f"{staging_module.PREFIX}oldform"]
    for other in others:
        other.mkdir()
    with Staging.open("local[2]", tmp_path) as staging:
        assert not killed.exists()
        assert sorted(tmp_path.iterdir()) == sorted([*others, staging.path])
        assert staging.path.name.startswith(mine)
    assert sorted(tmp_path.iterdir()) == sorted(others)
    assert os.getpid() != run.pid

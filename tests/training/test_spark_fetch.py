"""The Spark engine's input from any filesystem Spark reads: a data directory by URL, the lines
from a glob (issue 11).

``file://`` URLs go through the same Hadoop filesystem API as ``hdfs://`` or ``s3a://``
(:mod:`features.relational.fetch`); the copy must load as the local directory does, with
the same errors, and leave nothing in the staging directory.
"""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from features.errors import ConfigError, DataError, DataValidationError
from features.loading import load_dataset
from offers.cli import main
from tests.features.test_parquet_parts import (  # noqa: F401 (fixtures)
    hive_data,
    hive_layout,
    parts_data,
    split_into_parts,
)
from tests.training.test_spark_staging import spark_lines
from training.engines import load_for_engine, load_spark


def _load(data_dir, tmp_path, **options):
    """``load_spark`` into a staging directory of ``tmp_path``: the lines, counts, cleaning and
    what the staging held while open; the staging is checked empty after."""
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    data, tables = load_spark(data_dir, spark_master="local[2]", staging_dir=staging, **options)
    try:
        (run,) = staging.iterdir()
        held = sorted(p.relative_to(run).as_posix() for p in run.rglob("*")
                      if p.is_file() and not p.name.startswith((".", "_")))
        got = (spark_lines(tables), data.row_counts(), data.cleaning, held, tables.input_dir)
    finally:
        tables.close()
    assert list(staging.iterdir()) == []
    return got


def test_a_data_directory_by_url_loads_as_the_local_one(spark_con, parts_data,  # noqa: F811
                                                        tmp_path):
    """A ``file://`` URL of a directory with parts (and Spark's ``_SUCCESS``) is copied through
    Spark's filesystem and loads to the same lines, counts and cleaning as the path."""
    lines, counts, cleaning, held, input_dir = _load(parts_data.as_uri(), tmp_path)
    want, want_counts, want_cleaning, _, no_input = _load(parts_data, tmp_path)
    assert len(lines) > 10_000 and no_input is None
    pd.testing.assert_frame_equal(lines, want)
    assert counts == want_counts and cleaning == want_cleaning
    assert input_dir is not None and input_dir.name == "input"
    copied = [h.removeprefix("input/") for h in held if h.startswith("input/")]
    assert sorted(copied) == sorted(
        p.relative_to(parts_data).as_posix() for p in parts_data.rglob("*")
        if p.is_file() and not p.name.startswith("_"))


def test_lines_from_a_glob_of_partitions_load_as_the_single_file(spark_con, synth_data,
                                                                 tmp_path, caplog):
    """Partitions ``date=*/part-*.parquet`` elsewhere, the other tables from the data directory
    (whose own transactions are not read): the same lines as the one file, parts in path order."""
    lake = tmp_path / "lake" / "sales"
    parts = split_into_parts(synth_data / "transactions.parquet", tmp_path / "split", 3)
    for i, part in enumerate(sorted(parts.glob("*.parquet"))):
        (lake / f"date={i}").mkdir(parents=True)
        shutil.copy(part, lake / f"date={i}" / "part-00000.parquet")
    data_dir = tmp_path / "shop"
    shutil.copytree(synth_data, data_dir, ignore=shutil.ignore_patterns("truth"))
    (data_dir / "transactions.parquet").write_bytes(b"not read: the glob replaces it")
    glob = f"{lake.as_uri()}/date=*/*.parquet"
    with caplog.at_level("INFO", logger="features.relational.fetch"):
        got = _load(str(data_dir), tmp_path, transactions=glob)  # a local path beside it
    assert f"fetched 3 of 3 part(s) of {glob}" in caplog.text  # the copy's progress
    assert f"from {data_dir.as_uri()} " in caplog.text  # the local path read as file://
    assert "fetched file:" in caplog.text and "items.parquet: 1 file(s)" in caplog.text
    want = _load(synth_data, tmp_path)
    pd.testing.assert_frame_equal(got[0], want[0])
    assert got[1:3] == want[1:3]
    assert [h for h in got[3] if h.startswith("input/transactions")] == [
        f"input/transactions/part-{i:05d}.parquet" for i in range(3)]
    assert "input/transactions.parquet" not in got[3]


def test_hive_partitions_by_url_and_as_the_lines_load_as_the_single_file(
        spark_con, synth_data, hive_data, tmp_path):  # noqa: F811
    """A data directory by URL whose ``transactions/`` is Hive-partitioned is copied with its
    subdirectories; a partitioned directory given as ``--transactions`` (no glob) gives its
    parts below every level, in path order, without ``_temporary/`` or checksum files."""
    want = _load(synth_data, tmp_path)
    by_url = _load(hive_data.as_uri(), tmp_path)
    pd.testing.assert_frame_equal(by_url[0], want[0])
    assert by_url[1:3] == want[1:3]
    assert [h for h in by_url[3] if h.startswith("input/transactions")] == [
        f"input/transactions/chunk={i:02d}/part-0.parquet" for i in range(3)]
    lake = hive_layout(synth_data / "transactions.parquet", tmp_path / "lake" / "sales")
    # A space and "=" in the data directory's and the staging's paths: Hadoop reads file://
    # URLs unencoded (Path.as_uri()'s "%20" and "%3D" name no file there).
    shop, work = tmp_path / "my shop=1", tmp_path / "run here=1"
    shutil.copytree(hive_data, shop)
    work.mkdir()
    lines = _load(str(shop), work, transactions=lake.as_uri())
    pd.testing.assert_frame_equal(lines[0], want[0])
    assert [h for h in lines[3] if h.startswith("input/transactions")] == [
        f"input/transactions/part-{i:05d}.parquet" for i in range(3)]


def test_where_nothing_can_be_read_the_error_says_so_and_nothing_is_left(spark_con, synth_data,
                                                                        tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()

    def refused(data_dir, error, match, **options):
        with pytest.raises(error, match=match):
            load_spark(data_dir, spark_master="local[2]", staging_dir=staging, **options)
        assert list(staging.iterdir()) == []

    missing = (tmp_path / "nowhere").as_uri()
    refused(missing, DataError,
            f"data directory {re.escape(missing)} does not exist or is not a directory")
    refused("nosuchfs://bucket/shop", ConfigError,
            r"Spark cannot open nosuchfs://bucket/shop: .*No FileSystem for scheme.*Spark needs "
            r"a filesystem for 'nosuchfs'")
    glob = f"{synth_data.as_uri()}/none-*.parquet"
    refused(synth_data.as_uri(), DataError,
            "no file matches the lines' location " + re.escape(glob),
            transactions=glob)
    everything = f"{synth_data.as_uri()}/*"
    refused(synth_data.as_uri(), DataError, r"matches .*, which is not a Parquet file",
            transactions=everything)


@pytest.mark.parametrize("bad", ["unknown items", "a table directory of no parts"])
def test_a_bad_copied_table_gives_the_local_problems(spark_con, make_data_dir, tmp_path, bad):
    data = make_data_dir(items="item_id,category\nA,x\n")  # B and C unknown
    if bad == "a table directory of no parts":  # what a failed job leaves
        (data / "transactions.csv").unlink()
        (data / "transactions" / "_temporary" / "0").mkdir(parents=True)
        (data / "transactions" / "_temporary" / "0" / "part-0.parquet").write_bytes(b"half")
    with pytest.raises(DataValidationError) as want:
        load_dataset(data)
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(DataValidationError) as got:
        load_spark(data.as_uri(), spark_master="local[2]", staging_dir=staging)
    assert [str(p) for p in got.value.problems] == [str(p) for p in want.value.problems]
    assert list(staging.iterdir()) == []


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_url_or_lines_elsewhere_need_spark(synth_data, engine, tmp_path):
    with pytest.raises(ConfigError, match=rf"use engine='spark', not '{engine}'"):
        load_for_engine(engine, synth_data.as_uri())
    with pytest.raises(ConfigError, match=rf"use engine='spark', not '{engine}'"):
        load_for_engine(engine, synth_data, transactions=str(synth_data / "transactions.parquet"))
    for command in ("train", "features"):
        out = tmp_path / "o.parquet"
        extra = ["--as-of", "2025-11-01"] if command == "features" else []
        result = CliRunner().invoke(main, [command, synth_data.as_uri(), "--out", str(out),
                                           "--engine", engine, *extra])
        assert result.exit_code == 2, result.output
        assert "is a URL: it is read through Spark's filesystems, with --engine spark" in (
            result.output)
        result = CliRunner().invoke(main, [command, str(synth_data), "--out", str(out),
                                           "--engine", engine, "--transactions", "x", *extra])
        assert result.exit_code == 2, result.output
        assert "--transactions applies to --engine spark only" in result.output
        result = CliRunner().invoke(main, [command, str(tmp_path / "none"), "--out", str(out),
                                           "--engine", engine, *extra])
        assert result.exit_code == 2, result.output
        assert "is not a directory" in result.output
        assert not out.exists()


def test_the_fingerprint_reads_the_parts_of_a_table_directory(synth_data, parts_data,  # noqa: F811
                                                             tmp_path):
    """Lines kept as parts (as the glob's copy keeps them) are in the fingerprint: a changed
    part changes it, Spark's ``_SUCCESS`` marker does not; a directory of single files
    fingerprints as it did before parts counted (versions trained then still compare)."""
    import hashlib

    from training.artifacts import sha256_file
    from training.pipeline import data_fingerprint

    copy = tmp_path / "data"
    shutil.copytree(parts_data, copy)
    before = data_fingerprint(copy)
    assert before == data_fingerprint(parts_data)
    (copy / "transactions" / "_SUCCESS").write_text("written by another job")
    assert data_fingerprint(copy) == before
    part = sorted((copy / "transactions").glob("*.parquet"))[1]
    pq.write_table(pq.read_table(part).slice(1), part)
    assert data_fingerprint(copy) != before
    old = hashlib.sha256()
    for path in sorted(synth_data.iterdir()):
        if path.is_file() and path.suffix in (".csv", ".parquet"):
            old.update(path.name.encode())
            old.update(sha256_file(path).encode())
    assert data_fingerprint(synth_data) == old.hexdigest()


def test_the_fingerprint_reads_the_parts_of_hive_partitions(hive_data, tmp_path):  # noqa: F811
    """Parts in subdirectories count by their paths: moving a part to another partition or
    changing one changes the fingerprint; an unfinished job's ``_temporary/`` does not."""
    from training.pipeline import data_fingerprint

    copy = tmp_path / "data"
    shutil.copytree(hive_data, copy)
    before = data_fingerprint(copy)
    assert before == data_fingerprint(hive_data)
    (copy / "transactions" / "_temporary" / "0" / "part-9.parquet").write_bytes(b"more")
    assert data_fingerprint(copy) == before
    (copy / "transactions" / "chunk=02").rename(copy / "transactions" / "chunk=03")
    moved = data_fingerprint(copy)
    assert moved != before
    part = copy / "transactions" / "chunk=01" / "part-0.parquet"
    pq.write_table(pq.read_table(part).slice(1), part)
    assert data_fingerprint(copy) not in (before, moved)


def test_the_side_files_come_whole_and_nothing_else(spark_con, synth_data, tmp_path):
    """Every file of ``extras/`` (the Complete Journey importer's campaigns, their categories
    and their items: the offer-response step reads all three) is copied; files the contract
    does not name are not."""
    from features.relational.fetch import fetch_data_dir

    lake = tmp_path / "lake"
    shutil.copytree(synth_data, lake, ignore=shutil.ignore_patterns("truth"))
    side = ["campaigns.parquet", "campaign_categories.parquet", "campaign_items.parquet"]
    (lake / "extras").mkdir()
    for name in side:
        (lake / "extras" / name).write_bytes(name.encode())
    (lake / "notes.txt").write_text("not a table")
    fetched = fetch_data_dir(spark_con._session, lake.as_uri(), tmp_path / "copy")
    got = sorted(p.relative_to(fetched.path).as_posix() for p in fetched.path.rglob("*")
                 if p.is_file() and not p.name.startswith("."))
    tables = sorted(p.name for p in synth_data.glob("*.parquet"))
    assert got == sorted([*tables, *(f"extras/{n}" for n in side)])
    assert all((fetched.path / "extras" / n).read_bytes() == n.encode() for n in side)

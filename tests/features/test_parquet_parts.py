"""A table as a directory of Parquet parts (``transactions/``) loads as its single file does.

On pandas (:func:`features.loading.load_dataset`) and DuckDB
(:func:`features.relational.load_relational`, held equal to pandas); Spark
reads what DuckDB staged (tests/training/test_engines_spark.py).
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.loading import load_dataset
from features.relational import connect, load_relational
from tests.features.test_relational_loading import (
    assert_same_load,
    assert_same_problems,
    problems,
)

NOW = "2026-01-01"


def split_into_parts(table_file, directory, n_parts: int = 3):
    """``table_file`` written as ``n_parts`` parts of ``directory``, named so that name order
    is row order but the parts are written in another order (and Spark's ``_SUCCESS``)."""
    table = pq.read_table(table_file)
    directory.mkdir()
    bounds = np.linspace(0, table.num_rows, n_parts + 1).astype(int)
    for i in reversed(range(n_parts)):
        part = table.slice(bounds[i], bounds[i + 1] - bounds[i])
        pq.write_table(part, directory / f"part-{i:05d}.parquet")
    (directory / "_SUCCESS").write_bytes(b"")
    return directory


@pytest.fixture(scope="module")
def parts_data(synth_data, tmp_path_factory):
    """``synth_data`` with the transactions and offer events as directories of parts."""
    root = tmp_path_factory.mktemp("parts") / "data"
    shutil.copytree(synth_data, root, ignore=shutil.ignore_patterns("truth"))
    for name, directory in (("transactions", "transactions"),
                            ("offer_events", "offer_events.parquet")):
        split_into_parts(root / f"{name}.parquet", root / f"{name}.tmp")
        (root / f"{name}.parquet").unlink()
        (root / f"{name}.tmp").rename(root / directory)
    return root


def test_a_directory_of_parts_loads_as_the_single_file_on_pandas(synth_data, parts_data):
    got, want = load_dataset(parts_data, now=NOW), load_dataset(synth_data, now=NOW)
    assert len(got.transactions) > 10_000 and len(got.offer_events) > 1000
    for name in ("transactions", "offer_events", "members", "items"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)
    assert got.cleaning == want.cleaning


def test_a_directory_of_parts_loads_on_duckdb_as_on_pandas(parts_data):
    assert_same_load(parts_data, now=NOW)


def test_bad_values_in_parts_are_numbered_across_the_parts(tmp_path):
    root = tmp_path / "pq"
    root.mkdir()
    frame = pd.DataFrame({
        "member_id": ["a", "b", "c", "d", "e"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04",
                                     "2024-01-05"]),
        "item_id": ["1", "2", "1", "9", "2"],
        "quantity": [1.0, 1.0, 1.0, np.nan, 1.0],
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
    })
    frame.to_parquet(root / "whole.parquet", index=False)
    split_into_parts(root / "whole.parquet", root / "transactions", n_parts=2)
    (root / "whole.parquet").unlink()
    pd.DataFrame({"item_id": ["1", "2"], "category": ["x", "y"]}).to_parquet(
        root / "items.parquet")
    found = assert_same_problems(root)
    # row 4 is the second part's second row
    assert any("1 item id(s) are not in the items table" in p and "row 4 ('9')" in p
               for p in found), found


def both_loaders(data_dir) -> list[str]:
    want = problems(lambda d: load_dataset(d, now=NOW), data_dir)
    got = problems(lambda d: load_relational(connect(), d, now=NOW), data_dir)
    assert got == want
    return want


def write_parts(directory, *frames):
    directory.mkdir(parents=True)
    for i, frame in enumerate(frames):
        frame.to_parquet(directory / f"part-{i}.parquet", index=False)


LINE = pd.DataFrame({"member_id": ["1"], "timestamp": pd.to_datetime(["2024-01-02"]),
                     "item_id": ["A"], "quantity": [1.0], "amount": [2.0]})


def test_a_directory_without_parts_is_an_error_naming_it(make_data_dir):
    data = make_data_dir()
    (data / "transactions.csv").unlink()
    (data / "transactions").mkdir()
    (data / "transactions" / "_SUCCESS").write_bytes(b"")
    assert both_loaders(data) == [
        "transactions/: holds no *.parquet parts; put the table's Parquet files in it, or "
        "remove the directory."]


def test_csv_beside_parquet_parts_is_an_error_naming_the_file(make_data_dir):
    data = make_data_dir()
    (data / "transactions.csv").unlink()
    write_parts(data / "transactions", LINE)
    (data / "transactions" / "more.csv").write_text("member_id\n1\n")
    assert both_loaders(data) == [
        "transactions/: holds more.csv, which is not a Parquet part; a table directory holds "
        "only *.parquet parts (one format per table)."]


def test_parts_with_other_columns_are_an_error_naming_the_part(make_data_dir):
    data = make_data_dir()
    (data / "transactions.csv").unlink()
    write_parts(data / "transactions", LINE, LINE.drop(columns="quantity"))
    (msg,) = both_loaders(data)
    assert msg.startswith("transactions/part-1.parquet: has columns [member_id ")
    theirs, first = msg.split(" but part-0.parquet has ")
    assert "quantity" not in theirs and ", quantity double, amount double]" in first
    assert msg.endswith("every part of a table needs the same columns and types.")


def test_an_unreadable_part_is_an_error_naming_it(make_data_dir):
    data = make_data_dir()
    (data / "transactions.csv").unlink()
    write_parts(data / "transactions", LINE)
    (data / "transactions" / "part-1.parquet").write_bytes(b"PAR1 not really parquet")
    (msg,) = both_loaders(data)
    assert msg.startswith("transactions/part-1.parquet: cannot be read as Parquet: ")


@pytest.mark.parametrize("directory, names", [
    ("transactions", "transactions.csv and transactions/"),
    ("transactions.parquet", "transactions.parquet/ and transactions.csv")])
def test_a_file_and_a_directory_for_one_table_is_an_error(make_data_dir, directory, names):
    data = make_data_dir()
    write_parts(data / directory, LINE)
    (msg,) = both_loaders(data)
    assert msg == (f"transactions: both {names} exist; keep exactly one file (or directory "
                   "of Parquet parts) per table.")


def test_the_missing_table_message_names_the_directory_form(make_data_dir):
    data = make_data_dir()
    (data / "transactions.csv").unlink()
    (msg,) = both_loaders(data)
    assert "(or a directory transactions/ of Parquet parts)" in msg


def test_a_parquet_schema_is_compared_without_its_metadata(tmp_path):
    """pandas writes its own metadata per part; equal columns are one schema."""
    from features.reading import parquet_parts

    directory = tmp_path / "t"
    write_parts(directory, LINE, LINE.iloc[[0, 0]].reset_index(drop=True))
    table = pa.Table.from_pandas(LINE, preserve_index=False).replace_schema_metadata({})
    pq.write_table(table, directory / "part-2.parquet")
    parts, problem = parquet_parts(directory)
    assert problem is None and [p.name for p in parts] == [
        "part-0.parquet", "part-1.parquet", "part-2.parquet"]


def hive_layout(table_file, directory, key: str = "chunk", n_parts: int = 3):
    """``table_file``'s rows as a Hive-partitioned table: ``directory/<key>=<i>/part-0.parquet``
    (name order is row order), with what writers leave beside the parts: Spark's
    ``_SUCCESS``, a ``_temporary/`` directory of an unfinished job and checksum files."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    flat = split_into_parts(table_file, directory.with_name(directory.name + ".flat"), n_parts)
    for i, part in enumerate(sorted(flat.glob("*.parquet"))):
        (directory / f"{key}={i:02d}").mkdir(parents=True)
        part.rename(directory / f"{key}={i:02d}" / "part-0.parquet")
        (directory / f"{key}={i:02d}" / ".part-0.parquet.crc").write_bytes(b"crc")
    shutil.rmtree(flat)
    (directory / "_SUCCESS").write_bytes(b"")
    (directory / "_temporary" / "0").mkdir(parents=True)
    (directory / "_temporary" / "0" / "part-9.parquet").write_bytes(b"half written")
    return directory


@pytest.fixture(scope="module")
def hive_data(synth_data, tmp_path_factory):
    """``synth_data`` with the transactions as a Hive-partitioned directory."""
    root = tmp_path_factory.mktemp("hive") / "data"
    shutil.copytree(synth_data, root, ignore=shutil.ignore_patterns("truth"))
    hive_layout(root / "transactions.parquet", root / "transactions")
    (root / "transactions.parquet").unlink()
    return root


def test_hive_partitions_load_as_the_single_file_on_both_engines(synth_data, hive_data):
    """Parts in ``chunk=NN/`` subdirectories: the same lines, in path order, as the one file;
    the directory names are not columns (DuckDB would add them unasked)."""
    from features.reading import parquet_parts

    parts, problem = parquet_parts(hive_data / "transactions")
    assert problem is None and [p.relative_to(hive_data).as_posix() for p in parts] == [
        f"transactions/chunk={i:02d}/part-0.parquet" for i in range(3)]
    got, want = load_dataset(hive_data, now=NOW), load_dataset(synth_data, now=NOW)
    pd.testing.assert_frame_equal(got.transactions, want.transactions)
    assert "chunk" not in got.transactions.columns and got.cleaning == want.cleaning
    assert_same_load(hive_data, now=NOW)


def test_a_column_kept_only_in_partition_names_is_named_in_the_error(make_data_dir):
    data = make_data_dir()
    (data / "transactions.csv").unlink()
    for day in ("2024-01-02", "2024-01-03"):
        write_parts(data / "transactions" / f"timestamp={day}", LINE.drop(columns="timestamp"))
    (msg,) = both_loaders(data)
    assert msg.startswith("transactions: missing required column(s) timestamp; the file has ")
    assert msg.endswith("transactions/ holds timestamp only in its subdirectories' names "
                        "(timestamp=...), which are not read as columns; write it into the "
                        "Parquet files.")


def test_a_bad_file_in_a_partition_is_named_by_its_path(make_data_dir):
    data = make_data_dir()
    (data / "transactions.csv").unlink()
    write_parts(data / "transactions" / "day=1", LINE)
    (data / "transactions" / "day=2").mkdir()
    (data / "transactions" / "day=2" / "more.csv").write_text("member_id\n1\n")
    assert both_loaders(data) == [
        "transactions/: holds day=2/more.csv, which is not a Parquet part; a table directory "
        "holds only *.parquet parts (one format per table)."]

"""FrameSink: chunked CSV/Parquet writing, directories of parts, atomicity (issue 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.errors import DataError
from features.frame_sink import FrameSink, check_sink_path
from features.storage import write_frame


def chunks():
    yield pd.DataFrame({"member_id": ["a", "b"], "rank": [1, 2], "score": [0.5, 0.25],
                        "note": ["x", None]})
    yield pd.DataFrame({"member_id": ["c"], "rank": [1], "score": [np.nan], "note": [None]})
    yield pd.DataFrame({"member_id": pd.Series([], dtype=object),
                        "rank": pd.Series([], dtype="int64"),
                        "score": pd.Series([], dtype=float), "note": pd.Series([], dtype=object)})
    yield pd.DataFrame({"member_id": ["d"], "rank": [3], "score": [1.0], "note": ["y"]})


def expected():
    return pd.concat(list(chunks()), ignore_index=True)


def sink_path(tmp_path, kind):
    return {"csv": tmp_path / "out.csv", "parquet": tmp_path / "out.parquet",
            "parts": f"{tmp_path / 'out'}/"}[kind]


def read(path, kind):
    if kind == "csv":
        return pd.read_csv(path, dtype={"member_id": str, "note": object})
    return pd.read_parquet(path)


@pytest.mark.parametrize("kind", ["csv", "parquet", "parts"])
def test_chunks_read_back_as_the_whole_frame(tmp_path, kind):
    path = sink_path(tmp_path, kind)
    with FrameSink(path) as sink:
        for chunk in chunks():
            sink.write(chunk)
    assert sink.rows == 4
    assert [p.name for p in tmp_path.iterdir()] == ["out" if kind == "parts" else path.name]
    whole = tmp_path / ("whole.csv" if kind == "csv" else "whole.parquet")
    write_frame(expected(), whole)  # what the exports wrote before they streamed
    pd.testing.assert_frame_equal(read(path, kind), read(whole, kind))


def test_single_file_matches_a_whole_frame_write(tmp_path):
    with FrameSink(tmp_path / "out.csv") as sink:
        for chunk in chunks():
            sink.write(chunk)
    expected().to_csv(tmp_path / "whole.csv", index=False)
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_parquet_row_groups_and_parts_follow_the_chunks(tmp_path):
    with FrameSink(tmp_path / "out.parquet") as sink:
        for chunk in chunks():
            sink.write(chunk)
    assert pq.ParquetFile(tmp_path / "out.parquet").num_row_groups == 3  # empty chunk skipped
    with FrameSink(f"{tmp_path}/parts/") as sink:
        for chunk in chunks():
            sink.write(chunk)
    names = sorted(p.name for p in (tmp_path / "parts").iterdir())
    assert names == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    schemas = [pq.read_schema(tmp_path / "parts" / n).remove_metadata() for n in names]
    assert all(s.equals(sink.schema.remove_metadata()) for s in schemas)


@pytest.mark.parametrize("kind", ["parquet", "parts"])
def test_an_all_null_chunk_keeps_the_first_chunks_types(tmp_path, kind):
    path = sink_path(tmp_path, kind)
    with FrameSink(path) as sink:
        sink.write(pd.DataFrame({"m": ["a"], "v": [None]}))  # all null: taken as text
        sink.write(pd.DataFrame({"m": ["b"], "v": ["z"]}))
        sink.write(pd.DataFrame({"m": ["c"], "v": [None]}))
    got = read(path, kind)["v"]
    assert got.isna().tolist() == [True, False, True] and got[1] == "z"
    assert sink.schema.field("v").type == pa.string()


def test_a_declared_schema_types_every_chunk(tmp_path):
    schema = pa.schema([("m", pa.string()), ("v", pa.float64())])
    with FrameSink(tmp_path / "out.parquet", schema=schema) as sink:
        sink.write(pd.DataFrame({"m": ["a"], "v": [None]}))
        sink.write(pd.DataFrame({"m": ["b"], "v": [2]}))
    assert pq.read_schema(tmp_path / "out.parquet").field("v").type == pa.float64()


@pytest.mark.parametrize("kind", ["csv", "parquet", "parts"])
def test_an_error_midway_leaves_no_file_and_no_temporary(tmp_path, kind):
    path = sink_path(tmp_path, kind)
    with pytest.raises(RuntimeError, match="boom"), FrameSink(path) as sink:
        sink.write(next(chunks()))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["parquet", "parts"])
def test_a_chunk_that_does_not_fit_is_a_clear_error_and_nothing_is_written(tmp_path, kind):
    path = sink_path(tmp_path, kind)
    with pytest.raises(DataError, match="chunk 2 does not fit the column types"), \
            FrameSink(path) as sink:
        sink.write(pd.DataFrame({"m": ["a"], "v": [1]}))
        sink.write(pd.DataFrame({"m": ["b"], "v": ["not a number"]}))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match=r"chunk 2 has columns \['m'\], expected \['m', 'v'\]"), \
            FrameSink(path) as sink:
        sink.write(pd.DataFrame({"m": ["a"], "v": [1]}))
        sink.write(pd.DataFrame({"m": ["b"]}))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_previous_output(tmp_path):
    path = tmp_path / "out.parquet"
    with FrameSink(path) as sink:
        sink.write(pd.DataFrame({"a": [1]}))
    with pytest.raises(RuntimeError), FrameSink(path) as sink:
        sink.write(pd.DataFrame({"a": [2]}))
        raise RuntimeError
    assert pd.read_parquet(path)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_parts_replace_an_earlier_export_but_never_other_files(tmp_path):
    out = tmp_path / "out"
    for values in ([1, 2], [3]):
        with FrameSink(f"{out}/") as sink:
            sink.write(pd.DataFrame({"a": values}))
    assert pd.read_parquet(out)["a"].tolist() == [3]
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="holds files that are not Parquet parts"):
        FrameSink(f"{out}/").__enter__()
    assert (out / "keep.txt").read_text() == "mine"


def test_no_rows_still_writes_the_columns(tmp_path):
    empty = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    for path in (tmp_path / "e.parquet", f"{tmp_path}/e/"):
        with FrameSink(path) as sink:
            sink.write(empty)
        assert list(pd.read_parquet(path).columns) == ["a"]
    with pytest.raises(DataError, match="no chunk came"), FrameSink(tmp_path / "n.csv"):
        pass
    assert not (tmp_path / "n.csv").exists()


@pytest.mark.parametrize("path, message", [
    ("out.xlsx", "use .csv or .parquet, or end the path with / for a directory"),
    ("out", "use .csv or .parquet, or end the path with /"),
])
def test_bad_paths_say_what_to_write(tmp_path, path, message):
    with pytest.raises(DataError, match=message):
        check_sink_path(tmp_path / path)
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(DataError, match="is a directory; write"):
        check_sink_path(tmp_path / "d.csv")
    (tmp_path / "f").write_text("")
    with pytest.raises(DataError, match="exists and is not a directory"):
        check_sink_path(f"{tmp_path / 'f'}/")

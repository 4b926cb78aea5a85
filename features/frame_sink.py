"""Writing a table chunk by chunk: one CSV or Parquet file, or a directory of Parquet parts.

Batch exports (``offers score``, ``offers recommend --all``) produce their rows
in chunks so that millions of members never sit in one frame. A
:class:`FrameSink` takes those chunks and writes

- ``out.parquet``: one Parquet file, one row group per chunk
  (:class:`pyarrow.parquet.ParquetWriter`);
- ``out.csv``: one CSV file with one header, chunks appended;
- ``out/`` (a path ending with ``/``): a directory of ``part-00000.parquet``,
  ``part-00001.parquet``, ... that ``pandas.read_parquet(out)``, DuckDB or
  Spark read as one table.

Every chunk is cast to the first chunk's schema (or to ``schema`` when given),
so a chunk whose column happens to be all null still fits. Writes are atomic
like :mod:`features.storage`: a temporary sibling is renamed into place when
the block ends without error; on error nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import DataError
from features.storage import FRAME_SUFFIXES, atomic_directory, write_frame_atomic

PART_NAME = "part-{:05d}.parquet"
PART_ROWS = 200_000  # rows per part when a whole frame is split (write_frame_or_parts)
_PART = re.compile(r"part-\d{5,}\.parquet")


def is_parts_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a directory of Parquet parts: it ends with ``/``."""
    text = os.fspath(path)
    return text.endswith("/") or text.endswith(os.sep)


def check_sink_path(path: str | os.PathLike) -> Path:
    """``path`` if a :class:`FrameSink` can write it, else :class:`DataError`.

    A ``.csv``/``.parquet`` file, or a directory written as ``DIR/`` that is
    absent, empty, or holds only ``part-*.parquet`` files of an earlier export
    (never a directory with other content: it would be replaced).
    """
    out = Path(path)
    if is_parts_path(path):
        if out.exists() and not out.is_dir():
            raise DataError(f"{out} exists and is not a directory; choose another output path.")
        if out.is_dir():
            others = [p.name for p in out.iterdir() if not _PART.fullmatch(p.name)]
            if others:
                raise DataError(
                    f"{out}/ holds files that are not Parquet parts ({others[0]!r}, ...); "
                    "choose a new or empty directory for the parts."
                )
        return out
    if out.suffix.lower() not in FRAME_SUFFIXES:
        raise DataError(f"{out}: unsupported file type {out.suffix.lower()!r}; "
                        "use .csv or .parquet, or end the path with / for a directory "
                        "of Parquet parts.")
    if out.is_dir():
        raise DataError(f"{out} is a directory; write {out}/ for Parquet parts in it.")
    return out


class FrameSink:
    """Context manager that writes frames chunk by chunk to ``path`` (see the module doc).

    Parameters
    ----------
    path : path
        ``.csv`` or ``.parquet`` file, or ``DIR/`` for Parquet parts.
    schema : pyarrow.Schema, optional
        The columns and types of every chunk; default: the first chunk's.

    Attributes
    ----------
    rows : int
        Rows written so far.
    parts : int
        Chunks written (row groups, CSV appends or part files).

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> with FrameSink(out) as sink:
    ...     sink.write(pd.DataFrame({"a": [1, 2]}))
    ...     sink.write(pd.DataFrame({"a": [3]}))
    >>> pd.read_parquet(out)["a"].tolist()
    [1, 2, 3]
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema | None = None):
        self.path = path
        self.schema = schema

    def __enter__(self) -> FrameSink:
        self._out = check_sink_path(self.path)
        self._dir_mode = is_parts_path(self.path)
        self._stack = contextlib.ExitStack()
        self._writer = None
        self._columns = None
        self._pending_empty = None
        self.rows = 0
        self.parts = 0
        if self._dir_mode:
            self._tmp = self._stack.enter_context(atomic_directory(self._out, overwrite=True))
        else:
            self._out.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self._out.name}.tmp-",
                                        suffix=self._out.suffix, dir=self._out.parent)
            os.close(fd)
            self._tmp = Path(name)
            self._stack.callback(self._unlink_on_error)
        self._failed = True
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (same columns as the first chunk; cast to its schema)."""
        if self._columns is None:
            self._columns = list(frame.columns)
        elif list(frame.columns) != self._columns:
            raise DataError(f"chunk {self.parts + 1} has columns {list(frame.columns)}, "
                            f"expected {self._columns}.")
        if self._out.suffix.lower() == ".csv" and not self._dir_mode:
            frame.to_csv(self._tmp, index=False, header=self.parts == 0,
                         mode="w" if self.parts == 0 else "a")
        elif len(frame) == 0:
            if self.parts == 0:  # an empty first chunk does not fix the types
                self._pending_empty = frame
            return
        else:
            self._write_parquet(self._table(frame))
        self.parts += 1
        self.rows += len(frame)

    def _write_parquet(self, table: pa.Table) -> None:
        if self._dir_mode:
            pq.write_table(table, self._tmp / PART_NAME.format(self.parts))
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, self.schema)
        self._writer.write_table(table)

    def _table(self, frame: pd.DataFrame) -> pa.Table:
        """``frame`` as an Arrow table of the sink's schema (the first chunk sets it;
        a column of nulls only in it is taken as text)."""
        if self.schema is None:
            schema = pa.Table.from_pandas(frame, preserve_index=False).schema
            for i, field in enumerate(schema):
                if pa.types.is_null(field.type):
                    schema = schema.set(i, field.with_type(pa.string()))
            self.schema = schema
        try:
            return pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise DataError(f"chunk {self.parts + 1} does not fit the column types of the "
                            f"first chunk ({exc}); pass schema= to FrameSink to declare "
                            "them.") from exc

    def _unlink_on_error(self) -> None:
        if self._failed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self._writer is not None:
                self._writer.close()
            if exc_type is None:
                self._finish()
        except BaseException as error:
            self._stack.__exit__(type(error), error, error.__traceback__)
            raise
        return self._stack.__exit__(exc_type, exc, tb)

    def _finish(self) -> None:
        """Complete the temporary output and move it into place."""
        if self.parts == 0 and self._pending_empty is not None:  # no rows: keep the columns
            empty = self._table(self._pending_empty)
            pq.write_table(empty, self._tmp / PART_NAME.format(0) if self._dir_mode
                           else self._tmp)
            self.parts = 1
        if self._dir_mode:
            self._failed = False
            return  # atomic_directory renames on leaving the stack
        if self.parts == 0:
            raise DataError(f"nothing was written to {self._out}: no chunk came.")
        os.replace(self._tmp, self._out)
        self._failed = False


def write_frame_or_parts(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a whole frame to a .csv/.parquet file, or to ``DIR/`` as Parquet parts of
    ``PART_ROWS`` rows (for tools that read a directory of parts)."""
    rows_per_part = PART_ROWS
    if not is_parts_path(path):
        check_sink_path(path)
        write_frame_atomic(frame, path)
        return
    with FrameSink(path) as sink:
        for start in range(0, max(len(frame), 1), rows_per_part):
            sink.write(frame.iloc[start:start + rows_per_part])

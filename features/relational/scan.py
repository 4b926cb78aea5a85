"""A table file of a data directory as DuckDB views, read by DuckDB itself.

The relational twin of :func:`features.reading.read_table_file`: CSV cells are
read as text (so that values can be checked, like the pandas reader's
``dtype=str``), Parquet columns as stored; column names are stripped. Nothing
is read into Python: the views stream the file each time a query runs.

Two views per table:

- ``<table>_raw``: the file's columns under their stripped names;
- ``<table>_rows``: the same plus ``_row``, the 0-based row position in the
  file (Parquet's ``file_row_number``; for CSV a streaming ``row_number()``,
  which DuckDB computes in file order). Only the queries that must name rows
  (error samples, order of first appearance) read it.

A directory of Parquet parts (:func:`features.reading.parquet_parts`) is read
as one table, its parts in name order; ``_row`` then counts across the parts
(each part's ``file_row_number`` plus the rows of the parts before it, from
the parts' metadata), as the pandas reader numbers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from features.contract import Table
from features.errors import Problem
from features.reading import FileRows, encoding_problem, parquet_parts

ROW = "_row"
# The file is whitespace (and a byte-order mark) only below this size: checked directly.
_SMALL_BYTES = 1 << 16


@dataclass(frozen=True)
class Scan(FileRows):
    """One table file as DuckDB views (see the module docstring)."""

    table: Table
    path: Path
    raw: str  # view name: the file's columns, names stripped
    rows: str  # view name: the same plus ``_row``
    types: dict[str, str]  # stripped column name -> DuckDB type, in file order
    tag: str = ""  # suffix of every view and table name of one load

    def named(self, base: str) -> str:
        """The name of this load's relation ``base`` (loads on one connection do not clash)."""
        return f"{base}_{self.tag}" if self.tag else base


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


#: Parts are read as files: DuckDB would otherwise make a Hive partition's directory names
#: (``date=2017-01-01/``) columns, which pandas and Spark's staged copy do not have.
_AS_FILES = "hive_partitioning = false"


def scan_table(con, path: Path, table: Table, tag: str = "") -> tuple[Scan | None, Problem | None]:
    """Views over ``path`` in DuckDB connection ``con`` (raw ``duckdb`` connection).

    ``tag`` suffixes the view names, so that several loads can share a connection.

    Returns the scan, or the problem that keeps the file from being read at all
    (the same problems as :func:`features.reading.read_table_file`).
    """
    is_csv = path.suffix.lower() == ".csv" and not path.is_dir()
    if is_csv and _blank(path):
        return None, Problem(path.name, "the file is empty; it needs a header line and rows.")
    parts = [path]
    if path.is_dir():
        parts, problem = parquet_parts(path)
        if problem:
            return None, problem
    files = "[" + ", ".join(literal(str(p)) for p in parts) + "]"
    source = _csv_source(path) if is_csv else f"read_parquet({files}, {_AS_FILES})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except Exception as exc:  # duckdb's error classes vary by cause
        text = str(exc)
        if is_csv and "unicode" in text.lower():
            return None, encoding_problem(path)
        kind = "CSV" if is_csv else "Parquet"
        return None, Problem(path.name, f"cannot be read as {kind}: {_first_line(text)}")
    names = [(row[0], str(row[0]).strip(), row[1]) for row in described]
    # pandas reads CSV with skipinitialspace: leading spaces go, and a blank cell is missing.
    cell = "NULLIF(ltrim({}, ' '), '')" if is_csv else "{}"
    select = ", ".join(f"{cell.format(quote(orig))} AS {quote(name)}" for orig, name, _ in names)
    suffix = f"_{tag}" if tag else ""
    raw, rows = f"{table.name}_raw{suffix}", f"{table.name}_rows{suffix}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(raw)} AS SELECT {select} FROM {source}")
    if is_csv:
        numbered = f"SELECT row_number() OVER () - 1 AS {ROW}, * FROM {quote(raw)}"
    else:
        numbered = _numbered_parts(parts, files, select)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(rows)} AS {numbered}")
    return Scan(table, path, raw, rows, {name: kind for _, name, kind in names}, tag), None


def _numbered_parts(parts: list[Path], files: str, select: str) -> str:
    """The rows of Parquet ``parts`` with ``_row`` counted across them, in name order: each
    part's ``file_row_number`` plus the rows of the parts before it (from their metadata,
    joined on the file name: one hash lookup per row, however many parts)."""
    if len(parts) == 1:
        with_rows = f"read_parquet({files}, {_AS_FILES}, file_row_number = true)"
        return f"SELECT file_row_number AS {ROW}, {select} FROM {with_rows}"
    import pyarrow.parquet as pq

    offsets, before = [], 0
    for part in parts:
        offsets.append(f"({literal(str(part))}, {before})")
        before += pq.ParquetFile(part).metadata.num_rows
    with_rows = f"read_parquet({files}, {_AS_FILES}, file_row_number = true, filename = true)"
    values = f"(VALUES {', '.join(offsets)}) AS o(_offers_part, _offers_first_row)"
    return (f"SELECT file_row_number + o._offers_first_row AS {ROW}, {select} "
            f"FROM {with_rows} JOIN {values} ON filename = o._offers_part")


def _csv_source(path: Path) -> str:
    # Every cell as text; short rows padded with missing values (as pandas does).
    return (
        f"read_csv({literal(str(path))}, header = true, all_varchar = true, delim = ',', "
        "quote = '\"', escape = '\"', null_padding = true, encoding = 'utf-8')"
    )


def _blank(path: Path) -> bool:
    if path.stat().st_size > _SMALL_BYTES:
        return False
    text = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    return not text.strip()


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "unreadable"

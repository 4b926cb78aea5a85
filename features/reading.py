"""Finding and reading the raw files of a data directory.

Reading is separate from checking: this module only turns files into raw
frames (CSV cells as strings, Parquet columns as stored) and reports files it
cannot read at all. :mod:`features.validation` parses and checks the values.

A table is one file (``transactions.csv`` or ``transactions.parquet``) or a
directory of Parquet parts (``transactions/`` or ``transactions.parquet/``, as
Spark and DuckDB write them): its ``*.parquet`` files, read in name order, must
share one schema; names starting with ``_`` or ``.`` (``_SUCCESS``, checksums)
are skipped. Parts may sit in subdirectories, as a lake's Hive-partitioned
tables do (``transactions/date=2017-01-01/part-0.parquet``): they are read in
the order of their paths, and the directory names are not columns (every
column the contract names must be in the files themselves). Rows of a directory
are numbered across its parts in that order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract import FILE_SUFFIXES, Table
from features.errors import Problem

logger = logging.getLogger(__name__)

MAX_BAD_LINES_SHOWN = 3


class FileRows:
    """Where a table's rows sit in its file (for messages): CSV lines, the header being
    line 1, or 1-based Parquet rows. Mixed into classes with a ``path``."""

    @property
    def is_csv(self) -> bool:
        return self.path.suffix.lower() == ".csv"

    @property
    def row_label(self) -> str:
        return "line" if self.is_csv else "row"

    def row_numbers(self, positions) -> tuple[int, ...]:
        """File row numbers for 0-based positions: CSV lines (header is line 1) or 1-based rows."""
        offset = 2 if self.is_csv else 1
        return tuple(int(p) + offset for p in positions)


@dataclass
class RawTable(FileRows):
    """A table as read from its file, before any parsing."""

    table: Table
    path: Path
    frame: pd.DataFrame


def find_table_file(data_dir: Path, table: Table) -> tuple[Path | None, Problem | None]:
    """Return the file (or directory of Parquet parts) holding ``table`` in ``data_dir``, or a
    problem when missing/ambiguous."""
    found = [data_dir / f"{table.name}{s}" for s in FILE_SUFFIXES]
    found = [p for p in found if p.is_file() or (p.suffix == ".parquet" and p.is_dir())]
    if (data_dir / table.name).is_dir():
        found.append(data_dir / table.name)
    if len(found) > 1:
        names = " and ".join(p.name + ("/" if p.is_dir() else "") for p in found)
        return None, Problem(
            table.name, f"both {names} exist; keep exactly one file (or directory of "
            "Parquet parts) per table."
        )
    if not found:
        if table.required:
            return None, Problem(
                f"{table.name}.csv",
                f"required table '{table.name}' is missing: put {table.name}.csv or "
                f"{table.name}.parquet in {data_dir} (or a directory {table.name}/ of "
                "Parquet parts).",
            )
        return None, None
    return found[0], None


def not_data(name: str) -> bool:
    """Whether a file or directory of a table directory is left out: its name starts with
    ``_`` or ``.`` (``_SUCCESS``, checksums, an unfinished job's ``_temporary/``)."""
    return name.startswith(("_", "."))


def part_files(path: Path) -> list[Path]:
    """Every file of a table directory, subdirectories (Hive partitions) included, in the
    order of their paths below it; what :func:`not_data` names is left out at every
    level."""
    found = []
    for entry in sorted(path.iterdir()):
        if not_data(entry.name):
            continue
        found += part_files(entry) if entry.is_dir() else [entry]
    return found


def parquet_parts(path: Path) -> tuple[list[Path], Problem | None]:
    """The Parquet parts of a table directory (:func:`part_files`), or the problem with them.

    Problems: no parts, a file that is not a part (``.csv`` beside the parts:
    keep one format), parts whose schemas differ (named, with the first part).
    """
    label = f"{path.name}/"
    entries = part_files(path)
    others = [p for p in entries if p.suffix.lower() != ".parquet"]
    if others:
        return [], Problem(label, f"holds {_below(others[0], path)}, which is not a Parquet "
                           "part; a table directory holds only *.parquet parts (one format per "
                           "table).")
    if not entries:
        return [], Problem(label, "holds no *.parquet parts; put the table's Parquet files "
                           "in it, or remove the directory.")
    schemas = []
    for part in entries:
        try:
            schemas.append(pq.read_schema(part))
        except (pa.ArrowInvalid, OSError) as exc:
            return [], Problem(f"{label}{_below(part, path)}",
                               f"cannot be read as Parquet: {_first_line(exc)}")
        if not schemas[-1].equals(schemas[0]):
            return [], Problem(
                f"{label}{_below(part, path)}",
                f"has columns {_columns(schemas[-1])} but {_below(entries[0], path)} has "
                f"{_columns(schemas[0])}; every part of a table needs the same columns and types.",
            )
    return entries, None


def _below(part: Path, directory: Path) -> str:
    """``part``'s path below ``directory``, with ``/`` (its name, for a part directly in it)."""
    return part.relative_to(directory).as_posix()


def partition_note(path: Path, missing: list[str]) -> str:
    """For a missing-column message: the missing columns that a table directory names only
    in its subdirectories (Hive partitions, ``timestamp=.../``), which are not read."""
    if not path.is_dir():
        return ""
    keys = {name.split("=", 1)[0] for part in part_files(path)
            for name in part.relative_to(path).parts[:-1] if "=" in name}
    named = [c for c in missing if c in keys]
    if not named:
        return ""
    return (f" {path.name}/ holds {', '.join(named)} only in its subdirectories' names "
            f"({named[0]}=...), which are not read as columns; write "
            f"{'them' if len(named) > 1 else 'it'} into the Parquet files.")


def read_parts(parts: list[Path]) -> pd.DataFrame:
    """The rows of Parquet ``parts``, in order, as one frame. Each part is read as a file,
    so directory names (``date=2017-01-01/``) never become columns."""
    tables = [pq.ParquetFile(part).read() for part in parts]
    return pa.concat_tables(tables).to_pandas()


def _columns(schema: pa.Schema) -> str:
    return "[" + ", ".join(f"{f.name} {f.type}" for f in schema) + "]"


def read_table_file(path: Path, table: Table) -> tuple[RawTable | None, Problem | None]:
    """Read one table file (or directory of Parquet parts); CSV cells are kept as strings so
    values can be checked."""
    if path.is_dir():
        parts, problem = parquet_parts(path)
        if problem:
            return None, problem
    try:
        if path.is_dir():
            frame = read_parts(parts)
        elif path.suffix.lower() == ".csv":
            frame = _read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError:
        return None, encoding_problem(path)
    except pd.errors.EmptyDataError:
        return None, Problem(path.name, "the file is empty; it needs a header line and rows.")
    except (pa.ArrowInvalid, OSError, ValueError, pd.errors.ParserError) as exc:
        kind = "CSV" if path.suffix.lower() == ".csv" else "Parquet"
        return None, Problem(path.name, f"cannot be read as {kind}: {_first_line(exc)}")
    frame.columns = [str(c).strip() for c in frame.columns]
    logger.info("read %s: %d rows, %d columns", path.name, len(frame), frame.shape[1])
    return RawTable(table, path, frame), None


def _read_csv(path: Path) -> pd.DataFrame:
    # utf-8-sig accepts files with and without a byte-order mark.
    return pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        encoding="utf-8-sig",
        skipinitialspace=True,
    )


def encoding_problem(path: Path) -> Problem:
    bad_lines: list[int] = []
    count = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                count += 1
                if len(bad_lines) < MAX_BAD_LINES_SHOWN:
                    bad_lines.append(number)
    return Problem(
        path.name,
        "is not valid UTF-8 text; re-export it as UTF-8 (for example "
        "`iconv -f latin1 -t utf-8`).",
        rows=tuple(bad_lines),
        count=count,
        row_label="line",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

"""``--engine auto``: the engine a training run needs, chosen from the data's size.

pandas holds every purchase line in memory and is the fastest while they fit
(the Complete Journey's 1.5M lines); DuckDB reads and aggregates them out of
core, so memory stops growing with the lines (1M synthetic members, 101M
lines: about 3 GiB on DuckDB against about 14 GiB on pandas). ``auto`` picks:

- ``spark`` when the data directory is a URL (only Spark's filesystems read
  it) or a Spark option was given;
- ``duckdb`` when ``--memory-limit`` was given (the user asked for a bound), or
  when the transactions hold more than :data:`AUTO_MAX_LINES` lines;
- ``pandas`` otherwise.

The lines are counted without reading them: a Parquet file's (or its parts')
row counts from the footers; a CSV file's estimated from its size and the lines
of its first MiB. A directory without a readable transactions table gets
pandas, whose loader then says what is wrong.

Imports: :mod:`features` only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from features.contract import TABLES
from features.reading import find_table_file, parquet_parts
from features.relational.fetch import is_url

logger = logging.getLogger(__name__)

#: Above this many transaction lines ``auto`` trains on DuckDB (bench/RESULTS.md,
#: "The engine ``auto`` picks").
AUTO_MAX_LINES = 5_000_000
#: The bytes a CSV line count is estimated from.
_SAMPLE_BYTES = 1 << 20


@dataclass(frozen=True)
class EngineChoice:
    """The engine ``auto`` chose, and why, in words for the log and the CLI."""

    engine: str
    reason: str


def choose_engine(data_dir, *, memory_limit: str | None = None,
                  spark: bool = False) -> EngineChoice:
    """The engine for a run on ``data_dir`` (see the module docstring).

    Parameters
    ----------
    data_dir : str or Path
    memory_limit : str, optional
        The DuckDB memory limit asked for, if any.
    spark : bool
        A Spark setting was given (master, staging directory, settings, lines elsewhere).
    """
    if is_url(data_dir):
        return EngineChoice("spark", "the data directory is a URL, read through Spark's "
                            "filesystems")
    if spark:
        return EngineChoice("spark", "Spark options were given")
    if memory_limit:
        return EngineChoice("duckdb", f"a memory limit ({memory_limit}) was given: out of core")
    counted = count_lines(data_dir)
    if counted is None:
        return EngineChoice("pandas", "the transactions could not be counted")
    lines, exact = counted
    said = f"{lines:,}" if exact else f"about {lines:,}"
    if lines > AUTO_MAX_LINES:
        return EngineChoice("duckdb", f"{said} transaction lines, more than "
                            f"{AUTO_MAX_LINES:,}: out of core")
    return EngineChoice("pandas", f"{said} transaction lines, at most {AUTO_MAX_LINES:,}: "
                        "in memory")


def count_lines(data_dir) -> tuple[int, bool] | None:
    """``(lines, exact)``: the transaction lines of ``data_dir``, exact for Parquet and for a
    CSV file of at most a MiB, else estimated; None when there is no single readable
    transactions table."""
    path, problem = find_table_file(Path(data_dir), TABLES["transactions"])
    if path is None or problem is not None:
        return None
    try:
        if path.is_dir():
            parts, problem = parquet_parts(path)
            if problem is not None:
                return None
            return sum(_parquet_rows(p) for p in parts), True
        if path.suffix.lower() == ".parquet":
            return _parquet_rows(path), True
        return _csv_lines(path)
    except OSError:
        return None
    except Exception as exc:  # pyarrow's ArrowInvalid for a file that is not Parquet
        logger.debug("transactions of %s not counted: %s", data_dir, exc)
        return None


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _csv_lines(path: Path) -> tuple[int, bool]:
    """Data lines of a CSV file (the header left out): counted in a file of at most
    :data:`_SAMPLE_BYTES`, else the file's size over the mean length of its first lines."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(_SAMPLE_BYTES)
    newlines = head.count(b"\n")
    if size <= _SAMPLE_BYTES:
        rows = newlines + (len(head) > 0 and not head.endswith(b"\n"))
        return max(rows - 1, 0), True
    return max(int(size / (len(head) / max(newlines, 1))) - 1, 0), False

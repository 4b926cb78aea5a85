"""A DuckDB connection (through Ibis) with a memory limit and a spill directory."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref

import ibis

from features.errors import ConfigError


def connect(
    *,
    memory_limit: str | None = None,
    temp_directory: str | os.PathLike | None = None,
    threads: int | None = None,
):
    """An in-process DuckDB backend.

    Parameters
    ----------
    memory_limit : str, optional
        DuckDB's ``memory_limit`` (``"2GB"``, ``"500MB"``); above it joins,
        aggregations and sorts spill to ``temp_directory``.
    temp_directory : path, optional
        Where DuckDB spills. Default: a new directory of this connection's own
        under the system's temporary directory (``TMPDIR``), removed with the
        connection. DuckDB's own default, ``.tmp`` in the working directory, is
        shared by every run started there, and one run closing removed the
        files another was spilling to (two trainings from one directory).
    threads : int, optional
        Worker threads (default: one per core).

    Raises
    ------
    ConfigError
        When DuckDB refuses a setting (e.g. ``memory_limit="lots"``).
    """
    con = ibis.duckdb.connect()
    # Results are sorted where order matters; not keeping insertion order lets
    # DuckDB stream and spill more under a memory limit.
    con.raw_sql("SET preserve_insertion_order = false")
    con.raw_sql("SET enable_progress_bar = false")  # library code: no bars on the terminal
    # DuckDB's jemalloc keeps what a query freed until later allocations purge it: a
    # training run then carries hundreds of MB of it into the pandas steps that follow
    # (200k members: 1,343 MiB resident after the recommendations step, 776 MiB with this
    # on; bench/RESULTS.md). Background threads hand it back to the system as it is freed.
    con.raw_sql("SET allocator_background_threads = true")
    if temp_directory is None:
        temp_directory = tempfile.mkdtemp(prefix="offers-duckdb-")
        weakref.finalize(con, shutil.rmtree, temp_directory, ignore_errors=True)
    settings = {
        "memory_limit": memory_limit,
        "temp_directory": str(temp_directory),
        "threads": threads,
    }
    for name, value in settings.items():
        if value is None:
            continue
        try:
            con.raw_sql(f"SET {name} = '{_quoted(value)}'")
        except Exception as exc:  # duckdb's own error types vary by setting
            raise ConfigError(
                f"DuckDB refused {name}={value!r}: {exc}; pass e.g. memory_limit='2GB'."
            ) from exc
    return con


def _quoted(value) -> str:
    return str(value).replace("'", "''")

"""A DuckDB connection (through Ibis) with a memory limit and a spill directory."""

from __future__ import annotations

import os

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
        Where DuckDB spills (default: DuckDB's own, next to the database).
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
    settings = {
        "memory_limit": memory_limit,
        "temp_directory": None if temp_directory is None else str(temp_directory),
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

"""The engine a training run's per-line steps run on: pandas (in memory) or DuckDB.

With ``engine="duckdb"`` :func:`training.pipeline.train` opens one
:class:`EngineTables` (a DuckDB connection with the run's lines registered
once) and runs on it, as Ibis expressions (:mod:`features.relational`), the
member and item features (:func:`duckdb_features`, step "features"), the churn
and value windows (:func:`models.lifecycle.engine_windows.make_engine_windows`,
step "windows") and the report's program KPIs
(:func:`features.relational.program_kpis`). The results are the frames the
pandas code gives (parity tests). The other steps still read the loaded lines
in pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

ENGINES = ("pandas", "duckdb")


@dataclass
class EngineTables:
    """An open engine with a data set's canonical tables: the lines and events on the
    engine (Ibis tables), the small tables as pandas frames."""

    con: Any
    lines: Any
    offer_events: Any
    small: dict

    def close(self) -> None:
        self.con.disconnect()


def open_duckdb(dataset, *, memory_limit: str | None = None) -> EngineTables:
    """A DuckDB connection with ``dataset``'s lines and offer events registered."""
    from features.relational import connect, tables_from_dataset

    con = connect(memory_limit=memory_limit)
    tables = tables_from_dataset(con, dataset)
    small = {"items": dataset.items, "members": dataset.members,
             "offer_events": dataset.offer_events}
    return EngineTables(con, tables["transactions"], tables["offer_events"], small)


def duckdb_features(
    dataset, as_of: pd.Timestamp, cfg: dict, *, memory_limit: str | None = None,
    tables: EngineTables | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(member features, item features)`` of ``dataset`` as of ``as_of``, on DuckDB.

    On ``tables`` when given (left open), else on a connection of its own.
    """
    from features.relational import item_features, member_features

    own = tables is None
    tables = open_duckdb(dataset, memory_limit=memory_limit) if own else tables
    try:
        members = member_features(
            tables.lines, tables.small, as_of, n_categories=cfg["n_categories"],
            trend_days=cfg["trend_days"]
        )
        items = item_features(tables.lines, dataset.items, as_of)
    finally:
        if own:
            tables.close()
    return members, items

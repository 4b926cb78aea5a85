"""The engine a training run's per-line steps run on: pandas (in memory), DuckDB or Spark.

With ``engine="duckdb"`` or ``"spark"`` :func:`training.pipeline.train` opens
one :class:`EngineTables` (a DuckDB connection, or a Spark session on a local
or cluster master, with the run's lines registered once) and runs there, as
Ibis expressions (:mod:`features.relational`): the member and item features
(:func:`engine_features`, step "features"), the churn and value windows
(:func:`models.lifecycle.make_engine_windows`, step "windows"), the
purchase-cycle summary (step "horizons"), the recommenders' interactions and
holdout truths (step "recommendations",
:class:`models.recommenders.EngineLines`) and the report's program KPIs
(:func:`features.relational.program_kpis`). The results are the frames the
pandas code gives (parity tests). The offer-response and uplift steps fetch
only their member sample's lines (:meth:`EngineTables.member_dataset`, through
:mod:`training.member_steps`) and score every member's uplift on the engine.
The other steps still read the loaded lines in pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

ENGINES = ("pandas", "duckdb", "spark")


@dataclass
class EngineTables:
    """An open engine with a data set's canonical tables: the lines and events on the
    engine (Ibis tables), the small tables as pandas frames."""

    con: Any
    lines: Any
    offer_events: Any
    small: dict
    owns_session: bool = True  # False: a Spark session that was running before is left so

    def member_dataset(self, member_ids=None):
        """A pandas :class:`~features.dataset.Dataset` of ``member_ids``' lines, events and
        member rows (default every member): for the steps that learn from a member sample
        (:func:`features.relational.frames.member_dataset`)."""
        from features.relational.frames import member_dataset

        return member_dataset(self.con, self.lines, self.small, member_ids)

    def close(self) -> None:
        if self.owns_session:
            self.con.disconnect()


def open_engine(engine: str, dataset, *, memory_limit: str | None = None,
                spark_master: str | None = None) -> EngineTables:
    """``dataset``'s lines and offer events registered on a new DuckDB connection
    (``engine="duckdb"``, spilling above ``memory_limit``) or Spark session
    (``engine="spark"``, ``spark_master`` or ``local[*]``)."""
    from features.relational import connect, tables_from_dataset

    owns = True
    if engine == "spark":
        from features.relational.spark import DEFAULT_MASTER, connect_spark, session_running

        owns = not session_running()
        con = connect_spark(spark_master or DEFAULT_MASTER)
    else:
        con = connect(memory_limit=memory_limit)
    tables = tables_from_dataset(con, dataset)
    small = {"items": dataset.items, "members": dataset.members,
             "offer_events": dataset.offer_events}
    return EngineTables(con, tables["transactions"], tables["offer_events"], small, owns)


def engine_features(tables: EngineTables, as_of: pd.Timestamp,
                    cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(member features, item features)`` as of ``as_of`` on an open engine."""
    from features.relational import item_features, member_features

    members = member_features(tables.lines, tables.small, as_of,
                              n_categories=cfg["n_categories"], trend_days=cfg["trend_days"])
    return members, item_features(tables.lines, tables.small["items"], as_of)


def duckdb_features(
    dataset, as_of: pd.Timestamp, cfg: dict, *, memory_limit: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(member features, item features)`` of ``dataset`` as of ``as_of``, on DuckDB."""
    tables = open_engine("duckdb", dataset, memory_limit=memory_limit)
    try:
        return engine_features(tables, as_of, cfg)
    finally:
        tables.close()


def spark_features(
    dataset, as_of: pd.Timestamp, cfg: dict, *, master: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(member features, item features)`` of ``dataset`` as of ``as_of``, on Spark.

    ``master`` defaults to ``local[*]``; a session this call starts is stopped at
    the end, one already running in the process is left running.
    """
    tables = open_engine("spark", dataset, spark_master=master)
    try:
        return engine_features(tables, as_of, cfg)
    finally:
        tables.close()

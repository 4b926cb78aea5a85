"""The engine a training run builds its features on: pandas (in memory), DuckDB or Spark.

:func:`duckdb_features` is the ``features`` step of :func:`training.pipeline.train`
with ``engine="duckdb"``: the per-line aggregations of the member and item
features run as Ibis expressions on DuckDB (:mod:`features.relational`); the
result is the same frames the pandas builders give. :func:`spark_features` runs
the same expressions on Spark (``engine="spark"``, a local or a cluster master).
"""

from __future__ import annotations

from contextlib import nullcontext

import pandas as pd

ENGINES = ("pandas", "duckdb", "spark")


def duckdb_features(
    dataset, as_of: pd.Timestamp, cfg: dict, *, memory_limit: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(member features, item features)`` of ``dataset`` as of ``as_of``, on DuckDB."""
    from features.relational import connect, item_features, member_features, tables_from_dataset

    con = connect(memory_limit=memory_limit)
    try:
        lines = tables_from_dataset(con, dataset)["transactions"]
        members = member_features(
            lines, dataset, as_of, n_categories=cfg["n_categories"], trend_days=cfg["trend_days"]
        )
        items = item_features(lines, dataset.items, as_of)
    finally:
        con.disconnect()
    return members, items


def spark_features(
    dataset, as_of: pd.Timestamp, cfg: dict, *, master: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(member features, item features)`` of ``dataset`` as of ``as_of``, on Spark.

    ``master`` defaults to ``local[*]``; a session this call starts is stopped
    at the end (:func:`features.relational.spark.spark_backend`).
    """
    from features.relational import item_features, member_features, tables_from_dataset
    from features.relational.spark import spark_backend

    with spark_backend(master) as con:
        lines = tables_from_dataset(con, dataset)["transactions"]
        members = member_features(
            lines, dataset, as_of, n_categories=cfg["n_categories"], trend_days=cfg["trend_days"]
        )
        items = item_features(lines, dataset.items, as_of)
    return members, items


def engine_session(engine: str, spark_master: str | None = None):
    """A context holding the engine's session for a whole training run.

    On Spark, one session serves the features and the recommender's MLlib ALS
    (started here, stopped at the end; one already running is kept); the other
    engines need none.
    """
    if engine != "spark":
        return nullcontext()
    from features.relational.spark import spark_backend

    return spark_backend(spark_master)

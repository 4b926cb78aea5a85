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
pandas code gives (parity tests). The offer-response and uplift steps choose
their member samples from per-member answers of the engine, fetch only their
sample's lines and offer events (:meth:`EngineTables.member_dataset`, through
:mod:`training.member_steps`) and score every member's uplift on the engine.
No step brings every offer event into pandas either
(:mod:`features.relational.event_queries`).

:func:`load_for_engine` is the step "load and validate": on DuckDB the data
directory is read, checked and cleaned by DuckDB itself
(:func:`features.relational.load_relational`, on the run's one connection with
its memory limit) and the lines never come into pandas; on Spark DuckDB does
the same, then stages the cleaned lines and offer events as Parquet files that
Spark reads (:mod:`features.relational.staging`: a temporary directory for a
local master, ``staging_dir`` for a cluster, removed when the run ends). In
engine mode the steps read only the :class:`EngineTables` (the lines and events
on the engine, the small tables in ``small``, a member sample's
:meth:`EngineTables.member_dataset`) and the run's dataset's cleaning report,
row counts and small tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

ENGINES = ("pandas", "duckdb", "spark")


#: The name of the basket rows' table on DuckDB (:meth:`EngineTables.basket_rows`).
BASKET_ROWS = "engine_basket_rows"


@dataclass
class EngineTables:
    """An open engine with a data set's canonical tables: the lines and events on the
    engine (Ibis tables), the small tables as pandas frames.

    ``small`` holds ``items``, ``members``, ``offers`` and ``offer_events``: the
    events are the engine's table when the engine loaded the data
    (:func:`load_for_engine`), a pandas frame when a loaded pandas data set was
    registered (:func:`open_engine`); every reader takes either.
    """

    con: Any
    lines: Any
    offer_events: Any
    small: dict
    owns_session: bool = True  # False: a Spark session that was running before is left so
    staging: Any = None  # the Spark load's staged files (features.relational.staging.Staging)
    # On DuckDB, the features' (member, department, category) spend as of the run's cutoff
    # (features.relational.purchases.SpendPairs), staged on disk for the uplift scoring's
    # category shares: the lines are grouped once for both. Released by its last reader.
    spend: Any = None
    # The recommenders' distinct (member, item) pairs per member and per item as of their
    # cutoff (training.feature_pairs.StagedPairs), so the features step does not group
    # the lines into pairs again. Taken by the features step.
    pairs: Any = None
    # On DuckDB, the lines summed per (member, basket, time) (features.relational.purchases.
    # basket_rows), made by the first reader (basket_rows()) and kept to the end.
    baskets: Any = None
    # On Spark from a URL (load_spark): the local copy of the data directory, in the staging.
    input_dir: Any = None

    def basket_rows(self):
        """The lines as :func:`features.relational.purchases.basket_rows` for the queries
        that need no item (program KPIs, the members' baskets, the purchase-cycle summary).

        On DuckDB they are computed once into a Parquet file of DuckDB's temporary
        directory (:func:`~features.relational.portable.stage`: a table kept in DuckDB's
        buffers would hold up to its memory limit beside every member step), about a
        fifth of the lines' rows, removed by :meth:`close`. On Spark, the lines
        themselves."""
        import ibis

        from features.relational.portable import stage
        from features.relational.purchases import basket_rows

        if ibis.get_backend(self.lines).name != "duckdb":
            return self.lines
        if self.baskets is None:
            self.baskets = stage(basket_rows(self.lines), BASKET_ROWS)
        return self.baskets

    def release_baskets(self) -> None:
        """Drop the basket rows' file (:meth:`basket_rows`), if any."""
        baskets, self.baskets = self.baskets, None
        if baskets is not None:
            import ibis

            from features.relational.portable import unstage

            unstage(ibis.get_backend(baskets), BASKET_ROWS)

    def member_dataset(self, member_ids=None):
        """A pandas :class:`~features.dataset.Dataset` of ``member_ids``' lines, events and
        member rows (default every member): for the steps that learn from a member sample
        (:func:`features.relational.frames.member_dataset`: only their lines and events
        are fetched from the engine)."""
        from features.relational.frames import member_dataset

        return member_dataset(self.con, self.lines, self.small, member_ids)

    def release_spend(self) -> None:
        """Drop the staged spend pairs (:attr:`spend`), if any."""
        spend, self.spend = self.spend, None
        if spend is not None:
            spend.release()

    def close(self) -> None:
        try:
            self.release_spend()
            self.release_baskets()
            if self.owns_session:
                self.con.disconnect()
        finally:
            if self.staging is not None:
                self.staging.remove()


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
             "offer_events": dataset.offer_events, "offers": dataset.offers}
    return EngineTables(con, tables["transactions"], tables["offer_events"], small, owns)


def open_relational(con, data) -> EngineTables:
    """The :class:`EngineTables` of a data directory DuckDB loaded on ``con``
    (:func:`features.relational.load_relational`): its views, no copy. The offer
    events stay there too (``small["offer_events"]`` is the engine's table: the
    steps ask for reductions of them, and a member sample's rows, never every
    event: 45M rows at 3M synthetic members)."""
    small = {"items": data.items, "members": data.members,
             "offer_events": data.offer_events, "offers": data.offers}
    return EngineTables(con, data.transactions, data.offer_events, small)


def load_for_engine(engine: str, data_dir, *, memory_limit: str | None = None,
                    spark_master: str | None = None, staging_dir=None,
                    spark_conf: dict | None = None,
                    transactions: str | None = None) -> tuple[Any, EngineTables | None]:
    """``(dataset, tables)`` of ``data_dir`` for a training run on ``engine``.

    ``pandas``: the pandas loader's :class:`~features.dataset.Dataset`, no
    tables. ``duckdb``: the :class:`~features.relational.RelationalData` DuckDB
    loaded on a new connection (spilling above ``memory_limit``) and its
    tables on that connection. ``spark``: the same load on DuckDB, its cleaned
    lines and events staged as Parquet under ``staging_dir`` (default: a
    temporary directory; required for a cluster master) and read by a Spark
    session on ``spark_master`` with the settings ``spark_conf`` (:func:`load_spark`;
    there ``data_dir`` may be a URL Spark reads, and ``transactions`` the lines'
    location instead of ``data_dir``'s).

    Raises
    ------
    ConfigError
        An unknown ``engine`` (before anything is read), a setting DuckDB
        refuses, a Spark cluster master without ``staging_dir``, or a URL or
        ``transactions`` on another engine than Spark.
    DataValidationError
        As :func:`features.loading.load_dataset` (the same problems on DuckDB).
    """
    from features.errors import ConfigError
    from features.loading import load_dataset

    if engine not in ENGINES:
        raise ConfigError(f"engine={engine!r} is not one of 'pandas', 'duckdb', 'spark'.")
    if engine != "spark":
        from features.relational.fetch import is_url

        if is_url(data_dir) or transactions is not None:
            raise ConfigError(
                "a data directory by URL, or the lines from elsewhere (transactions=), is read "
                f"through Spark's filesystems: use engine='spark', not {engine!r}.")
    if engine == "pandas":
        return load_dataset(data_dir), None
    if engine == "spark":
        return load_spark(data_dir, memory_limit=memory_limit, spark_master=spark_master,
                          staging_dir=staging_dir, spark_conf=spark_conf,
                          transactions=transactions)
    from features.relational import connect, load_relational

    con = connect(memory_limit=memory_limit)
    try:
        data = load_relational(con, data_dir)
        return data, open_relational(con, data)
    except BaseException:
        con.disconnect()
        raise


def load_spark(data_dir, *, memory_limit: str | None = None, spark_master: str | None = None,
               staging_dir=None, spark_conf: dict | None = None,
               transactions: str | None = None) -> tuple[Any, EngineTables]:
    """``data_dir`` read, checked and cleaned by DuckDB, its lines staged as Parquet and read
    by Spark: ``(data, tables)``, ``data`` a :class:`~features.relational.RelationalData`
    whose lines and events are the Spark tables.

    ``data_dir`` may be a URL of any filesystem Spark reads (``hdfs://``, ``s3a://``,
    ``file://``), and ``transactions`` a Parquet file, directory of parts or glob there
    that holds the lines instead of ``data_dir``'s: Spark then first copies them into
    the staging directory (:func:`features.relational.fetch.fetch_data_dir`), where
    DuckDB checks them as a local directory; ``tables.input_dir`` is that copy.

    The staged files are removed when ``tables`` close, or at once on any failure.
    """
    from features.relational import connect, load_relational
    from features.relational.fetch import fetch_data_dir, is_url
    from features.relational.spark import DEFAULT_MASTER, connect_spark, session_running
    from features.relational.staging import Staging, read_staged, stage_lines

    master = (spark_master or DEFAULT_MASTER).strip()
    staging = Staging.open(master, staging_dir)
    con = owns = input_dir = None
    try:
        if is_url(data_dir) or transactions is not None:
            owns = not session_running()
            con = connect_spark(master, conf=spark_conf)
            input_dir = data_dir = fetch_data_dir(con._session, data_dir, staging.path / "input",
                                                  transactions=transactions).path
        duck = connect(memory_limit=memory_limit)
        try:
            data = load_relational(duck, data_dir)
            files = stage_lines(data, staging.path)
        finally:
            duck.disconnect()
        if con is None:
            owns = not session_running()
            con = connect_spark(master, conf=spark_conf)
        data.transactions, data.offer_events = read_staged(con, files)
        small = {"items": data.items, "members": data.members,
                 "offer_events": data.offer_events, "offers": data.offers}
        return data, EngineTables(con, data.transactions, data.offer_events, small, owns,
                                  staging, input_dir=input_dir)
    except BaseException:
        try:
            if con is not None and owns:
                con.disconnect()
        finally:
            staging.remove()
        raise


def line_span(transactions) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(first, last)`` time of the lines: canonical pandas transactions, or canonical
    lines on an engine (one aggregate there)."""
    if isinstance(transactions, pd.DataFrame):
        ts = transactions["timestamp"]
        return ts.min(), ts.max()
    from features.relational.portable import to_frame

    row = to_frame(transactions.aggregate(first=transactions.ts_us.min(),
                                          last=transactions.ts_us.max())).iloc[0]
    if pd.isna(row["first"]):
        return pd.NaT, pd.NaT
    return pd.Timestamp(int(row["first"]), unit="us"), pd.Timestamp(int(row["last"]), unit="us")


def engine_features(tables: EngineTables, as_of: pd.Timestamp,
                    cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(member features, item features)`` as of ``as_of`` on an open engine."""
    import ibis

    from features.relational import item_features, member_features
    from features.relational.purchases import spend_pairs
    from training.feature_pairs import feature_pairs

    # The distinct (member, item) pairs counted once for both (the costliest aggregate),
    # from the recommenders' pairs of the same cutoff when they staged them.
    pairs = feature_pairs(tables, as_of)
    tables.release_spend()
    if ibis.get_backend(tables.lines).name == "duckdb":  # kept on disk for the uplift step
        tables.spend = spend_pairs(tables.lines, tables.small["items"], as_of)
    # (on Spark basket_rows() is the lines: the baskets are then summed from them, as before)
    members = member_features(tables.lines, tables.small, as_of, pairs=pairs, spend=tables.spend,
                              n_categories=cfg["n_categories"], trend_days=cfg["trend_days"],
                              baskets=tables.basket_rows())
    return members, item_features(tables.lines, tables.small["items"], as_of, pairs=pairs)


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

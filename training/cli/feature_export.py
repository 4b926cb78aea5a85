"""``offers features``: export the member (or item) features of a data directory as of a date.

For inspection by a data scientist and for comparing engines: ``--engine
duckdb`` has DuckDB read, check and clean the lines itself
(:func:`features.relational.load_relational`) and runs the per-line
aggregations as Ibis expressions there, so the lines never come into pandas;
``--engine spark`` runs the same expressions on Spark (the data directory loaded
by DuckDB, its cleaned lines staged as Parquet for Spark:
:func:`training.engines.load_spark`); ``--engine pandas`` loads it so and
runs the pandas builders. All give the same table and the same errors (the
parity tests hold them equal).
"""

from __future__ import annotations

import click

from features.storage import write_frame_atomic
from training.cli.checks import TRANSACTIONS_HELP, as_of_date, data_location, out_file, spark_conf

ENGINES = ("duckdb", "pandas", "spark")


@click.command("features")
@click.argument("data_dir")
@click.option(
    "--as-of",
    required=True,
    callback=as_of_date,
    help="Cutoff (ISO 8601): only data strictly before it is used.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    callback=out_file,
    help="Output file (.parquet or .csv); written through a temporary file.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="duckdb",
    show_default=True,
    help="Where the per-line aggregations run.",
)
@click.option(
    "--level",
    type=click.Choice(["member", "item"]),
    default="member",
    show_default=True,
    help="One row per member, or one per catalogue item.",
)
@click.option(
    "--memory-limit",
    default=None,
    metavar="SIZE",
    help="DuckDB memory limit, e.g. 2GB; above it DuckDB spills to disk (with --engine "
    "spark: of the load, DuckDB checking and cleaning the files).",
)
@click.option(
    "--spark-master",
    default=None,
    metavar="URL",
    help="Spark master of --engine spark: local[*] (default), spark://host:7077, yarn. "
    "Needs Java 17.",
)
@click.option(
    "--staging-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where --engine spark stages the cleaned lines as Parquet (a fresh subdirectory, "
    "removed at the end): default a temporary directory; required with a cluster master.",
)
@click.option(
    "--spark-conf",
    "spark_settings",
    multiple=True,
    callback=spark_conf,
    metavar="KEY=VALUE",
    help="A Spark setting of --engine spark, as spark-submit's --conf (repeatable), e.g. "
    "spark.driver.memory=8g (default on a local master: a quarter of this machine's memory).",
)
@click.option("--transactions", default=None, metavar="PATH|GLOB", help=TRANSACTIONS_HELP)
def features(data_dir, as_of, out, engine, level, memory_limit, spark_master,
             staging_dir, spark_settings, transactions) -> None:
    """Write the features of DATA_DIR as of --as-of to --out, one row per member (or item).

    Columns: the docstrings of features.member_features.build_member_features
    and features.item_features.build_item_features. The data directory is read
    and validated as by `offers train` (same checks and errors); nothing is
    written on error. With --engine duckdb, DuckDB streams the transactions file
    (CSV or Parquet) and peak memory does not grow with the number of lines;
    --memory-limit caps it (DuckDB spills to disk above it).
    """
    from features.loading import load_dataset

    if memory_limit and engine == "pandas":
        raise click.UsageError("--memory-limit applies to --engine duckdb or spark only.")
    for name, value in (("--spark-master", spark_master), ("--staging-dir", staging_dir),
                        ("--spark-conf", spark_settings)):
        if value and engine != "spark":
            raise click.UsageError(f"{name} applies to --engine spark only.")
    data_location(data_dir, engine, transactions)
    if engine == "spark":
        from features.relational.spark import check_spark

        check_spark(spark_master)
    if engine == "pandas":
        frame = _pandas_features(load_dataset(data_dir), as_of, level)
    elif engine == "spark":
        frame = _spark_features(data_dir, as_of, level, spark_master, memory_limit,
                                staging_dir, spark_settings, transactions)
    else:
        frame = _duckdb_features(data_dir, as_of, level, memory_limit)
    key = "member_id" if level == "member" else "item_id"
    write_frame_atomic(frame.reset_index(names=key), out)
    click.echo(f"wrote {len(frame):,} {level}s x {frame.shape[1]} features to {out} ({engine})")


def _pandas_features(dataset, as_of, level):
    from features.item_features import build_item_features
    from features.member_features import build_member_features

    if level == "item":
        return build_item_features(dataset.transactions, dataset.items, as_of)
    return build_member_features(dataset, as_of)


def _duckdb_features(data_dir, as_of, level, memory_limit):
    import duckdb

    from features.errors import ConfigError
    from features.relational import connect, item_features, load_relational, member_features

    con = connect(memory_limit=memory_limit)
    try:
        data = load_relational(con, data_dir)
        if level == "item":
            return item_features(data.transactions, data.items, as_of)
        return member_features(data.transactions, data, as_of)
    except duckdb.OutOfMemoryException as exc:
        limit = f"--memory-limit {memory_limit}" if memory_limit else "its default memory limit"
        raise ConfigError(
            f"DuckDB ran out of memory under {limit} ({str(exc).splitlines()[0]}); "
            "raise --memory-limit (e.g. 1GB): above it DuckDB spills to disk, but some "
            "steps need a few hundred MB."
        ) from None
    finally:
        con.disconnect()


def _spark_features(data_dir, as_of, level, master, memory_limit, staging_dir, spark_settings,
                    transactions=None):
    from features.relational import item_features, member_features
    from training.engines import load_spark

    _, tables = load_spark(data_dir, memory_limit=memory_limit, spark_master=master,
                           staging_dir=staging_dir, spark_conf=spark_settings,
                           transactions=transactions)
    try:
        if level == "item":
            return item_features(tables.lines, tables.small["items"], as_of)
        return member_features(tables.lines, tables.small, as_of)
    finally:
        tables.close()

"""``offers features``: export the member (or item) features of a data directory as of a date.

For inspection by a data scientist and for comparing engines: ``--engine
duckdb`` runs the per-line aggregations as Ibis expressions on DuckDB
(:mod:`features.relational`), ``--engine spark`` runs the same expressions on
Spark, ``--engine pandas`` runs the pandas builders; all give the same table
(the parity tests hold them equal).
"""

from __future__ import annotations

import click

from features.storage import write_frame_atomic
from training.cli.checks import as_of_date, out_file

ENGINES = ("duckdb", "pandas", "spark")


@click.command("features")
@click.argument("data_dir", type=click.Path(file_okay=False, exists=True))
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
    help="DuckDB memory limit, e.g. 2GB; above it DuckDB spills to disk.",
)
@click.option(
    "--spark-master",
    default=None,
    metavar="URL",
    help="Spark master of --engine spark: local[*] (default), spark://host:7077, yarn. "
    "Needs Java 17.",
)
def features(data_dir, as_of, out, engine, level, memory_limit, spark_master) -> None:
    """Write the features of DATA_DIR as of --as-of to --out, one row per member (or item).

    Columns: the docstrings of features.member_features.build_member_features
    and features.item_features.build_item_features. The data directory is read
    and validated as by `offers train` (same errors); nothing is written on error.
    pandas is the default engine: on data that fits in memory it is faster
    (bench/RESULTS.md, Engines).
    """
    from features.loading import load_dataset

    if memory_limit and engine != "duckdb":
        raise click.UsageError("--memory-limit applies to --engine duckdb only.")
    if spark_master and engine != "spark":
        raise click.UsageError("--spark-master applies to --engine spark only.")
    if engine == "spark":
        from features.relational.spark import check_spark

        check_spark(spark_master)
    dataset = load_dataset(data_dir)
    if engine == "pandas":
        frame = _pandas_features(dataset, as_of, level)
    elif engine == "spark":
        frame = _spark_features(dataset, as_of, level, spark_master)
    else:
        frame = _duckdb_features(dataset, as_of, level, memory_limit)
    key = "member_id" if level == "member" else "item_id"
    write_frame_atomic(frame.reset_index(names=key), out)
    click.echo(f"wrote {len(frame):,} {level}s x {frame.shape[1]} features to {out} ({engine})")


def _pandas_features(dataset, as_of, level):
    from features.item_features import build_item_features
    from features.member_features import build_member_features

    if level == "item":
        return build_item_features(dataset.transactions, dataset.items, as_of)
    return build_member_features(dataset, as_of)


def _duckdb_features(dataset, as_of, level, memory_limit):
    from features.relational import connect, item_features, member_features, tables_from_dataset

    con = connect(memory_limit=memory_limit)
    lines = tables_from_dataset(con, dataset)["transactions"]
    if level == "item":
        return item_features(lines, dataset.items, as_of)
    return member_features(lines, dataset, as_of)


def _spark_features(dataset, as_of, level, master):
    from features.relational import item_features, member_features, tables_from_dataset
    from features.relational.spark import spark_backend

    with spark_backend(master) as con:
        lines = tables_from_dataset(con, dataset)["transactions"]
        if level == "item":
            return item_features(lines, dataset.items, as_of)
        return member_features(lines, dataset, as_of)

"""Option checks that run before a command does any work (click callbacks).

A wrong ``--out`` extension or an ``--as-of`` that is not a date fails at once
with the same ``error: ...`` line (exit status 1) that the work would have
ended with, not after minutes of loading or training.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from features.errors import DataError
from features.frame_sink import check_sink_path
from features.storage import check_frame_path
from training.artifacts.horizons import check_horizon_days


def out_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--out``: a .csv or .parquet path (:class:`DataError` otherwise)."""
    if value is not None:
        check_frame_path(value)
    return value


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def plot_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--plot``: a .png, .svg or .pdf path (:class:`DataError` otherwise), checked before
    the data is loaded; matplotlib would refuse any other name only after the work."""
    if value is not None and Path(value).suffix.lower() not in PLOT_SUFFIXES:
        raise DataError(f"--plot {value}: use .png, .svg or .pdf.")
    return value


def out_sink(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--out`` of a streamed export: a .csv/.parquet file or ``DIR/`` for Parquet parts."""
    if value is not None:
        check_sink_path(value)
    return value


def horizon_days(ctx: click.Context, param: click.Parameter, value) -> tuple[int, ...]:
    """``--horizon-days`` (repeatable): whole days from 1 to 3650, duplicates dropped."""
    try:
        return tuple(dict.fromkeys(check_horizon_days(v) for v in value or ()))
    except DataError as exc:
        raise DataError(f"--horizon-days: {exc}") from None


def spark_conf(ctx: click.Context, param: click.Parameter, value) -> dict:
    """``--spark-conf KEY=VALUE`` (repeatable, as spark-submit's ``--conf``): a dict of
    ``spark.*`` settings, a usage error naming the bad one otherwise."""
    conf = {}
    for item in value or ():
        key, sep, setting = item.partition("=")
        key, setting = key.strip(), setting.strip()
        if not sep or not key.startswith("spark.") or not setting:
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE with a spark.* key; pass e.g. "
                "--spark-conf spark.driver.memory=8g", ctx=ctx, param=param)
        conf[key] = setting
    return conf


def as_of_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--as-of``: a date or time pandas reads (ISO 8601), kept as given."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, OverflowError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise DataError(f"--as-of {value!r} is not a date; use ISO 8601 like 2017-12-01.")
    return value


#: ``--transactions`` of the commands that read a data directory on Spark.
TRANSACTIONS_HELP = ("With --engine spark: the lines from a Parquet file, a directory of parts "
                     "or a quoted glob of them, on any filesystem Spark reads (e.g. "
                     "'s3a://lake/sales/date=*/*.parquet'), instead of DATA_DIR's "
                     "transactions table.")


def data_location(data_dir: str, engine: str, transactions: str | None) -> None:
    """DATA_DIR and ``--transactions``: a local directory on every engine; a URL (``hdfs://``,
    ``s3a://``, ``file://``) and ``--transactions`` through Spark's filesystems only.

    Raises :class:`click.UsageError` (exit status 2) before any work."""
    from features.relational.fetch import is_url

    if engine != "spark":
        if is_url(data_dir):
            raise click.UsageError(f"DATA_DIR {data_dir} is a URL: it is read through Spark's "
                                   "filesystems, with --engine spark (README: Engines).")
        if transactions is not None:
            raise click.UsageError("--transactions applies to --engine spark only.")
    if not is_url(data_dir) and not Path(data_dir).is_dir():
        raise click.UsageError(f"DATA_DIR {data_dir} is not a directory (a local data "
                               "directory, or with --engine spark a URL Spark reads).")


def auto_engine(data_dir: str, memory_limit, spark_master, staging_dir, spark_settings,
                transactions) -> str:
    """``--engine auto``: the engine :func:`training.engine_choice.choose_engine` picks for
    DATA_DIR and the options given, said on stderr (the reason, and how to choose)."""
    from training.engine_choice import choose_engine

    spark = any(v for v in (spark_master, staging_dir, spark_settings, transactions))
    choice = choose_engine(data_dir, memory_limit=memory_limit, spark=spark)
    click.echo(f"engine: {choice.engine} (auto: {choice.reason}; --engine pandas|duckdb|spark "
               "chooses)", err=True)
    return choice.engine

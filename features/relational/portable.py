"""The few steps of the relational features that differ between Ibis backends.

The feature expressions themselves are one definition (Ibis); what is not
portable is kept here, chosen by the backend's name: the timestamp to
microseconds function (DuckDB's ``epoch_us``, Spark's ``unix_micros``),
putting a pandas frame into the engine, computing a result once into a
temporary table, and fetching a (small) result as pandas.

DuckDB's behaviour is the one the module had before Spark: same SQL, same results.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd
import pyarrow as pa
from ibis import util

from features.errors import DataError

SPARK = "pyspark"


@ibis.udf.scalar.builtin
def epoch_us(ts: dt.timestamp) -> dt.int64:
    """Microseconds since the epoch (DuckDB's ``epoch_us``)."""


@ibis.udf.scalar.builtin
def unix_micros(ts: dt.timestamp) -> dt.int64:
    """Microseconds since the epoch (Spark's ``unix_micros``; naive times read as UTC)."""


@ibis.udf.scalar.builtin(name="div")
def spark_div(a: dt.int64, b: dt.int64) -> dt.int64:
    """Spark's integral division (``a div b``, toward zero)."""


@ibis.udf.scalar.builtin(name="pmod")
def spark_pmod(a: dt.int64, b: dt.int64) -> dt.int64:
    """Spark's non-negative remainder."""


def timestamp_us(column):
    """``column`` (a timestamp) as integer microseconds since the epoch, on its backend.

    On Spark an integer column is a Parquet ``TIMESTAMP(NANOS)`` read as
    nanoseconds (``spark.sql.legacy.parquet.nanosAsLong``, set by
    :func:`~features.relational.spark.connect_spark`): Spark has no
    nanosecond timestamps, so it is divided down to microseconds (floor).
    """
    if ibis.get_backend(column).name != SPARK:
        return epoch_us(column)
    if column.type().is_integer():
        ns = column.cast("int64")
        # Exact integer floor division (Ibis's // divides as doubles, off by 1 µs at 1e18 ns).
        return spark_div(ns - spark_pmod(ns, 1000), 1000)
    # Spark's TIMESTAMP_NTZ (naive Parquet times) maps to the same Ibis type as its
    # TIMESTAMP; the cast (a no-op for TIMESTAMP) reads naive times in the session's UTC.
    return unix_micros(column.cast(dt.Timestamp(timezone="UTC")))


def register_frame(con, name: str, frame: pd.DataFrame):
    """``frame`` as a table of ``con`` named ``name`` (through Arrow, replacing any of that name).

    DuckDB scans the Arrow table in place (a view, not a copy); Spark copies it
    into the JVM (Arrow batches) as a temporary view, cached because the
    features scan it several times.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if con.name == SPARK:
        session = con._session
        if session.catalog.tableExists(name):  # the frame it replaces leaves the cache
            session.catalog.uncacheTable(name)
        session.createDataFrame(table).cache().createOrReplaceTempView(name)
    else:
        con.con.register(name, table)
    return con.table(name)


def read_parquet(con, path: str):
    """Parquet file(s) at ``path`` as a lazy table of ``con``.

    Raises
    ------
    DataError
        When Spark cannot read ``path`` (missing, not Parquet): its reason, in one line.
    """
    if con.name != SPARK:
        return con.read_parquet(path)
    from pyspark.errors import PySparkException

    try:
        df = con._session.read.parquet(path)
    except PySparkException as exc:  # AnalysisException (no such path), IllegalArgument, ...
        reason = str(exc).strip().splitlines()[0]
        raise DataError(
            f"{path}: Spark cannot read it as Parquet ({reason}); pass canonical transactions "
            "as a Parquet file, directory or glob."
        ) from None
    name = util.gen_name("read_parquet")
    df.createOrReplaceTempView(name)
    return con.table(name)


def slices(table, column: str, n_rows: float, rows_per_slice: float, keys=None):
    """``table`` cut into slices by ranges of ``column``, about ``rows_per_slice`` rows each.

    For aggregates whose memory grows with their input (a median keeps every
    value, a distinct keeps every pair) and that DuckDB cannot spill: one
    query per slice holds a slice's share. Every row falls in exactly one
    slice; one slice (``table`` itself) when ``n_rows`` fits.

    The slices are ranges of values (``lo <= column < hi``), cut at quantiles of
    a sample of the column (:func:`range_bounds`), or of ``keys`` when given (every
    value the column may hold, e.g. the member ids: no query, bounds equal in keys,
    not in rows), not hash buckets: on a file
    clustered by the column (exports sorted by customer; the synthetic
    generator's) the engine skips the row groups outside a range, so the slices
    together read the lines about once. A hash bucket reads every line per slice:
    at 1M synthetic members a third of the members' distinct pairs took 7.2 s by
    hash, 3.3 s by range (bench/RESULTS.md). On an unclustered file each range
    still scans every row, as a hash bucket did.
    """
    parts = max(1, int(-(-n_rows // rows_per_slice)))
    if parts == 1:
        return [table]
    bounds = (range_bounds(table, column, parts, n_rows) if keys is None
              else _quantiles(np.asarray(keys), parts))
    if not bounds:
        return [table]
    col = table[column]
    out = [table.filter((col < bounds[0]) | col.isnull())]
    out += [table.filter((col >= lo) & (col < hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return out + [table.filter(col >= bounds[-1])]


#: Rows of a column drawn to place the slices' bounds (:func:`range_bounds`).
BOUND_SAMPLE_ROWS = 50_000


def range_bounds(table, column: str, parts: int, n_rows: float) -> list:
    """Up to ``parts - 1`` increasing values of ``column`` that cut ``table``'s rows into
    ``parts`` ranges of about equal numbers of rows (quantiles of a seeded sample of
    about :data:`BOUND_SAMPLE_ROWS` rows; fewer bounds when the column has few values)."""
    fraction = min(1.0, BOUND_SAMPLE_ROWS / max(float(n_rows), 1.0))
    picked = table.select(column).filter(table[column].notnull())
    if fraction < 1.0:
        picked = picked.sample(fraction, seed=0)
    return _quantiles(np.asarray(to_arrow(picked).column(0).to_numpy(zero_copy_only=False)),
                      parts)


def _quantiles(values: np.ndarray, parts: int) -> list:
    """The distinct values at the ``i / parts`` quantiles of ``values`` (0 < i < parts)."""
    values = np.sort(values[pd.notna(values)])
    if len(values) == 0:
        return []
    at = (np.arange(1, parts) * len(values)) // parts
    return [v.item() if isinstance(v, np.generic) else v for v in np.unique(values[at])]


def materialize(expr, name: str):
    """``expr`` computed once into a temporary table of its backend (spillable in DuckDB).

    Ibis's own ``cache()`` goes through ``create_table``, which this Ibis and
    DuckDB pair cannot parse, so the table is created from the compiled SQL;
    on Spark it is ``CACHE TABLE`` (memory, then disk).
    """
    backend = ibis.get_backend(expr)
    sql = ibis.to_sql(expr, dialect=backend.name)
    if backend.name == SPARK:
        release(backend, name)
        backend.raw_sql(f"CACHE TABLE `{name}` AS {sql}")
    else:
        backend.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')
    return backend.table(name)


def stage(expr, name: str):
    """``expr`` computed once and kept out of the process's memory until :func:`unstage`.

    DuckDB writes it to a Parquet file in its ``temp_directory`` (the system's when that
    does not exist yet) and each query reads the file, so what DuckDB holds between
    queries is freed:
    a :func:`materialize` d table stays in DuckDB's buffers, up to its memory
    limit, beside whatever the process builds from it (the uplift scoring of 1M
    members peaked there). On Spark it is :func:`materialize` (memory, then disk).
    """
    backend = ibis.get_backend(expr)
    if backend.name == SPARK:
        return materialize(expr, name)
    unstage(backend, name)
    spill = backend.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
    # DuckDB makes its temp_directory (default ".tmp") only when it first spills.
    spill = spill if spill and Path(spill).is_dir() else None
    folder = Path(tempfile.mkdtemp(prefix=f"offers-{name}-", dir=spill))
    path = str(folder / "part.parquet").replace("'", "''")
    sql = ibis.to_sql(expr, dialect=backend.name)
    try:
        backend.raw_sql(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
        backend.raw_sql(f'CREATE OR REPLACE TEMP VIEW "{name}" AS '
                        f"SELECT * FROM read_parquet('{path}')")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _STAGED[id(backend), name] = folder
    return backend.table(name)


_STAGED: dict[tuple[int, str], Path] = {}  # (backend, name) -> the folder of its file


def unstage(backend, name: str) -> None:
    """Drop the table ``name`` made by :func:`stage` and its file (none: nothing happens)."""
    if backend.name == SPARK:
        release(backend, name)
        return
    backend.raw_sql(f'DROP VIEW IF EXISTS "{name}"')
    folder = _STAGED.pop((id(backend), name), None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def release(backend, name: str) -> None:
    """Drop the temporary table ``name`` made by :func:`materialize` (none: nothing happens)."""
    if backend.name == SPARK:
        backend.raw_sql(f"UNCACHE TABLE IF EXISTS `{name}`")
        backend.raw_sql(f"DROP VIEW IF EXISTS `{name}`")
    else:
        backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"')


def to_arrow(expr) -> pa.Table:
    """The result of a table expression as an Arrow table.

    On Spark the compiled query is collected as Arrow directly (Ibis's own path
    goes through pandas twice and trips pandas 3 deprecations).
    """
    backend = ibis.get_backend(expr)
    if backend.name != SPARK:
        return expr.to_pyarrow()
    from features.relational.spark import collect_arrow

    return collect_arrow(backend._session.sql(backend.compile(expr.as_table())))


def line_count(table):
    """The number of lines ``table`` holds, as a scalar expression: its rows, or the sum of
    its ``n_lines`` when it holds lines summed per basket
    (:func:`features.relational.purchases.basket_rows`). The slicers size their slices by
    lines, so a query over the basket rows is cut as the same query over the lines."""
    if "n_lines" in table.columns:
        return table.n_lines.sum().fill_null(0).cast("int64")  # no row: 0, as count()
    return table.count()


def to_frame(expr) -> pd.DataFrame:
    """The result of a table expression as a pandas frame (through Arrow)."""
    return to_arrow(expr).to_pandas()


def to_scalar(expr):
    """The value of a scalar expression as a Python object (None for NULL)."""
    if ibis.get_backend(expr).name != SPARK:
        return expr.to_pyarrow().as_py()
    return to_arrow(expr.as_table()).column(0)[0].as_py()

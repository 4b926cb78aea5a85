"""A data directory on any filesystem Spark reads, copied where DuckDB can check it.

The Spark engine's input from a lake (issue 11): ``offers train
hdfs://nn/lake/shop --engine spark`` (or ``s3a://``, ``abfss://``, ``gs://``, a
shared ``file://`` mount). DuckDB checks and cleans every table before Spark
reads the lines (:mod:`features.relational.staging`), and DuckDB reads local
files only; so the data directory's tables are first copied into the run's
staging directory through the Hadoop filesystem of the Spark session, with
whatever connectors and credentials the cluster's Spark already has (the
``hadoop-aws`` jars and their settings for ``s3a://``, and so on). The copy is
byte for byte (``FileUtil.copy``): Parquet keeps its types, CSV its text, so the
checks, errors and cleaning are those of a local directory.

Only the entries the data contract names are copied (``transactions.csv``,
``transactions.parquet``, a ``transactions/`` directory of parts, the same for
the other tables, and the ``extras/`` side files), so a lake directory may hold
other things. A table directory may hold its parts in subdirectories, as a
Hive-partitioned table does (``transactions/date=2017-01-01/part-0.parquet``):
the copy keeps them, and the checks read every part (:mod:`features.reading`).
The lines may instead come from a glob of Parquet files anywhere Spark reads
(``transactions=``), or a directory of them, subdirectories included: a
partitioned data set such as ``s3a://lake/sales/date=*/part-*.parquet`` or
``s3a://lake/sales/`` becomes one directory of parts, in the order of the
matched paths. In both, directory names (``date=...``) are not columns.

Imports: :mod:`features` only (PySpark's JVM through the session given).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from features.contract import TABLES
from features.errors import ConfigError, DataError
from features.reading import not_data

logger = logging.getLogger(__name__)

#: ``scheme://`` at the start of a location: a URL, not a path of this machine.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: The side files beside the tables that training reads: the whole ``extras/`` directory (the
#: Complete Journey importer's campaigns, their categories and their items).
EXTRAS = ("extras",)


def is_url(location) -> bool:
    """Whether ``location`` names a filesystem by scheme (``hdfs://``, ``s3a://``, ``file://``)."""
    return bool(_URL.match(str(location)))


def local_uri(path: Path) -> str:
    """``file://`` and the absolute ``path`` as Hadoop's ``Path`` (and so Spark) reads it:
    not percent-encoded. ``Path.as_uri()`` writes ``my data`` as ``my%20data`` and
    ``date=1`` as ``date%3D1``, which Hadoop takes literally: no such file."""
    return "file://" + str(Path(path).absolute())


@dataclass(frozen=True)
class Fetched:
    """What :func:`fetch_data_dir` copied: the local directory and its size."""

    path: Path
    files: int
    bytes: int
    seconds: float


def fetch_data_dir(session, source: str | None, dest: Path, *,
                   transactions: str | None = None) -> Fetched:
    """Copy the data directory ``source`` (and the lines ``transactions``) into ``dest``.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        Its Hadoop configuration opens the filesystems.
    source : str or None
        The data directory: a URL, or a path of this machine (read as ``file://``
        even where Spark's default filesystem is a cluster's). None: only the lines.
    dest : Path
        A local directory that does not exist yet (the run's staging directory):
        it becomes a data directory for :func:`features.relational.load_relational`.
    transactions : str, optional
        A Parquet file, a directory of Parquet parts or a glob of them: the lines,
        instead of ``source``'s own ``transactions`` table (which is then not copied).
        Without a scheme, Spark's default filesystem resolves it (HDFS on most clusters).

    Raises
    ------
    ConfigError
        Spark has no filesystem for the location's scheme (a connector missing).
    DataError
        The data directory is missing or not a directory, the glob matches no
        Parquet file, or a copy fails: the message names the location.
    """
    started = time.perf_counter()
    jvm = session._jvm
    conf = session._jsc.hadoopConfiguration()
    local = jvm.org.apache.hadoop.fs.FileSystem.getLocal(conf).getRaw()  # no .crc files
    dest.mkdir(parents=True)
    copied = []
    if source is not None:
        if not is_url(source):  # DATA_DIR is this machine's on every engine
            source = local_uri(Path(source).resolve())
        root, fs = _open(jvm, conf, source)
        if not _call(lambda: fs.exists(root), source) or not _call(
                lambda: fs.getFileStatus(root).isDirectory(), source):
            raise DataError(f"data directory {source} does not exist or is not a directory "
                            "(as Spark's filesystem sees it); check the URL.")
        names = {s.getPath().getName(): s for s in _call(lambda: fs.listStatus(root), source)}
        wanted = [n for t in TABLES.values() if not (transactions and t.name == "transactions")
                  for n in (f"{t.name}.csv", f"{t.name}.parquet", t.name)]
        for name in wanted:
            if name in names:
                copied += _copy(jvm, conf, fs, names[name].getPath(), local, dest / name, source)
        for extra in EXTRAS:
            path = jvm.org.apache.hadoop.fs.Path(root, extra)
            if _call(lambda p=path: fs.exists(p), source):
                copied += _copy(jvm, conf, fs, path, local, dest / extra, source)
    if transactions is not None:
        copied += _fetch_lines(jvm, conf, local, transactions, dest / "transactions")
    fetched = Fetched(dest, len(copied), sum(copied), time.perf_counter() - started)
    logger.info("fetched %d file(s), %.1f MiB, from %s in %.1f s", fetched.files,
                fetched.bytes / 2**20, source or transactions, fetched.seconds)
    return fetched


def _fetch_lines(jvm, conf, local, pattern: str, dest: Path) -> list[int]:
    """The Parquet files matching ``pattern`` (a file, a directory of parts, a glob) as the
    parts of ``dest``, numbered in the order of their full paths."""
    root, fs = _open(jvm, conf, pattern)
    matched = _call(lambda: fs.globStatus(root), pattern) or []
    files = []
    for status in matched:
        if status.isDirectory():
            files += [path for path, _ in _files_below(fs, status.getPath(), pattern)]
        else:
            files.append(status.getPath())
    if not files:
        raise DataError(f"no file matches the lines' location {pattern}; give a Parquet file, "
                        "a directory of Parquet parts or a glob of them (quoted, so that the "
                        "shell leaves the * to Spark).")
    others = [p.toString() for p in files if not p.getName().lower().endswith(".parquet")]
    if others:
        raise DataError(f"the lines' location {pattern} matches {others[0]}, which is not a "
                        "Parquet file (*.parquet); the lines from a glob must be Parquet parts.")
    dest.mkdir(parents=True)
    files.sort(key=lambda p: p.toString())
    sizes, started = [], time.perf_counter()
    for i, path in enumerate(files):
        sizes += _copy(jvm, conf, fs, path, local, dest / f"part-{i:05d}.parquet", pattern,
                       log=False)
        if (i + 1) % 100 == 0 or i + 1 == len(files):  # a glob may match thousands of parts
            logger.info("fetched %d of %d part(s) of %s: %.1f MiB in %.1f s", i + 1, len(files),
                        pattern, sum(sizes) / 2**20, time.perf_counter() - started)
    return sizes


def _files_below(fs, directory, location: str) -> list[tuple]:
    """``(path, path below directory)`` of the files under ``directory``, its subdirectories
    (Hive partitions such as ``date=2017-01-01/``) included; a name at any level below it
    that the local checks leave out (:func:`features.reading.not_data`: ``_SUCCESS``,
    ``_temporary/``, checksums) leaves its file out."""
    top = directory.toString().rstrip("/") + "/"
    found = _call(lambda: fs.listFiles(directory, True), location)
    files = []
    while _call(found.hasNext, location):
        path = _call(found.next, location).getPath()
        text = path.toString()
        below = text[len(top):] if text.startswith(top) else path.getName()
        if not any(not_data(name) for name in below.split("/")):
            files.append((path, below))
    return files


def _open(jvm, conf, location: str):
    """``(path, filesystem)`` of ``location`` on the session's Hadoop configuration."""
    path = jvm.org.apache.hadoop.fs.Path(location)
    try:
        return path, path.getFileSystem(conf)
    except Exception as exc:  # py4j's Py4JJavaError: UnsupportedFileSystemException, ...
        scheme = location.split("://", 1)[0] if is_url(location) else "the default"
        raise ConfigError(
            f"Spark cannot open {location}: {_first_line(exc)}. Spark needs a filesystem "
            f"for {scheme!r} (for s3a:// the hadoop-aws jars, e.g. --spark-conf "
            "spark.jars.packages=org.apache.hadoop:hadoop-aws:<Spark's Hadoop version>, and "
            "their credentials settings).") from None


def _copy(jvm, conf, fs, path, local, dest: Path, location: str, log: bool = True) -> list[int]:
    """Copy ``path`` to the local ``dest``: a file, or a directory's files below every level
    but those :func:`_files_below` leaves out (an unfinished job's ``_temporary/`` is not
    data, and may be large); the sizes of the files copied. ``log``: one line saying so."""
    util = jvm.org.apache.hadoop.fs.FileUtil
    started = time.perf_counter()
    if _call(lambda: fs.getFileStatus(path).isDirectory(), location):
        dest.mkdir(parents=True, exist_ok=True)  # empty, the checks say so as for a local one
        pairs = [(file, dest / below) for file, below in _files_below(fs, path, location)]
    else:
        pairs = [(path, dest)]
    for source, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
        local_path = jvm.org.apache.hadoop.fs.Path(local_uri(target.resolve()))
        _call(lambda s=source, t=local_path: util.copy(fs, s, local, t, False, True, conf),
              location)
    sizes = [target.stat().st_size for _, target in pairs]
    if log:  # one line per table (a lake's lines can take minutes): what came, how fast
        logger.info("fetched %s: %d file(s), %.1f MiB in %.1f s", path.toString(), len(sizes),
                    sum(sizes) / 2**20, time.perf_counter() - started)
    return sizes


def _call(action, location: str):
    """``action()``, a JVM error made a :class:`DataError` naming ``location``."""
    try:
        return action()
    except (ConfigError, DataError):
        raise
    except Exception as exc:  # py4j.protocol.Py4JJavaError and kin
        raise DataError(f"cannot read {location}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():  # a Java exception's message, past py4j's preamble
        if "Exception:" in line:
            return line.strip().lstrip(": ")
    return text.splitlines()[0] if text else type(exc).__name__

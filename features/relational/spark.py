"""A Spark session (through Ibis) for the relational features: local or on a cluster.

The same Ibis expressions as on DuckDB run here (:mod:`features.relational`);
only the steps in :mod:`features.relational.portable` differ by backend.
Spark needs Java 17 (``java`` on ``PATH`` or ``JAVA_HOME``); a missing Java,
a bad master URL or a master that does not answer is a :class:`ConfigError`
of one line, not a Java stack trace.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import tempfile
import warnings
from contextlib import contextmanager
from urllib.parse import urlsplit

from features.errors import ConfigError

DEFAULT_MASTER = "local[*]"
LOCAL_SHUFFLE_PARTITIONS = 4
CONNECT_TIMEOUT_S = 5.0
#: Share of this machine's memory a local master's JVM may use as heap when nobody said
#: (Java's own default share; Spark's 1g default runs out collecting a large program's pairs).
LOCAL_HEAP_SHARE = 0.25
_MEMORY_SIZE = re.compile(r"^[1-9][0-9]*[kmgt]?$", re.IGNORECASE)
#: Settings fixed when the session starts (a running session refuses to change them).
_STATIC = ("spark.sql.warehouse.dir",)


def connect_spark(
    master: str = DEFAULT_MASTER,
    *,
    app_name: str = "offers-features",
    driver_memory: str | None = None,
    shuffle_partitions: int | None = None,
    conf: dict | None = None,
):
    """An Ibis PySpark backend over a new (or the running) SparkSession.

    Parameters
    ----------
    master : str
        Spark master URL: ``local[*]`` (every core of this machine),
        ``local[2]``, ``spark://host:7077`` (a standalone cluster), ``yarn``,
        ``k8s://...``. A ``spark://`` master is checked to answer first.
    driver_memory : str, optional
        ``spark.driver.memory`` (``"4g"``); the driver holds the per-member
        results. Only applies when this call starts the JVM. Default on a
        local master (whose JVM is also the executor): a quarter of this
        machine's memory (:func:`local_driver_memory`), unless
        ``spark.driver.memory`` is set in ``conf``, in ``PYSPARK_SUBMIT_ARGS``
        or in ``spark-defaults.conf``; elsewhere Spark's own default.
    shuffle_partitions : int, optional
        ``spark.sql.shuffle.partitions``; default 4 on a local master (Spark's
        200 is for clusters and costs seconds per query on one machine),
        Spark's own default elsewhere.
    conf : dict, optional
        More Spark settings, applied last.

    Settings: UI off, session time zone UTC (naive timestamps are UTC, as in
    pandas), Arrow transfers on, Parquet nanosecond timestamps read as
    integers (:func:`~features.relational.portable.timestamp_us` scales them).

    Raises
    ------
    ConfigError
        Java is missing, the master URL is malformed or does not answer, or
        Spark refuses a setting.
    """
    _check_java()
    if not isinstance(master, str) or not master.strip():
        raise ConfigError(
            f"Spark master {master!r} is empty; pass e.g. local[*] or spark://host:7077."
        )
    master = master.strip()
    _check_master_answers(master)
    local = master.startswith("local")
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.legacy.parquet.nanosAsLong": "true",
    }
    if shuffle_partitions is not None:
        if not (isinstance(shuffle_partitions, int) and shuffle_partitions > 0):
            raise ConfigError(
                f"shuffle_partitions={shuffle_partitions!r} should be an integer > 0."
            )
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    elif local:
        settings["spark.sql.shuffle.partitions"] = str(LOCAL_SHUFFLE_PARTITIONS)
    if local:  # no network lookups of this host's name for a one-machine run
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
        # Nothing is stored as a Spark table: no empty spark-warehouse/ in the user's folder.
        settings["spark.sql.warehouse.dir"] = os.path.join(tempfile.gettempdir(),
                                                           "offers-spark-warehouse")
        # Python work on the executors (mapInPandas) runs in this interpreter, not in
        # whatever `python3` is first on the PATH (without this project's packages):
        # PySpark reads PYSPARK_PYTHON (not spark.pyspark.python) when its context starts.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {k: str(v) for k, v in (conf or {}).items()}
    if driver_memory is None and local and not _driver_memory_configured(conf):
        driver_memory = local_driver_memory()
    if driver_memory is not None:
        settings["spark.driver.memory"] = check_memory_size(driver_memory, "spark.driver.memory")
    if "spark.driver.memory" in conf:
        check_memory_size(conf["spark.driver.memory"], "spark.driver.memory")
    settings.update(conf)
    session = _session(master, app_name, settings)
    import ibis

    return ibis.pyspark.connect(session)


@contextmanager
def spark_backend(master: str | None = None, **options):
    """``connect_spark(master or "local[*]", **options)`` for a ``with`` block.

    A session it starts is stopped at the end; one already running in the
    process (a notebook's, the tests') is used and left running.
    """
    started = not session_running()
    con = connect_spark(master or DEFAULT_MASTER, **options)
    try:
        yield con
    finally:
        if started:
            con.disconnect()


def collect_arrow(df):
    """A Spark DataFrame's rows as an Arrow table (collected on the driver).

    PySpark leaves the socket of each collect for the garbage collector to
    close; that one ResourceWarning is silenced here, nothing else.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket", ResourceWarning)
        return df.toArrow()


def local_driver_memory(total_bytes: int | None = None) -> str:
    """The JVM heap a local master gets by default: :data:`LOCAL_HEAP_SHARE` of
    ``total_bytes`` (this machine's memory), in whole GiB, at least ``"1g"``."""
    if total_bytes is None:
        total_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, int(total_bytes * LOCAL_HEAP_SHARE) >> 30)}g"


def check_memory_size(value, name: str) -> str:
    """``value`` if it is a JVM memory size Spark reads (``512m``, ``4g``), else a
    :class:`ConfigError` naming ``name``."""
    text = str(value).strip()
    if not _MEMORY_SIZE.match(text):
        raise ConfigError(
            f"{name}={value!r} is not a memory size; pass a whole number with a unit, "
            "e.g. 512m or 8g."
        )
    return text


def _driver_memory_configured(conf: dict, environ=None) -> bool:
    """Whether the user set the driver's heap: in ``conf``, ``PYSPARK_SUBMIT_ARGS`` or the
    ``spark-defaults.conf`` Spark will read (``$SPARK_CONF_DIR``, ``$SPARK_HOME/conf``)."""
    environ = os.environ if environ is None else environ
    if "spark.driver.memory" in conf:
        return True
    args = environ.get("PYSPARK_SUBMIT_ARGS", "")
    if "--driver-memory" in args or "spark.driver.memory" in args:
        return True
    dirs = [environ.get("SPARK_CONF_DIR")]
    if environ.get("SPARK_HOME"):
        dirs.append(os.path.join(environ["SPARK_HOME"], "conf"))
    for folder in filter(None, dirs):
        path = os.path.join(folder, "spark-defaults.conf")
        try:
            with open(path, encoding="utf-8") as handle:
                if any(line.split()[:1] == ["spark.driver.memory"] for line in handle):
                    return True
        except OSError:
            continue
    return False


def check_spark(master: str | None = None) -> None:
    """Fail now, with one line, if ``connect_spark(master)`` surely cannot work.

    Java must be installed and a ``spark://`` master must answer; commands
    call this before loading data, so a typo costs seconds, not a run.
    """
    _check_java()
    _check_master_answers((master or DEFAULT_MASTER).strip())


def session_running() -> bool:
    """Whether this process already has an active SparkSession (``connect_spark`` reuses it)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return False
    return SparkSession.getActiveSession() is not None


def java_available() -> bool:
    """Whether a Java runtime is on ``PATH`` or under ``JAVA_HOME``."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None


def _check_java() -> None:
    if not java_available():
        raise ConfigError(
            "Spark needs Java 17 and none was found (no java on PATH, no JAVA_HOME): install "
            "it (Debian: apt-get install openjdk-17-jre-headless; scripts/ensure_java.sh) "
            "or use --engine duckdb."
        )


def _check_master_answers(master: str) -> None:
    """A ``spark://`` master must accept a connection within a few seconds.

    Spark itself retries an unreachable standalone master for a minute, then
    fails the first job with a Java stack trace; this says so at once.
    """
    if not master.startswith("spark://"):
        return
    hosts = master[len("spark://") :].split(",")
    errors = []
    for host in hosts:
        parts = urlsplit(f"spark://{host}")
        try:
            port = parts.port or 7077
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ConfigError(
                f"Spark master {master!r} is not a URL Spark reads; pass e.g. spark://host:7077."
            )
        try:
            with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S):
                return
        except OSError as exc:
            errors.append(f"{parts.hostname}:{port}: {exc.strerror or exc}")
    raise ConfigError(
        f"Spark master {master} does not answer ({'; '.join(errors)}); start the master or "
        "pass the URL its web UI shows (spark://host:7077)."
    )


def _session(master: str, app_name: str, settings: dict):
    """The SparkSession, its errors made one line (py4j and Spark raise several kinds)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # PySparkRuntimeError, Py4JJavaError, ValueError, ...
        raise ConfigError(
            f"Spark could not start with master {master!r}: {_first_line(exc)}; check the "
            "master URL (local[*], spark://host:7077, yarn) and that Java 17 runs."
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    for key, value in settings.items():  # a running session (getOrCreate) keeps its own
        if key.startswith("spark.sql.") and key not in _STATIC:
            session.conf.set(key, value)
    return session


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

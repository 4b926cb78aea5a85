"""Cleaned lines handed from DuckDB to Spark as Parquet files: the Spark engine's load.

Spark loads a data directory without the lines ever coming into pandas: DuckDB
reads, checks and cleans the files (:func:`features.relational.load_relational`,
the one definition of the checks and the cleaning policy, out of core under its
memory limit), then streams the canonical cleaned lines and offer events
(:mod:`features.relational.tables`: ``member_id``, ``item_id``, ``ts_us``,
``basket_id``, ``quantity``, ``amount``, ``discount``, the optional
``coupon_discount``) into Parquet files of a
staging directory (``COPY ... TO``), and Spark reads those files lazily.

The staging directory must be readable by Spark's executors: for a
``local[...]`` master a temporary directory of this machine; for a cluster a
directory on a filesystem this machine writes and the executors mount
(``--staging-dir``). :class:`Staging` makes a fresh subdirectory there and
removes it when the run ends, failed or not: also when the process is sent
SIGTERM (``kill``, a scheduler stopping the job), which while a staging is open
raises :class:`KeyboardInterrupt` like Ctrl-C, so the same clean-up runs. A run
killed outright (SIGKILL, the kernel's out-of-memory killer) cannot clean up: its
directory is named for this host and the run's process id, and the next run
staging in the same place removes those whose process is gone
(:func:`remove_orphans`).

>>> with Staging.open("local[2]") as staging:                       # doctest: +SKIP
...     files = stage_lines(data, staging.path)
...     lines, events = read_staged(spark_con, files)
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import ibis

from features.errors import ConfigError
from features.relational.fetch import is_url, local_uri
from features.relational.portable import read_parquet
from features.relational.scan import literal

logger = logging.getLogger(__name__)

#: The canonical lines' columns and the types they are staged with (``coupon_discount``
#: only when the lines have it).
LINE_TYPES = {"member_id": "VARCHAR", "item_id": "VARCHAR", "ts_us": "BIGINT",
              "basket_id": "BIGINT", "quantity": "DOUBLE", "amount": "DOUBLE",
              "discount": "DOUBLE", "coupon_discount": "DOUBLE"}
EVENT_TYPES = {"member_id": "VARCHAR", "offer_id": "VARCHAR", "event": "VARCHAR",
               "ts_us": "BIGINT"}
PREFIX = "offers-staging-"


@dataclass
class Staging:
    """A fresh staging directory of one run, removed by :meth:`remove` (or the ``with`` end)."""

    path: Path
    _handler_installed: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self._handler_installed = _interrupt_on_sigterm()

    @classmethod
    def open(cls, master: str, staging_dir: str | os.PathLike | None = None) -> Staging:
        """A new subdirectory of ``staging_dir`` (default: this machine's temp directory).

        Raises
        ------
        ConfigError
            A cluster ``master`` without ``staging_dir`` (the executors cannot
            read this machine's temp directory), a URL (DuckDB writes the files:
            pass a mounted path), or a ``staging_dir`` that is not a writable directory.
        """
        if staging_dir is None:
            if not master.startswith("local"):
                raise ConfigError(
                    f"--engine spark with master {master} needs --staging-dir: a directory on "
                    "a filesystem this machine writes and the Spark executors read (e.g. an "
                    "NFS mount); the cleaned lines are staged there as Parquet."
                )
            return cls(_fresh(Path(tempfile.gettempdir())))
        text = str(staging_dir)
        if is_url(text):
            raise ConfigError(
                f"--staging-dir {text} is a URL; pass a path on a filesystem this machine "
                "writes and the Spark executors mount (DuckDB writes the staged files)."
            )
        root = Path(text)
        if not root.is_dir():
            raise ConfigError(f"--staging-dir {text} is not a directory; create it first.")
        try:
            return cls(_fresh(root).absolute())
        except OSError as exc:
            raise ConfigError(
                f"--staging-dir {text} is not writable ({exc.strerror or exc}); pass a "
                "directory this user can write."
            ) from None

    def remove(self) -> None:
        """Delete the staged files (nothing happens if they are gone already)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._handler_installed:
            self._handler_installed = False
            if signal.getsignal(signal.SIGTERM) is _sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _owner_prefix(pid: int | None = None) -> str:
    """``offers-staging-HOST-PID-``: whose run a staging directory is."""
    host = socket.gethostname().replace("-", "_") or "host"
    return f"{PREFIX}{host}-{os.getpid() if pid is None else pid}-"


def _fresh(root: Path) -> Path:
    """A new staging directory under ``root``, after removing the orphans there."""
    remove_orphans(root)
    return Path(tempfile.mkdtemp(prefix=_owner_prefix(), dir=root))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_orphans(root: Path) -> list[Path]:
    """Remove the staging directories under ``root`` of runs of this host whose process is
    gone (killed before they could clean up); returns them.

    Directories of other hosts (a shared staging directory) and of live processes
    are left alone, and so are names in another form.
    """
    mine = _owner_prefix(0)[: -len("0-")]  # offers-staging-HOST-
    removed = []
    try:
        entries = list(Path(root).iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid_text = entry.name[len(mine):].split("-", 1)[0]
        if not (entry.name.startswith(mine) and pid_text.isdigit() and entry.is_dir()):
            continue
        if int(pid_text) != os.getpid() and not _alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)
            logger.info("removed %s, left by a run that was killed", entry)
            removed.append(entry)
    return removed


def _sigterm(signum, frame) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum} (SIGTERM)")


def _interrupt_on_sigterm() -> bool:
    """Make SIGTERM raise :class:`KeyboardInterrupt` (the ``finally`` blocks that remove the
    staged files then run, as on Ctrl-C); ``True`` if installed here.

    Only in the main thread (Python's rule) and only over the default action: a
    program that handles SIGTERM itself (a server) or ignores it keeps its handler.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _sigterm)
    return True


def stage_lines(data, directory: Path) -> dict[str, Path]:
    """Write ``data``'s cleaned lines and offer events (DuckDB tables) as Parquet.

    ``data`` is a :class:`~features.relational.RelationalData` on DuckDB. The
    copies stream (DuckDB spills above its memory limit). Returns
    ``{"transactions": file, "offer_events": file}``.
    """
    out = {}
    for name, table, types in (("transactions", data.transactions, LINE_TYPES),
                               ("offer_events", data.offer_events, EVENT_TYPES)):
        backend = ibis.get_backend(table)
        columns = [f'CAST("{c}" AS {types[c]}) AS "{c}"' if c in types else f'"{c}"'
                   for c in table.columns]
        sql = f"SELECT {', '.join(columns)} FROM ({ibis.to_sql(table, dialect='duckdb')})"
        path = directory / f"{name}.parquet"
        backend.con.execute(
            f"COPY ({sql}) TO {literal(str(path))} (FORMAT parquet, COMPRESSION zstd)"
        )
        out[name] = path
    logger.info("staged the cleaned lines and offer events in %s", directory)
    return out


def read_staged(con, files: dict[str, Path]) -> tuple:
    """``(lines, offer events)``: the staged files as lazy tables of ``con`` (Spark)."""
    return tuple(read_parquet(con, local_uri(files[name]))
                 for name in ("transactions", "offer_events"))

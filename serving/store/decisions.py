"""The decision log: one row per decision (API and campaign) beside ``offer_events``.

The ``decision_log`` table lives in the event store's database (SQLite file or
PostgreSQL). Each row holds a :class:`~serving.engine.exploration.DecisionRecord`:
who, when, which version and arm, the candidate offers with their scores and
P(redeem), and the offers shown with their propensities (JSON text columns),
which is what ``offers replay`` needs.

The request path never waits on the database: :class:`DecisionWriter` queues
records and a background thread writes them in batches (one transaction per
batch). A full queue or a failing database drops records (counted in
``dropped``, logged) rather than slowing or failing requests. ``decision_log =
false`` in the serving config turns logging off.

Times are ISO 8601 UTC text in both back ends (they sort as text).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from features.errors import DataError
from features.files import read_decision_log
from features.storage import write_frame_atomic
from serving.store.sql import create_tables

logger = logging.getLogger(__name__)

TABLE = "decision_log"
SCHEMA_LOCK = 0x0FFE127  # PostgreSQL advisory lock taken while creating the table
COLUMNS = ("decision_id", "decided_at", "member_id", "channel", "campaign_id",
           "model_version", "source", "epsilon", "suppressed", "arm", "candidates", "shown")
SCHEMA = """
CREATE TABLE IF NOT EXISTS decision_log (
    decision_id TEXT PRIMARY KEY,
    decided_at TEXT NOT NULL,
    member_id TEXT NOT NULL,
    channel TEXT,
    campaign_id TEXT,
    model_version TEXT,
    source TEXT NOT NULL,
    epsilon DOUBLE PRECISION NOT NULL DEFAULT 0,
    suppressed TEXT,
    arm TEXT,
    candidates TEXT NOT NULL,
    shown TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decision_log_time ON decision_log (decided_at, decision_id)
"""
CHUNK = 25  # rows per INSERT; the writer yields the GIL between them (see DecisionLog.write)


class DecisionLog:
    """The ``decision_log`` table of ``store`` (an event store); created on first use."""

    def __init__(self, store) -> None:
        self.store = store
        self.param = store.param
        self._inserts: dict[int, str] = {}  # rows per INSERT -> its statement
        create_tables(store, SCHEMA, SCHEMA_LOCK)

    def write(self, records: Iterable) -> int:
        """Store ``records`` in one transaction; a known id is skipped.

        A record is anything with ``to_row()``: a :class:`~serving.engine.exploration.
        DecisionRecord`, or the :class:`~serving.engine.pending_record.PendingRecord` an API
        request hands over (built here, in the writer's thread).

        Rows are encoded and inserted :data:`CHUNK` at a time, one multi-row ``INSERT`` a
        chunk, handing the GIL over between chunks (``time.sleep(0)``): the background
        writer shares its process with the request threads. One long stretch of Python work
        on a whole batch would make a request wait for it (measured: p99 of an offers request
        3.7 ms instead of 2 ms); one statement per row (``executemany``) gave the GIL away and
        waited for it back at every row, which under 8 connections cost each request more
        CPU than the inserts themselves (issue 14, bench/RESULTS.md).
        """
        records = list(records)
        if not records:
            return 0
        with self.store.connection() as conn, self.store.transaction(conn):
            cursor = conn.cursor()
            for start in range(0, len(records), CHUNK):
                chunk = records[start:start + CHUNK]
                values = []
                for record in chunk:
                    row = record.to_row()
                    values += [row[c] for c in COLUMNS]
                cursor.execute(self._insert(len(chunk)), values)
                time.sleep(0)
        return len(records)

    def _insert(self, rows: int) -> str:
        """An INSERT of ``rows`` rows (at most :data:`CHUNK`), skipping known decision ids."""
        statement = self._inserts.get(rows)
        if statement is None:
            one = f"({', '.join([self.param] * len(COLUMNS))})"
            statement = self._inserts[rows] = (
                f"INSERT INTO decision_log ({', '.join(COLUMNS)}) VALUES "
                f"{', '.join([one] * rows)} ON CONFLICT (decision_id) DO NOTHING")
        return statement

    def iter_rows(self, batch: int = 10_000) -> Iterator[tuple]:
        """Every logged decision as a tuple of :data:`COLUMNS`, oldest first."""
        after: tuple = ()
        p = self.param
        while True:
            where = f"WHERE (decided_at, decision_id) > ({p}, {p}) " if after else ""
            with self.store.connection() as conn:
                rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM decision_log {where}"
                                    f"ORDER BY decided_at, decision_id LIMIT {int(batch)}",
                                    after).fetchall()
            yield from rows
            if len(rows) < batch:
                return
            after = (rows[-1][1], rows[-1][0])

    def count(self) -> int:
        with self.store.connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM decision_log").fetchone()[0])


class DecisionWriter:
    """Writes decision records from a background thread, in batches, off the request path.

    :meth:`submit` only appends to a queue (microseconds); the thread writes
    what gathered in ``linger_s`` (or ``batch`` records) in one transaction, so a
    busy server commits a few times a second, not once per request;
    :meth:`flush` waits until what was submitted is written; :meth:`close`
    flushes and stops.
    """

    def __init__(self, store, *, max_queue: int = 100_000, batch: int = 500,
                 linger_s: float = 0.2) -> None:
        self.log = DecisionLog(store)
        self.batch = batch
        self.linger_s = linger_s  # how long a batch gathers records before it is written
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def submit(self, record) -> None:
        """Queue ``record`` for writing; never blocks (a full queue drops it, counted)."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record submitted so far is written (or dropped)."""
        done = threading.Event()
        self._queue.put(done, timeout=timeout)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            pending, markers, stop = [], [], item is None
            if isinstance(item, threading.Event):
                markers.append(item)
            elif item is not None:
                pending.append(item)
            if pending and self._queue.qsize() < self.batch:
                time.sleep(self.linger_s)  # gather a batch: one commit, one wake-up, not one
                # per request (a blocking get would wake this thread on every submit)
            while not stop and len(pending) < self.batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    pending.append(item)
            if pending:
                try:
                    self.written += self.log.write(pending)
                except Exception as exc:  # the database is down: drop, never fail requests
                    self.dropped += len(pending)
                    logger.warning("decision log: %d decisions not written: %s", len(pending),
                                   " ".join(str(exc).split()))
            for marker in markers:
                marker.set()
            if stop:
                return


def decisions_frame(store) -> pd.DataFrame:
    """Every logged decision, oldest first (``candidates``/``shown`` as JSON text)."""
    return pd.DataFrame(list(DecisionLog(store).iter_rows()), columns=list(COLUMNS))


def read_decisions(path: str | Path) -> pd.DataFrame:
    """A decision log exported by ``offers events export --decisions`` (.csv/.parquet/.jsonl),
    with ``candidates`` and ``shown`` decoded to lists."""
    frame = read_decision_log(path, ("decision_id", "member_id", "candidates", "shown"),
                              hint="; export one with `offers events export --decisions`",
                              dtype={"member_id": str, "decision_id": str})
    for column in ("candidates", "shown"):
        frame[column] = [json.loads(v) if isinstance(v, str) else (v if isinstance(v, list)
                         else []) for v in frame[column]]
    return frame


def export_decisions(store, out: str | Path, *, overwrite: bool = False) -> tuple[Path, int]:
    """Write the decision log to ``out`` (a .csv/.parquet/.jsonl file, or a directory:
    ``decision_log.csv`` there); returns the file and its row count."""
    out = Path(out)
    path = out if out.suffix.lower() in (".csv", ".parquet", ".jsonl") else out / f"{TABLE}.csv"
    if path.exists() and not overwrite:
        raise DataError(f"{path} exists; pass --overwrite to replace it.")
    frame = decisions_frame(store)
    if path.suffix.lower() == ".jsonl":
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        frame.to_json(tmp, orient="records", lines=True)
        tmp.replace(path)
    else:
        write_frame_atomic(frame, path)
    logger.info("wrote %d decisions to %s", len(frame), path)
    return path, len(frame)

"""The embedded event store: one SQLite file in WAL mode, created on first use.

WAL lets readers go on while one writer commits; ``synchronous=FULL`` makes a
commit durable before it returns; writers take the lock up front
(``BEGIN IMMEDIATE``) and wait up to ``busy_timeout`` for each other, so any
number of worker processes can share the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from features.errors import ConfigError
from serving.store.marks import EventMarks, boot_id
from serving.store.sql import SqlEventStore

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS offer_events (
    event_id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    event TEXT NOT NULL,
    timestamp TEXT NOT NULL,          -- ISO 8601, UTC, microseconds: sorts as text
    channel TEXT,
    campaign_id TEXT,
    cost REAL NOT NULL DEFAULT 0,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS offer_events_member ON offer_events (member_id, timestamp);
CREATE INDEX IF NOT EXISTS offer_events_time ON offer_events (timestamp, event_id);
CREATE TABLE IF NOT EXISTS offer_totals (
    offer_id TEXT PRIMARY KEY,
    sent INTEGER NOT NULL DEFAULT 0,
    redeemed INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS store_identity (id TEXT NOT NULL);  -- names the change marks' db
INSERT INTO store_identity (id) SELECT lower(hex(randomblob(16)))
    WHERE NOT EXISTS (SELECT 1 FROM store_identity);
"""


class SqliteEventStore(SqlEventStore):
    """Offer events in the SQLite file at ``path`` (its directory is created if needed)."""

    param = "?"
    busy_timeout_ms = 10_000

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the event store directory {self.path.parent}: "
                              f"{exc.strerror}") from None
        try:
            super().__init__()
        except sqlite3.DatabaseError as exc:  # "file is not a database": not ours to use
            raise ConfigError(f"cannot open the event store {self.path}: {exc}; give an "
                              "SQLite database file (a new path creates one).") from None
        self.marks = self._open_marks()
        logger.info("event store: SQLite %s", self.path)

    def _open_marks(self) -> EventMarks | None:
        """The change marks beside the database (:mod:`serving.store.marks`); None where the
        system has no boot id or the file cannot be made (every read then queries)."""
        boot = boot_id()
        if boot is None:
            return None
        with self.connection() as conn:
            database_id = conn.execute("SELECT id FROM store_identity").fetchone()[0]

        def stored_members():
            with self.connection() as conn:
                return [r[0] for r in conn.execute(
                    "SELECT DISTINCT member_id FROM offer_events").fetchall()]

        try:
            stat = os.stat(self.path)
            return EventMarks(self.path.with_name(self.path.name + "-marks"), database_id, boot,
                              stored_members, database_file=(stat.st_dev, stat.st_ino))
        except OSError as exc:
            logger.warning("event store %s: no change marks (%s); every read queries",
                           self.path, exc)
            return None

    def __repr__(self) -> str:
        return f"SqliteEventStore({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self.busy_timeout_ms / 1000)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the event store {self.path}: {exc}") from None
        conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    @contextlib.contextmanager
    def transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        for statement in filter(str.strip, SCHEMA.split(";")):
            conn.execute(statement)

    def _is_unavailable(self, exc: BaseException) -> bool:
        # Locked past busy_timeout, a full disk, an I/O error: retry later (503), not a 500.
        return isinstance(exc, sqlite3.OperationalError) and any(
            word in str(exc) for word in ("locked", "full", "disk I/O", "unable to open"))

    def _to_db_time(self, ts: datetime) -> str:
        return ts.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def _from_db_time(self, value: str) -> datetime:
        return datetime.fromisoformat(value)

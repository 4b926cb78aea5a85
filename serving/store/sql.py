"""The SQL shared by the SQLite and PostgreSQL event stores (both speak ``ON CONFLICT``).

Back ends supply a connection, a write transaction, the schema and the
timestamp conversion; everything else is here. Connections are kept in a
small per-process pool (one per concurrent request at most) and closed by
:meth:`SqlEventStore.close`.

A database that goes away (stopped, restarting, unreachable) is a
:class:`~features.errors.StoreUnavailable` (HTTP 503, nothing stored) for the
requests that meet it: the failed connection is closed and the idle pool
emptied (its connections died with the server), so requests reconnect by
themselves once the database is back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from features.errors import EventConflict, StoreUnavailable
from serving.store.base import (
    COLUMNS,
    EXPORT_COLUMNS,
    AddResult,
    HistorySnapshot,
    StoredEvent,
)

logger = logging.getLogger(__name__)


def create_tables(store, schema: str, lock: int) -> None:
    """Run ``schema``'s statements (``CREATE ... IF NOT EXISTS``) in one transaction of
    ``store``; on PostgreSQL under the advisory lock ``lock``, so that workers starting
    together do not race. Used by the tables that borrow the event store's connections
    (campaign jobs, the decision log)."""
    with store.connection() as conn, store.transaction(conn):
        if store.param == "%s":
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        for statement in filter(str.strip, schema.split(";")):
            conn.execute(statement)

#: What a client is told (details, which may name hosts, go to the log only).
UNAVAILABLE = "the event store is unavailable (database down or restarting); retry in a few seconds"
CHUNK = 200  # rows per multi-row INSERT or IN (...) list
MEMBER_EVENTS_LIMIT = 500  # most recent events per member read for frequency caps


class SqlEventStore:
    """Base of the SQL event stores; see :mod:`serving.store.base` for the contract."""

    param = "?"
    max_idle = 4
    #: Change marks that let a one-member read skip the database (:mod:`serving.store.marks`;
    #: the SQLite store's), or None: always read.
    marks = None

    def __init__(self) -> None:
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        with self.connection() as conn, self.transaction(conn):
            self._create_schema(conn)

    # -- back-end hooks ---------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def transaction(self, conn: Any) -> contextlib.AbstractContextManager:
        """One transaction on ``conn`` (from :meth:`connection`): committed on exit, rolled
        back on an exception. Public for the other tables that live in the same database
        (:mod:`serving.store.jobs`)."""
        raise NotImplementedError

    def _create_schema(self, conn: Any) -> None:
        raise NotImplementedError

    def _to_db_time(self, ts: datetime) -> Any:
        return ts

    def _from_db_time(self, value: Any) -> datetime:
        return value

    def _is_unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the database cannot be used now (not a bad statement)."""
        return False

    def _describe(self) -> str:
        return "the event store"

    # -- the interface ----------------------------------------------------------------------
    def add(self, events: Sequence[StoredEvent]) -> AddResult:
        """Store ``events`` in one durable transaction; already-stored ids are duplicates.

        Raises
        ------
        EventConflict
            When an ``event_id`` is stored (or repeated in ``events``) with
            different content; nothing is stored then.
        """
        unique: dict[str, StoredEvent] = {}
        for event in events:
            seen = unique.setdefault(event.event_id, event)
            if not seen.same_as(event):
                raise EventConflict(f"event_id {event.event_id!r} appears twice with different "
                                    "content; give each distinct event its own event_id.")
        received = self._to_db_time(datetime.now(timezone.utc))
        stored: set[str] = set()
        members = {e.member_id for e in unique.values()}
        if self.marks is not None:  # before too: a reader between commit and mark reads
            self.marks.mark(members)
        with self.connection() as conn, self.transaction(conn):
            for chunk in _chunks(list(unique.values())):
                row = "(" + ", ".join([self.param] * (len(COLUMNS) + 1)) + ")"
                params = [v for e in chunk for v in (*self._row(e), received)]
                found = conn.execute(
                    f"INSERT INTO offer_events ({', '.join(COLUMNS)}, received_at) "
                    f"VALUES {', '.join([row] * len(chunk))} "
                    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id", params).fetchall()
                stored.update(r[0] for r in found)
            duplicates = [i for i in unique if i not in stored]
            self._check_duplicates(conn, [unique[i] for i in duplicates])
            self._add_totals(conn, [unique[i] for i in unique if i in stored])
        if self.marks is not None:  # committed: every reader from now on sees a new mark
            self.marks.mark(members)
        return AddResult([i for i in unique if i in stored], duplicates)

    def member_events(self, member_id: str) -> list[tuple]:
        """The member's latest events, oldest first: ``(offer_id, event, timestamp, channel)``.

        ``timestamp`` is a naive UTC datetime (the engine's ``OfferHistory`` protocol).
        """
        return self.member_events_many([member_id]).get(member_id, [])

    def member_events_many(self, member_ids: Iterable[str]) -> dict[str, list[tuple]]:
        """:meth:`member_events` for many members in a few queries: ``{member_id: events}``."""
        out: dict[str, list[tuple]] = {}
        with self.connection() as conn:
            for chunk in _chunks(list(dict.fromkeys(member_ids))):
                rows = conn.execute(
                    "SELECT member_id, offer_id, event, timestamp, channel FROM offer_events "
                    f"WHERE member_id IN ({', '.join([self.param] * len(chunk))}) "
                    "ORDER BY member_id, timestamp, event_id", chunk).fetchall()
                for member, offer, event, ts, channel in rows:
                    stamp = self._from_db_time(ts).astimezone(timezone.utc).replace(tzinfo=None)
                    out.setdefault(member, []).append((offer, event, stamp, channel))
        return {m: events[-MEMBER_EVENTS_LIMIT:] for m, events in out.items()}

    def snapshot(self, member_ids: Iterable[str]) -> HistorySnapshot:
        """The events of ``member_ids``, read now, and the offer totals, read when first asked."""
        ids = list(member_ids)
        if len(ids) == 1:  # one request: one fixed statement (prepared once per connection)
            events = (self._one_member_events(ids[0]) if self.marks is None
                      else self.marks.member_events(ids[0], self._one_member_events))
            return HistorySnapshot({ids[0]: events} if events else {}, self.offer_totals)
        return HistorySnapshot(self.member_events_many(ids), self.offer_totals)

    def _one_member_events(self, member_id: str) -> list[tuple]:
        """:meth:`member_events` in one indexed query reading the latest events only."""
        with self.connection() as conn:
            rows = conn.execute(self._one_member_sql, (member_id,)).fetchall()
        out = []
        for offer, event, ts, channel in reversed(rows):
            stamp = self._from_db_time(ts).astimezone(timezone.utc).replace(tzinfo=None)
            out.append((offer, event, stamp, channel))
        return out

    @functools.cached_property
    def _one_member_sql(self) -> str:
        return ("SELECT offer_id, event, timestamp, channel FROM offer_events "
                f"WHERE member_id = {self.param} ORDER BY timestamp DESC, event_id DESC "
                f"LIMIT {MEMBER_EVENTS_LIMIT}")

    def offer_totals(self) -> dict[str, dict[str, float]]:
        """``{offer_id: {"sent": n, "redeemed": n, "cost": money}}`` over every stored event."""
        with self.connection() as conn:
            rows = conn.execute("SELECT offer_id, sent, redeemed, cost FROM offer_totals")
            return {o: {"sent": int(s), "redeemed": int(r), "cost": float(c)}
                    for o, s, r, c in rows.fetchall()}

    def count(self) -> int:
        with self.connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM offer_events").fetchone()[0])

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.connection() as conn:
            conn.execute("SELECT 1").fetchone()

    def iter_rows(self, batch: int = 10_000) -> Iterator[tuple]:
        """Every event as a tuple of :data:`~serving.store.base.EXPORT_COLUMNS`, oldest first."""
        after: tuple = ()
        while True:
            where = f"WHERE (timestamp, event_id) > ({self.param}, {self.param}) " if after else ""
            with self.connection() as conn:
                rows = conn.execute(
                    f"SELECT {', '.join(EXPORT_COLUMNS)} FROM offer_events {where}"
                    f"ORDER BY timestamp, event_id LIMIT {int(batch)}", after).fetchall()
            for row in rows:
                yield (*row[:3], self._from_db_time(row[3]), *row[4:])
            if len(rows) < batch:
                return
            after = (rows[-1][3], rows[-1][6])

    def close(self) -> None:
        """Close the pooled connections; the store must not be used afterwards."""
        with self._lock:
            self._closed, idle, self._idle = True, self._idle, []
        for conn in idle:
            conn.close()
        if self.marks is not None:
            self.marks.close()

    # -- helpers ----------------------------------------------------------------------------
    def _row(self, e: StoredEvent) -> tuple:
        return (e.event_id, e.member_id, e.offer_id, e.event, self._to_db_time(e.timestamp),
                e.channel, e.campaign_id, float(e.cost))

    def _check_duplicates(self, conn: Any, events: list[StoredEvent]) -> None:
        for chunk in _chunks(events):
            rows = conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM offer_events "
                f"WHERE event_id IN ({', '.join([self.param] * len(chunk))})",
                [e.event_id for e in chunk]).fetchall()
            stored = {r[0]: StoredEvent(*r[:4], self._from_db_time(r[4]), *r[5:]) for r in rows}
            for event in chunk:
                if not event.same_as(stored[event.event_id]):
                    raise EventConflict(
                        f"event_id {event.event_id!r} is already stored for a different event; "
                        "a retry must repeat the original event exactly, a new event needs a "
                        "new event_id.")

    def _add_totals(self, conn: Any, events: list[StoredEvent]) -> None:
        totals: dict[str, list[float]] = {}
        for e in events:
            t = totals.setdefault(e.offer_id, [0, 0, 0.0])
            t[0] += e.event == "sent"
            t[1] += e.event == "redeemed"
            t[2] += e.cost
        p = self.param
        for offer_id, (sent, redeemed, cost) in sorted(totals.items()):  # sorted: no deadlocks
            conn.execute(
                f"INSERT INTO offer_totals (offer_id, sent, redeemed, cost) VALUES ({p}, {p}, {p}, "
                f"{p}) ON CONFLICT (offer_id) DO UPDATE SET sent = offer_totals.sent + "
                "excluded.sent, redeemed = offer_totals.redeemed + excluded.redeemed, "
                "cost = offer_totals.cost + excluded.cost", (offer_id, sent, redeemed, cost))

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection for the duration of the block (see :meth:`transaction`)."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        except BaseException as exc:
            if self._is_unavailable(exc):
                self._discard(conn)
                logger.warning("%s is unavailable: %s", self._describe(),
                               " ".join(str(exc).split()))
                raise StoreUnavailable(UNAVAILABLE) from None
            conn.close()  # state unknown after an error: never reuse it
            raise
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()


    def _discard(self, conn: Any) -> None:
        """Close ``conn`` and every idle connection: the database dropped them all."""
        with self._lock:
            idle, self._idle = self._idle, []
        for dead in (conn, *idle):
            with contextlib.suppress(Exception):
                dead.close()


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

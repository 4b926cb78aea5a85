"""Campaign jobs in the event store's database, so that every worker sees every job.

Two tables beside ``offer_events`` (same SQLite file or PostgreSQL database):

- ``campaign_jobs``: one row per job (request, status, totals, who runs it and
  when that process last said it was alive); ``client_key`` is unique, which
  makes creation idempotent across workers;
- ``campaign_rows``: the allocation, one JSON text line per offer (``kind``
  ``offers``) or held-out member (``holdouts``), numbered from 0 by ``seq`` so
  a page is one indexed range query.

Rows live in the database rather than as a file under the instance folder
because the workers of one PostgreSQL-backed service may run on several
hosts. Rows are written in short transactions (events go on being stored
between them) while the job is ``running``, and only served once it is
``done``: :meth:`JobStore.finish` sets ``done`` in one transaction that
checks every row is there, so a job is never seen done with part of its rows;
:meth:`JobStore.fail` deletes what a failed job wrote.

Times are ISO 8601 UTC text in both back ends (they sort as text).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from serving.store.sql import create_tables

STATES = ("queued", "running", "done", "failed")
KINDS = ("offers", "holdouts")
ROW_CHUNK = 200
SCHEMA_LOCK = 0x0FFE126  # PostgreSQL advisory lock taken while creating these tables

SCHEMA = """
CREATE TABLE IF NOT EXISTS campaign_jobs (
    job_id TEXT PRIMARY KEY,
    client_key TEXT UNIQUE,
    fingerprint TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    summary TEXT,
    owner TEXT NOT NULL,
    model_version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    heartbeat_at TEXT NOT NULL,
    n_offers INTEGER NOT NULL DEFAULT 0,
    n_holdouts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS campaign_jobs_status ON campaign_jobs (status);
CREATE TABLE IF NOT EXISTS campaign_rows (
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (job_id, kind, seq)
);
"""

_COLUMNS = ("job_id", "client_key", "fingerprint", "request", "status", "error", "summary",
            "owner", "model_version", "created_at", "started_at", "finished_at",
            "heartbeat_at", "n_offers", "n_holdouts")
_TOKENS: dict[int, str] = {}


@dataclass(frozen=True)
class Job:
    """One campaign job as stored (``request`` and ``summary`` decoded from JSON)."""

    job_id: str
    client_key: str | None
    fingerprint: str
    request: dict
    status: str
    error: str | None
    summary: dict | None
    owner: str
    model_version: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str
    n_offers: int
    n_holdouts: int


def utc_text(when: datetime | None = None) -> str:
    """``when`` (default now) as the ISO 8601 UTC text stored in the job table."""
    when = when or datetime.now(timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")


def process_owner() -> str:
    """``host:pid:token`` naming this process; a new token after a fork or a restart."""
    pid = os.getpid()
    if pid not in _TOKENS:
        _TOKENS[pid] = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:12]}"
    return _TOKENS[pid]


def owner_gone(owner: str, heartbeat_at: str, stale_seconds: float,
               now: datetime | None = None) -> bool:
    """Whether the process ``owner`` can no longer be running its job.

    Gone when its heartbeat is older than ``stale_seconds`` (any host), or,
    on this host, when no process has its pid, or the pid is this process's
    under another token (an earlier process that had the same pid).
    """
    now = now or datetime.now(timezone.utc)
    if now - datetime.fromisoformat(heartbeat_at) > timedelta(seconds=stale_seconds):
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner != process_owner()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's live process
        return False
    return False


class JobStore:
    """Campaign jobs in the database of ``store`` (a :class:`~serving.store.sql.SqlEventStore`).

    It borrows the event store's connection pool and transactions; the tables
    are created on first use.
    """

    def __init__(self, store) -> None:
        self.store = store
        self.param = store.param
        create_tables(store, SCHEMA, SCHEMA_LOCK)

    # -- creation and reading ---------------------------------------------------------------
    def create(self, request: dict, fingerprint: str, client_key: str | None,
               model_version: str, owner: str | None = None) -> tuple[Job, bool]:
        """Store a new queued job; with a ``client_key`` already used, the job stored for it.

        Returns ``(job, created)``; the caller compares ``job.fingerprint``
        with its own to tell a retry from a conflicting reuse of the key.
        """
        job_id = "cmp_" + uuid.uuid4().hex
        now = utc_text()
        values = (job_id, client_key, fingerprint, json.dumps(request, sort_keys=True),
                  "queued", None, None, owner or process_owner(), model_version, now, None,
                  None, now, 0, 0)
        marks = ", ".join([self.param] * len(_COLUMNS))
        conflict = " ON CONFLICT (client_key) DO NOTHING" if client_key is not None else ""
        with self.store.connection() as conn, self.store.transaction(conn):
            inserted = conn.execute(
                f"INSERT INTO campaign_jobs ({', '.join(_COLUMNS)}) VALUES ({marks}){conflict} "
                "RETURNING job_id", values).fetchall()
            if not inserted:
                row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM campaign_jobs "
                                   f"WHERE client_key = {self.param}", (client_key,)).fetchone()
                return _job(row), False
        return self.get(job_id), True

    def get(self, job_id: str) -> Job | None:
        with self.store.connection() as conn:
            row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM campaign_jobs "
                               f"WHERE job_id = {self.param}", (job_id,)).fetchone()
        return _job(row) if row else None

    def unfinished(self) -> list[Job]:
        """Jobs queued or running, oldest first."""
        with self.store.connection() as conn:
            rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM campaign_jobs WHERE status "
                                "IN ('queued', 'running') ORDER BY created_at").fetchall()
        return [_job(r) for r in rows]

    def rows(self, job_id: str, kind: str, start: int, limit: int,
             chunk: int = 1000) -> Iterator[str]:
        """The JSON lines ``start .. start + limit - 1`` of ``kind``, read ``chunk`` at a time."""
        p = self.param
        end = start + limit
        while start < end:
            with self.store.connection() as conn:
                lines = [r[0] for r in conn.execute(
                    f"SELECT line FROM campaign_rows WHERE job_id = {p} AND kind = {p} "
                    f"AND seq >= {p} AND seq < {p} ORDER BY seq",
                    (job_id, kind, start, min(start + chunk, end))).fetchall()]
            yield from lines
            if len(lines) < min(chunk, end - start):
                return
            start += len(lines)

    # -- state changes ----------------------------------------------------------------------
    def start(self, job_id: str, owner: str) -> bool:
        """``queued`` -> ``running`` for its owner; False when it is no longer queued."""
        now = utc_text()
        return self._update("status = 'running', started_at = {p}, heartbeat_at = {p}",
                            (now, now), job_id, owner, ("queued",))

    def heartbeat(self, owner: str, job_ids: Iterable[str]) -> None:
        """Say that ``owner`` is alive and holds the unfinished jobs ``job_ids``."""
        p, ids = self.param, list(job_ids)
        if not ids:
            return
        with self.store.connection() as conn, self.store.transaction(conn):
            conn.execute(f"UPDATE campaign_jobs SET heartbeat_at = {p} WHERE owner = {p} AND "
                         f"job_id IN ({', '.join([p] * len(ids))}) AND "
                         "status IN ('queued', 'running')", (utc_text(), owner, *ids))

    def write_rows(self, job_id: str, kind: str, lines: Iterable[str],
                   batch: int = 2000) -> int:
        """Append ``lines`` to the job's ``kind`` rows, ``batch`` per short transaction.

        Short transactions let event writes go on between them (SQLite has one
        writer at a time). The rows stay invisible until :meth:`finish`; a
        job that fails instead has them deleted. Returns the number written.
        """
        p, count, lines = self.param, 0, iter(lines)
        while chunk := list(itertools.islice(lines, batch)):
            with self.store.connection() as conn, self.store.transaction(conn):
                for start in range(0, len(chunk), ROW_CHUNK):
                    part = chunk[start:start + ROW_CHUNK]
                    params = [v for n, text in enumerate(part, count + start)
                              for v in (job_id, kind, n, text)]
                    conn.execute("INSERT INTO campaign_rows (job_id, kind, seq, line) VALUES "
                                 + ", ".join([f"({p}, {p}, {p}, {p})"] * len(part)), params)
            count += len(chunk)
        return count

    def finish(self, job_id: str, owner: str, summary: dict, n_offers: int,
               n_holdouts: int) -> bool:
        """Mark ``owner``'s running job done, if all its rows are stored.

        False (the job unchanged) when the job is no longer this owner's
        running job (it was marked failed meanwhile) or when its stored rows
        are not exactly ``n_offers`` offers and ``n_holdouts`` holdouts.
        """
        p = self.param
        count = (f"(SELECT COUNT(*) FROM campaign_rows WHERE job_id = {p} AND kind = {p})")
        with self.store.connection() as conn, self.store.transaction(conn):
            done = conn.execute(
                f"UPDATE campaign_jobs SET status = 'done', summary = {p}, finished_at = {p}, "
                f"n_offers = {p}, n_holdouts = {p} WHERE job_id = {p} AND owner = {p} AND "
                f"status = 'running' AND {count} = {p} AND {count} = {p} RETURNING job_id",
                (json.dumps(summary, sort_keys=True), utc_text(), n_offers, n_holdouts,
                 job_id, owner, job_id, "offers", n_offers, job_id, "holdouts",
                 n_holdouts)).fetchall()
        return bool(done)

    def fail(self, job_id: str, reason: str, owner: str | None = None,
             states: Iterable[str] = ("queued", "running")) -> bool:
        """Mark an unfinished job failed with ``reason`` (only ``owner``'s, when given).

        Any rows it had written are deleted.
        """
        failed = self._update("status = 'failed', error = {p}, finished_at = {p}",
                              (reason, utc_text()), job_id, owner, tuple(states))
        if failed:
            self._delete_rows([job_id])
        return failed

    def purge(self, finished_before: datetime) -> int:
        """Delete the jobs (and rows) finished before ``finished_before``; returns how many."""
        p = self.param
        with self.store.connection() as conn:
            old = [r[0] for r in conn.execute(
                f"SELECT job_id FROM campaign_jobs WHERE finished_at < {p}",
                (utc_text(finished_before),)).fetchall()]
        self._delete_rows(old)
        for start in range(0, len(old), ROW_CHUNK):
            part = old[start:start + ROW_CHUNK]
            with self.store.connection() as conn, self.store.transaction(conn):
                conn.execute(f"DELETE FROM campaign_jobs WHERE job_id IN "
                             f"({', '.join([p] * len(part))})", part)
        return len(old)

    def _delete_rows(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            with self.store.connection() as conn, self.store.transaction(conn):
                conn.execute(f"DELETE FROM campaign_rows WHERE job_id = {self.param}", (job_id,))

    def _update(self, assignments: str, values: tuple, job_id: str, owner: str | None,
                states: tuple[str, ...]) -> bool:
        p = self.param
        where = f"job_id = {p} AND status IN ({', '.join([p] * len(states))})"
        params: list[Any] = [*values, job_id, *states]
        if owner is not None:
            where += f" AND owner = {p}"
            params.append(owner)
        with self.store.connection() as conn, self.store.transaction(conn):
            changed = conn.execute(
                f"UPDATE campaign_jobs SET {assignments.format(p=p)} WHERE {where} "
                "RETURNING job_id", params).fetchall()
        return bool(changed)


def _job(row: tuple) -> Job:
    values = dict(zip(_COLUMNS, row))
    values["request"] = json.loads(values["request"])
    values["summary"] = json.loads(values["summary"]) if values["summary"] else None
    values["n_offers"], values["n_holdouts"] = int(values["n_offers"]), int(values["n_holdouts"])
    return Job(**values)

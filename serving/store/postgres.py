"""The production event store: PostgreSQL by URL (``postgresql://user:pass@host:5432/db``).

Needs the ``psycopg`` driver (a dependency of this package). Connections run
in autocommit mode with an explicit transaction per write; concurrent
inserts of one ``event_id`` are serialised by the primary key, so the loser
sees a duplicate and counts nothing. The schema is created under an advisory
lock, so workers starting together do not race.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

from features.errors import ConfigError, StoreUnavailable
from serving.store.sql import UNAVAILABLE, SqlEventStore

logger = logging.getLogger(__name__)

SCHEMA_LOCK = 0x0FFE125  # any constant shared by every process creating the schema
SCHEMA = """
CREATE TABLE IF NOT EXISTS offer_events (
    event_id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    event TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    channel TEXT,
    campaign_id TEXT,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS offer_events_member ON offer_events (member_id, timestamp);
CREATE INDEX IF NOT EXISTS offer_events_time ON offer_events (timestamp, event_id);
CREATE TABLE IF NOT EXISTS offer_totals (
    offer_id TEXT PRIMARY KEY,
    sent BIGINT NOT NULL DEFAULT 0,
    redeemed BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0
);
"""


class PostgresEventStore(SqlEventStore):
    """Offer events in the PostgreSQL database at ``url``."""

    param = "%s"
    connect_timeout_s = 5

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__()
        logger.info("event store: PostgreSQL %s", _redacted(url))

    def __repr__(self) -> str:
        return f"PostgresEventStore({_redacted(self.url)!r})"

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg is a dependency
            raise ConfigError("the PostgreSQL event store needs psycopg: "
                              "pip install 'psycopg[binary]'.") from None
        try:
            conn = psycopg.connect(self.url, autocommit=True,
                                   connect_timeout=self.connect_timeout_s)
        except psycopg.OperationalError as exc:  # down, restarting, refused, bad password
            logger.warning("cannot connect to the event store %s: %s", _redacted(self.url),
                           " ".join(str(exc).split()))
            raise StoreUnavailable(UNAVAILABLE) from None
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to the event store {_redacted(self.url)}: "
                              f"{str(exc).strip()}") from None
        try:
            conn.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as exc:  # the server went away between connecting and this
            conn.close()
            logger.warning("the event store %s went away: %s", _redacted(self.url),
                           " ".join(str(exc).split()))
            raise StoreUnavailable(UNAVAILABLE) from None
        return conn

    def _is_unavailable(self, exc: BaseException) -> bool:
        import psycopg

        # OperationalError: the server went away (AdminShutdown, connection lost);
        # InterfaceError: a connection psycopg already knows is closed.
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))

    def _describe(self) -> str:
        return f"the event store {_redacted(self.url)}"

    @contextlib.contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        with conn.transaction():
            yield

    def _create_schema(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for statement in filter(str.strip, SCHEMA.split(";")):
            conn.execute(statement)


def _redacted(url: str) -> str:
    """``url`` without its password (for logs and messages)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)

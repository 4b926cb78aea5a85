"""The offer event store: durable, idempotent by ``event_id``, shared by every worker.

One small interface, two back ends: an embedded SQLite file (WAL mode; the
default, created on first use) and PostgreSQL (``postgresql://...``).
:func:`serving.store.open_store` picks one from a path or URL.

Writes are one transaction per request: events whose ``event_id`` is already
stored are reported as duplicates and not counted again (a retry is a no-op);
an ``event_id`` reused for a *different* event is an :class:`EventConflict`
and nothing of that request is stored. The transaction commits (to disk:
SQLite ``synchronous=FULL``, PostgreSQL's default) before :meth:`EventStore.add`
returns. Per-offer totals (sent, redeemed, cost) are kept in their own table,
updated in the same transaction, so reading them costs one small query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

COLUMNS = ("event_id", "member_id", "offer_id", "event", "timestamp", "channel", "campaign_id",
           "cost")
EXPORT_COLUMNS = ("member_id", "offer_id", "event", "timestamp", "channel", "campaign_id",
                  "event_id")


@dataclass(frozen=True)
class StoredEvent:
    """One offer event as stored; ``timestamp`` is timezone-aware UTC.

    ``cost`` is what the event cost the program (the offer's cost on a
    redemption, 0 otherwise); it feeds the per-offer budget totals.
    """

    event_id: str
    member_id: str
    offer_id: str
    event: str
    timestamp: datetime
    channel: str | None = None
    campaign_id: str | None = None
    cost: float = 0.0
    server_time: bool = False  # the timestamp is the server's clock (the client sent none)

    def same_as(self, other: StoredEvent) -> bool:
        """Whether this event repeats ``other`` (a retry).

        The cost is derived, not compared; nor is the timestamp when the server
        supplied it (a retry without one arrives at another time).
        """
        fields = ["member_id", "offer_id", "event", "channel", "campaign_id"]
        if not (self.server_time or other.server_time):
            fields.append("timestamp")
        return all(getattr(self, f) == getattr(other, f) for f in fields)


class HistorySnapshot:
    """The engine's ``OfferHistory`` over events read once (for one request or batch chunk).

    ``totals`` may be a function that reads them: it is then called on the
    first :meth:`offer_totals` only, so a request whose catalog has no budget
    or redemption caps (the engine never asks) saves that query.
    """

    def __init__(self, events: dict[str, list[tuple]],
                 totals: dict[str, dict[str, float]] | Callable[[], dict]):
        self._events = events
        self._totals = totals

    def member_events(self, member_id: str) -> list[tuple]:
        return self._events.get(member_id, [])

    def offer_totals(self) -> dict[str, dict[str, float]]:
        if callable(self._totals):
            self._totals = self._totals()
        return self._totals


@dataclass(frozen=True)
class AddResult:
    stored: list[str]
    duplicates: list[str]

"""What the engine needs to know about offers already sent: the :class:`OfferHistory` protocol.

Caps (per member per window, cooldown, contact policy, total budget,
redemption limit) are counted from it. The serving app implements the
protocol on its event store; :class:`InMemoryHistory` implements it on an
``offer_events`` table (a data directory's, or events added one by one) for
the command line and tests.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from features.errors import DataError

logger = logging.getLogger(__name__)


class OfferEvent(NamedTuple):
    """One event of one member: ``(offer_id, event, timestamp, channel)``.

    ``event`` is ``sent``, ``viewed``, ``redeemed`` or ``dismissed``;
    ``timestamp`` a naive UTC ``datetime`` (or anything ``numpy.datetime64`` reads).
    """

    offer_id: str
    event: str
    timestamp: datetime
    channel: str | None = None


@runtime_checkable
class OfferHistory(Protocol):
    """The engine's view of an event store."""

    def member_events(self, member_id: str) -> list[OfferEvent]:
        """Every event of ``member_id`` (any order; tuples of the same four fields work too)."""

    def offer_totals(self) -> dict[str, dict[str, float]]:
        """Per offer id: ``{"sent": n, "redeemed": n, "cost": total cost of redemptions}``."""


class InMemoryHistory:
    """An :class:`OfferHistory` over an events table held in memory.

    Parameters
    ----------
    events : DataFrame, optional
        ``member_id, offer_id, event, timestamp`` and optionally ``channel``
        and ``cost`` (the cost of each redemption; 0 when absent).
    """

    COLUMNS = ("member_id", "offer_id", "event", "timestamp")

    def __init__(self, events: pd.DataFrame | None = None):
        if events is None:
            events = pd.DataFrame({c: pd.Series(dtype=object) for c in self.COLUMNS})
        missing = [c for c in self.COLUMNS if c not in events.columns]
        if missing:
            raise DataError(f"offer events lack column(s) {missing}; they need "
                            f"{list(self.COLUMNS)} (and optionally channel, cost).")
        frame = pd.DataFrame({
            "member_id": events["member_id"].astype(str).to_numpy(dtype=object),
            "offer_id": events["offer_id"].astype(str).to_numpy(dtype=object),
            "event": events["event"].astype(str).to_numpy(dtype=object),
            "timestamp": pd.to_datetime(events["timestamp"]).to_numpy(dtype="datetime64[ns]"),
            "channel": (events["channel"].astype(object).to_numpy() if "channel" in events
                        else np.full(len(events), None, dtype=object)),
            "cost": (pd.to_numeric(events["cost"]).fillna(0.0).to_numpy(dtype=float)
                     if "cost" in events else np.zeros(len(events))),
        })
        self._frame = frame
        self._added: list[tuple] = []
        self._by_member: dict[str, list[OfferEvent]] | None = None
        self._totals: dict[str, dict[str, float]] | None = None

    @classmethod
    def from_events(cls, events: pd.DataFrame) -> InMemoryHistory:
        """From an ``offer_events`` table (as loaded by :func:`features.loading.load_dataset`)."""
        return cls(events)

    @classmethod
    def from_data_dir(cls, data_dir) -> InMemoryHistory:
        """From the ``offer_events`` table of a data directory (empty when it has none)."""
        from features.loading import load_dataset

        return cls(load_dataset(data_dir).offer_events)

    # ------------------------------------------------------------ protocol
    def member_events(self, member_id: str) -> list[OfferEvent]:
        if self._by_member is None:
            self._by_member = self._group()
        return self._by_member.get(str(member_id), [])

    def offer_totals(self) -> dict[str, dict[str, float]]:
        if self._totals is None:
            frame = self.frame
            sent = frame["event"] == "sent"
            redeemed = frame["event"] == "redeemed"
            grouped = pd.DataFrame({"offer_id": frame["offer_id"], "sent": sent,
                                    "redeemed": redeemed,
                                    "cost": np.where(redeemed, frame["cost"], 0.0)})
            sums = grouped.groupby("offer_id", sort=False)[["sent", "redeemed", "cost"]].sum()
            self._totals = {
                str(k): {"sent": int(r.sent), "redeemed": int(r.redeemed), "cost": float(r.cost)}
                for k, r in sums.iterrows()
            }
        return self._totals

    # ------------------------------------------------------------ extras
    def add(self, member_id: str, offer_id: str, event: str, timestamp, channel=None,
            cost: float = 0.0) -> None:
        """Record one event (as the server's store would)."""
        self._added.append((str(member_id), str(offer_id), str(event),
                            np.datetime64(pd.Timestamp(timestamp).to_datetime64(), "ns"),
                            channel, float(cost)))
        if self._by_member is not None:
            self._by_member.setdefault(str(member_id), []).append(
                OfferEvent(str(offer_id), str(event), pd.Timestamp(timestamp).to_pydatetime(),
                           channel))
        self._totals = None

    @property
    def frame(self) -> pd.DataFrame:
        """Every event as one frame (``member_id, offer_id, event, timestamp, channel, cost``)."""
        if self._added:
            extra = pd.DataFrame(self._added, columns=list(self._frame.columns))
            self._frame = pd.concat([self._frame, extra], ignore_index=True)
            self._added = []
        return self._frame

    def _group(self) -> dict[str, list[OfferEvent]]:
        frame = self.frame
        out: dict[str, list[OfferEvent]] = defaultdict(list)
        stamps = frame["timestamp"].to_numpy(dtype="datetime64[us]").tolist()
        for member, offer, event, ts, channel in zip(frame["member_id"], frame["offer_id"],
                                                     frame["event"], stamps, frame["channel"]):
            out[member].append(OfferEvent(offer, event, ts, channel))
        logger.debug("grouped %d offer events of %d members", len(frame), len(out))
        return dict(out)

"""``POST /v1/events``: feedback on offers (sent, viewed, redeemed, dismissed); scope ``events``.

The body is one event or a list of up to ``EVENTS_MAX_PER_REQUEST`` (1,000)::

    {"event_id": "cmp7-000123-sent", "member_id": "1029", "offer_id": "win_back_10",
     "event": "sent", "channel": "email", "timestamp": "2024-03-31T14:05:00Z",
     "campaign_id": "cmp7"}

A ``redeemed`` event may carry its ``cost`` (what the redemption cost the
program); without one the engine's estimate for that member and offer is
stored. Costs and counts feed the offers' budget and redemption caps.

``event_id`` makes a retry idempotent: an event already stored is reported as
a duplicate and not counted twice. Either every event of a request is valid and
the request is stored in one transaction (durable before the answer), or
nothing is stored and the error lists what to fix (400; 422 when every event
is well-formed but refused: an offer id the catalog does not know, a timestamp
in the future or before 1970; 409 when an ``event_id`` is reused for a
different event; 503 with ``Retry-After`` when the database cannot be
reached: the request was not stored, retry it).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
from flask import Blueprint, current_app, g

from features.contract import EVENT_TYPES
from features.errors import ApiError, EventConflict, StoreUnavailable
from serving.api.auth import require
from serving.api.params import check_id, json_body, parse_utc
from serving.store.base import StoredEvent

bp = Blueprint("events", __name__, url_prefix="/v1")

FIELDS = ("event_id", "member_id", "offer_id", "event", "timestamp", "channel", "campaign_id",
          "cost")
FUTURE_SLACK = timedelta(minutes=5)  # clock skew allowed on client timestamps
# Oldest timestamp taken: later steps (exports, history frames) hold times as pandas
# nanoseconds, which end before year 1678; no loyalty event predates 1970.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
SHOWN_PROBLEMS = 5


@bp.post("/events")
@require("events")
def post_events():
    data = json_body()
    events = data if isinstance(data, list) else [data]
    cap = current_app.config["EVENTS_MAX_PER_REQUEST"]
    if not events:
        raise ApiError("the list of events is empty; send one event or a list of events.")
    if len(events) > cap:
        raise ApiError(f"{len(events)} events is more than {cap} per request; split them.")
    known_offers = set(current_app.extensions["offers_catalog"].ids)
    now = datetime.now(timezone.utc)
    parsed, problems, refused = [], [], 0
    for i, raw in enumerate(events):
        where = f"events[{i}]" if isinstance(data, list) else "the event"
        try:
            event = parse_event(raw, now, where)
        except ApiError as exc:
            problems.append(exc.message)
            refused += exc.status_code == 422
            continue
        if event.offer_id not in known_offers:
            refused += 1
            problems.append(f"{where}: unknown offer_id {event.offer_id!r}; the catalog's offers "
                            f"are {', '.join(sorted(known_offers))}.")
            continue
        parsed.append(event)
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        message = "; ".join(problems[:SHOWN_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        status = 422 if refused == len(problems) else 400
        raise ApiError(f"nothing stored: {message}", status)
    parsed = _with_costs(parsed, g.served.engine)
    try:
        result = current_app.extensions["offers_store"].add(parsed)
    except EventConflict as exc:
        raise ApiError(f"nothing stored: {exc}", 409) from exc
    except StoreUnavailable as exc:  # 503: never acknowledged, so the client retries
        raise StoreUnavailable(f"nothing stored: {exc.message}") from None
    counter = current_app.extensions["offers_metrics"].events
    stored = set(result.stored)
    for event in parsed:
        counter.labels(event.event, "stored" if event.event_id in stored else "duplicate").inc()
    return {"received": len(events), "stored": len(result.stored),
            "duplicates": len(result.duplicates), "duplicate_ids": result.duplicates[:100]}


def parse_event(raw, now: datetime, where: str) -> StoredEvent:
    """One event from its JSON form; raises :class:`ApiError` naming the field to fix."""
    if not isinstance(raw, dict):
        raise ApiError(f"{where} must be a JSON object, got {type(raw).__name__}.")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ApiError(f"{where}: unknown field(s) {', '.join(unknown)}; fields are "
                       f"{', '.join(FIELDS)}.")
    for name in ("event_id", "member_id", "offer_id", "event"):
        if raw.get(name) is None or raw.get(name) == "":
            raise ApiError(f"{where}: {name} is required.")
    if not isinstance(raw["event"], str) or raw["event"] not in EVENT_TYPES:
        raise ApiError(f"{where}: event {str(raw['event'])[:40]!r} is not one of "
                       f"{', '.join(EVENT_TYPES)}.")
    optional = {name: None if raw.get(name) is None else check_id(raw[name], f"{where}.{name}")
                for name in ("channel", "campaign_id")}
    cost = raw.get("cost")
    if cost is not None:
        if raw["event"] != "redeemed":
            raise ApiError(f"{where}: cost is only for redeemed events.", 422)
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost < 1e9:
            raise ApiError(f"{where}: cost must be a number >= 0 (the redemption's cost).")
        optional["cost"] = float(cost)
    elif raw["event"] == "redeemed":
        optional["cost"] = math.nan  # estimated by _with_costs
    return StoredEvent(
        event_id=check_id(raw["event_id"], f"{where}.event_id"),
        member_id=check_id(raw["member_id"], f"{where}.member_id"),
        offer_id=check_id(raw["offer_id"], f"{where}.offer_id"),
        event=raw["event"], timestamp=_timestamp(raw.get("timestamp"), now, where),
        server_time=raw.get("timestamp") is None, **optional)


def _with_costs(events: list[StoredEvent], engine) -> list[StoredEvent]:
    """Redemptions without a cost get the engine's estimate for that member and offer."""
    todo = [i for i, e in enumerate(events) if math.isnan(e.cost)]
    if not todo:
        return events
    position = {t.id: n for n, t in enumerate(engine.catalog.offers)}
    rows = np.array([engine.bundle.row(events[i].member_id) for i in todo])
    cost = np.nan_to_num(engine.score(rows).cost, nan=0.0)
    out = list(events)
    for n, i in enumerate(todo):
        out[i] = replace(events[i], cost=float(cost[n, position[events[i].offer_id]]))
    return out


def _timestamp(value, now: datetime, where: str) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise ApiError(f"{where}: timestamp must be an ISO 8601 string "
                       f"(e.g. 2024-03-31T14:05:00Z), got {type(value).__name__}.")
    shown = repr(value[:40])
    try:
        ts = parse_utc(value)
    except ValueError:
        raise ApiError(f"{where}: timestamp {shown} is not ISO 8601 "
                       "(e.g. 2024-03-31T14:05:00Z).") from None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ApiError(f"{where}: timestamp {shown} is outside the calendar in UTC; "
                       f"send a time from {EARLIEST:%Y-%m-%d} on.", 422) from None
    if ts < EARLIEST:
        raise ApiError(f"{where}: timestamp {shown} is before {EARLIEST:%Y-%m-%d}; send the "
                       "time the event happened.", 422)
    if ts > now + FUTURE_SLACK:
        raise ApiError(f"{where}: timestamp {shown} is in the future; send the time the event "
                       "happened (UTC when no zone is given).", 422)
    return ts

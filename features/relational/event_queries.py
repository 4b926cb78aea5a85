"""What the training steps ask of the offer events, reduced on the engine (issue 11).

The canonical offer events stay on the engine, as the lines do
(:mod:`features.relational.events`): the synthetic programs have about 15
events per member, 45M rows at 3M members, and one pandas frame of them all was
the part of the DuckDB load step's peak that grew with the data (5.8 GiB at 3M
members). Each step asks for what it needs instead, computed there:

- :func:`event_kinds`: the kinds of event present (before a time): whether
  there is a control group to learn uplift from;
- :func:`members_with`: the members with an event of some kinds before a time,
  and how many such events: the offer-response and uplift steps choose their
  member samples from them (one row per member comes back, not per event);
- :func:`offers_in_first_seen_order` and :func:`campaign_offers`: the offers
  in the order of their first event, and the (campaign, offer) pairs: the
  offer specs (:func:`models.offer_response.offer_specs_from_events`).

The events of a member sample come back one row per event through
:func:`features.relational.frames.events_frame` (a semi-join on the sample's
ids). Each function equals its pandas computation on the canonical events
frame (:mod:`models.member_source`, :mod:`models.offer_response.specs`; parity
tests): ties are broken by the file order (:data:`~features.relational.events.EVENT_ROW`),
as the pandas loader's frame is in file order.

>>> ids, n_sends = members_with(events, pd.Timestamp("2025-06-01"), ("sent",))  # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

from features.relational.events import EVENT_ROW
from features.relational.portable import to_frame, to_scalar


def before_us(when) -> int:
    """The first whole microsecond at or after ``when``: ``ts_us < before_us(t)`` is exactly
    ``timestamp < t`` for the nanosecond timestamps of pandas."""
    return -(-pd.Timestamp(when).value // 1000)


def event_kinds(events, before=None) -> set[str]:
    """The distinct ``event`` values of ``events`` (an Ibis table), of events before ``before``
    when given."""
    if before is not None:
        events = events.filter(events.ts_us < before_us(before))
    found = to_frame(events.select(kind=events.event.cast("string")).distinct())
    return {str(k) for k in found["kind"] if k is not None}


def members_with(events, as_of, kinds) -> tuple[pd.Index, int]:
    """The members with an event of one of ``kinds`` before ``as_of``, and how many such events.

    Returns ``(ids, n_events)`` as :func:`models.member_source.members_with_events`
    does: ``ids`` sorted, as ``str``.
    """
    chosen = events.filter(events.event.isin(list(kinds)) & (events.ts_us < before_us(as_of)))
    n_events = int(to_scalar(chosen.count()) or 0)
    ids = to_frame(chosen.select(member_id=chosen.member_id.cast("string")).distinct())
    return pd.Index(ids["member_id"].to_numpy(), dtype="str").sort_values(), n_events


def offers_in_first_seen_order(events) -> pd.Series:
    """Every ``offer_id`` of ``events``, in the order of its first event (by time; a tie in
    the order of the file, as a stable sort of the pandas frame), as ``str``."""
    first = events.group_by("offer_id").aggregate(first_us=events.ts_us.min())
    at_first = events.semi_join(first, [events.offer_id == first.offer_id,
                                        events.ts_us == first.first_us])
    order = ["first_us"]
    per = {"first_us": at_first.ts_us.min()}
    if EVENT_ROW in events.columns:
        per["first_row"] = at_first[EVENT_ROW].min()
        order.append("first_row")
    found = to_frame(at_first.group_by("offer_id").aggregate(**per)
                     .order_by([*order, "offer_id"]))
    return pd.Series(found["offer_id"].astype(str).to_numpy(), name="offer_id")


def campaign_offers(events) -> pd.DataFrame:
    """The distinct ``(campaign_id, offer_id)`` pairs of ``events`` (neither missing), as
    ``str``, in the order of their first event in the file."""
    both = events.filter(events.campaign_id.notnull() & events.offer_id.notnull())
    keys = {"campaign_id": both.campaign_id.cast("string"),
            "offer_id": both.offer_id.cast("string")}
    if EVENT_ROW in events.columns:
        pairs = both.group_by(**keys).aggregate(first_row=both[EVENT_ROW].min())
        pairs = pairs.order_by(["first_row", "campaign_id", "offer_id"])
    else:
        pairs = both.select(**keys).distinct().order_by(["campaign_id", "offer_id"])
    found = to_frame(pairs.select("campaign_id", "offer_id"))
    return found.astype({"campaign_id": str, "offer_id": str}).reset_index(drop=True)

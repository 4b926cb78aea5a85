"""The offer events read, checked and cleaned by DuckDB (9M rows at 1M members).

The relational twin of the offer-events part of
:func:`features.loading.load_dataset`: the checks of
:func:`features.validation.parse_table` (then the event types), and the rules of
:func:`features.cleaning.clean_offer_events` (future rows dropped, a repeated
``event_id`` keeps its first row in the file) as queries. The canonical events
(``member_id``, ``offer_id``, ``event``, ``ts_us``, the file position
:data:`EVENT_ROW` and the optional ``channel``, ``campaign_id``, ``event_id``)
are a view over the file, and :func:`offer_counts` reduces them to the
per-member counts the member features need; the other reductions the training
steps ask for are :mod:`features.relational.event_queries`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.contract import EVENT_TYPES
from features.dataset import CleaningReport
from features.errors import Problem
from features.relational.checks import (
    no_rows,
    numbered_select,
    parsed_columns,
    plain_text_columns,
    problem_of,
)
from features.relational.columns import Check, ParsedColumn, parse_select, v
from features.relational.portable import to_frame
from features.relational.scan import ROW, Scan, literal, quote

EVENTS = "offer_events_canonical"
#: The column of the canonical events holding each event's position in the file (0 = the
#: first row): events brought back to pandas are put in this order, the pandas loader's.
EVENT_ROW = ROW
_TYPES = ", ".join(literal(t) for t in EVENT_TYPES)
_OPTIONAL = ("channel", "campaign_id", "event_id")


@dataclass
class CheckedEvents:
    """What one pass over the offer events found."""

    problems: list[Problem]
    rows: int
    columns: list[ParsedColumn]
    plain: frozenset[str]  # text columns no value of which needs stripping


def check_events(db, scan: Scan) -> CheckedEvents:
    """The problems and row count of the offer events in ``scan`` (one pass)."""
    columns = parsed_columns(db, scan)
    plain = frozenset(plain_text_columns(db, scan, columns))
    checks = [check for col in columns for check in col.checks]
    aggregates = ", ".join(f"count(*) FILTER (WHERE {c.condition})" for c in checks)
    found = db.execute(f"SELECT count(*), {aggregates} FROM "
                       f"({parse_select(columns, scan.raw, plain=plain)})").fetchone()
    rows, counts = int(found[0]), found[1:]
    if rows == 0:
        return CheckedEvents([no_rows(scan)], 0, columns, plain)
    numbered = numbered_select(columns, scan, plain=plain)
    problems = [problem_of(db, scan, numbered, c, n) for c, n in zip(checks, counts) if n]
    if not problems:
        bad = Check("event", f"{v('event')} NOT IN ({_TYPES})",
                    f"unknown event type; use one of {', '.join(EVENT_TYPES)}.", v("event"))
        n_bad = db.execute(f"SELECT count(*) FROM ({parse_select(columns, scan.raw, plain=plain)})"
                           f" WHERE {bad.condition}").fetchone()[0]
        if n_bad:
            problems.append(problem_of(db, scan, numbered, bad, n_bad))
    return CheckedEvents(problems, rows, columns, plain)


def events_view(db, scan: Scan, checked: CheckedEvents, now: pd.Timestamp,
                report: CleaningReport) -> tuple[str, int]:
    """Create the view of the cleaned canonical events; ``(name, rows kept)``.

    Records ``future_timestamp`` and ``duplicate_event_id`` in ``report`` as
    :func:`features.cleaning.clean_offer_events` does.
    """
    columns, plain = checked.columns, checked.plain
    names = {c.name for c in columns}
    now_us = int(now.value // 1000)
    present = ", ".join(f"{v(c)} AS {quote(c)}" for c in _OPTIONAL if c in names)
    select = (f"SELECT {v('member_id')} AS member_id, {v('offer_id')} AS offer_id, "
              f"{v('event')} AS event, ts_us, {ROW}{', ' + present if present else ''}")
    timed = f"SELECT *, epoch_us({v('timestamp')}) AS ts_us FROM "
    source = f"({timed}({numbered_select(columns, scan, plain=plain)})) WHERE ts_us <= {now_us}"
    has_ids = "event_id" in names
    # Without event ids nothing can repeat (a subquery of a constant would give one row
    # per event, which DuckDB refuses as a scalar).
    # Repeats counted per event id by a GROUP BY, which DuckDB spills under its memory
    # limit; a count(DISTINCT) keeps one hash set in memory (at 3M synthetic members it
    # ran out of DuckDB's 1 GB while loading).
    dups_sql = (f"(SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "
                f"(SELECT * FROM {source}) WHERE {v('event_id')} IS NOT NULL "
                f"GROUP BY {v('event_id')}))"
                if has_ids else "0")
    future, dups = db.execute(
        f"SELECT count(*) FILTER (WHERE epoch_us({v('timestamp')}) > {now_us}), "
        f"{dups_sql} FROM ({parse_select(columns, scan.raw, plain=plain)})"
    ).fetchone()
    report.drop("offer_events", "future_timestamp", future)
    report.drop("offer_events", "duplicate_event_id", dups)
    if dups:  # a retried delivery: the first row of each event_id in the file stays
        first = f"row_number() OVER (PARTITION BY {v('event_id')} ORDER BY {ROW}) = 1"
        source += f" QUALIFY {v('event_id')} IS NULL OR {first}"
    name = scan.named(EVENTS)
    db.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS {select} FROM {source}")
    kept = db.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]
    return name, int(kept)


def offer_counts(events, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Per member: offers ``sent`` and ``redeemed`` before ``cutoff`` and the last redemption.

    ``events``: the canonical events as an Ibis table. The input of
    :func:`features.profile_features.offer_history_from_counts` (one row per
    member with such events).
    """
    cut = cutoff.value // 1000
    before = offer_lines(events.filter(events.ts_us < cut))
    per = before.group_by("member_id").aggregate(**offer_aggregates(before))
    return offer_frame(to_frame(per))  # portable: Spark collects Arrow directly


def offer_lines(events):
    """The events :func:`offer_counts` counts (sends and redemptions)."""
    return events.filter(events.event.isin(["sent", "redeemed"]))


def offer_aggregates(before) -> dict:
    """The per-member aggregates of :func:`offer_counts` (by the caller's grouping)."""
    redeemed = before.event == "redeemed"
    return {"sent": (~redeemed).cast("int64").sum(), "redeemed": redeemed.cast("int64").sum(),
            "last_us": before.ts_us.max(where=redeemed)}


def offer_frame(per: pd.DataFrame) -> pd.DataFrame:
    """:func:`offer_counts`' frame from the aggregates fetched (``member_id`` and
    :func:`offer_aggregates`' columns)."""
    frame = per.set_index("member_id")
    frame.index = pd.Index(frame.index, dtype="str", name="member_id")
    frame["last_redeemed_ns"] = frame.pop("last_us").astype("Int64") * 1000
    return frame

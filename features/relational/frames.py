"""Canonical pandas frames from tables on an engine: some members' lines, the offer events.

Most training steps run on the engine and bring back one row per member or
item. The steps that learn from a *member sample* (the offer-response and
uplift models build member features at every send day of the sampled members)
still read those members' lines in pandas: :func:`member_dataset` fetches the
lines of just those members (a semi-join against the ids, on DuckDB or Spark)
into a :class:`~features.dataset.Dataset` in the pandas loader's canonical
form, so the pandas code runs on it unchanged and memory grows with the sample,
not with the data. :func:`events_frame` does the same for the offer events
(one row per send, redemption or holdout): those of a member sample, in the
file's order, as the canonical events frame. No training step fetches every
event (45M rows at 3M synthetic members): the others ask the engine for
reductions (:mod:`features.relational.event_queries`).

>>> sample = member_dataset(con, lines, small, ["m1", "m7"])   # doctest: +SKIP
>>> sample.transactions.dtypes["member_id"]                      # doctest: +SKIP
CategoricalDtype(categories=['m1', 'm7'], ordered=False, categories_dtype=object)
"""

from __future__ import annotations

import itertools

import ibis
import pandas as pd
import pyarrow as pa

from features.dataset import CleaningReport, Dataset
from features.relational.events import EVENT_ROW
from features.relational.portable import register_frame, to_arrow
from features.relational.tables import OPTIONAL_TX_COLUMNS

#: Canonical line columns besides the ids and the time, with their pandas dtype.
_VALUES = {"basket_id": "int64", "quantity": "float64", "amount": "float64",
           "discount": "float64"}
# Not ``event_id``: the loader already dropped repeated ids and no step reads them; at
# millions of events a column of unique strings is most of the frame's memory.
_EVENT_IDS = ("member_id", "offer_id", "event", "channel", "campaign_id")
_FETCHES = itertools.count(1)  # names the id tables: a fetch never replaces another's
#: Members whose lines one query of :func:`lines_frame` fetches and sorts.
FETCH_MEMBERS = 12_500


def lines_frame(con, lines, member_ids=None) -> pd.DataFrame:
    """The canonical transactions of ``member_ids`` (default every member) as pandas.

    ``lines`` are canonical lines on ``con`` (:mod:`features.relational.tables`:
    ``member_id``, ``item_id``, ``ts_us``, ``basket_id``, ``quantity``,
    ``amount``, ``discount``, the optional ``coupon_discount``, kept when there, missing
    values NaN). The result has the dtypes of
    :func:`features.loading.load_dataset`'s transactions (ids ``category`` of
    ``str``, ``timestamp`` ``datetime64[ns]``), rows sorted by member, time,
    basket, item and the values, so that repeated fetches are identical (engines
    scan in parallel, in no fixed order) and in the order of the pandas member
    samples (``models.member_source.LINE_ORDER``): equal sums, bit for bit.
    """
    if member_ids is None:
        table = _sorted_lines(lines)
    else:
        # The members in slices of sorted ids, each slice's lines sorted on the engine in
        # turn: the slices' results follow each other in the order of one sorted fetch,
        # and the engine sorts one slice at a time (one sort of a 50,000-member sample's
        # 5M lines took 1.2 GB above the fetch's start at 1M members; bench/RESULTS.md).
        ids = pd.Index(member_ids).astype("str").unique().sort_values()
        parts = []
        for start in range(0, max(len(ids), 1), FETCH_MEMBERS):
            chosen = pd.DataFrame({"member_id": ids[start:start + FETCH_MEMBERS]})
            table = register_frame(con, f"member_ids_{next(_FETCHES)}", chosen)
            parts.append(_sorted_lines(lines.semi_join(table, "member_id")))
        table = pa.concat_tables(parts)
        del parts
    out = pd.DataFrame({
        "member_id": _categories(table.column("member_id")),
        "item_id": _categories(table.column("item_id")),
        "timestamp": _timestamps(table.column("ts_us")),
    })
    for column, dtype in _VALUES.items():
        out[column] = table.column(column).to_numpy().astype(dtype, copy=False)
    for column in OPTIONAL_TX_COLUMNS:  # as the pandas loader: only when the data have it
        if column in table.column_names:
            out[column] = table.column(column).to_numpy().astype("float64", copy=False)
    return out


def events_frame(events, member_ids=None) -> pd.DataFrame:
    """The canonical offer events (:class:`~features.dataset.Dataset`) of ``member_ids``.

    ``events`` as :func:`features.relational.load_relational` gives them
    (``member_id``, ``offer_id``, ``event``, ``ts_us``, the file position
    :data:`~features.relational.events.EVENT_ROW` and the optional
    ``channel``, ``campaign_id``, ``event_id``); ``event_id`` is left out.
    ``member_ids`` None: every event (small data and tests only; a training
    run asks for a member sample's). Rows in the file's order, as the pandas
    loader has them, so that ties (sends at the same time) are in the same
    order on every engine.
    """
    chosen = events
    if member_ids is not None:
        ids = pd.DataFrame({"member_id": pd.Index(member_ids).astype("str").unique()})
        con = ibis.get_backend(events)
        table = register_frame(con, f"event_member_ids_{next(_FETCHES)}", ids)
        chosen = events.semi_join(table, "member_id")
    if EVENT_ROW in chosen.columns:
        chosen = chosen.order_by(EVENT_ROW)
    table = to_arrow(chosen.select(*[c for c in (*_EVENT_IDS, "ts_us") if c in events.columns]))
    out = pd.DataFrame({c: _categories(table.column(c)) for c in _EVENT_IDS
                        if c in table.column_names})
    out["timestamp"] = _timestamps(table.column("ts_us"))
    return out


def member_dataset(con, lines, small: dict, member_ids=None, *,
                   cleaning: CleaningReport | None = None) -> Dataset:
    """A :class:`~features.dataset.Dataset` of ``member_ids``' lines, events and member rows.

    ``small`` holds the canonical pandas ``items`` and ``members``, the
    ``offer_events`` (a canonical pandas frame, or an Ibis table on the engine
    as :func:`features.relational.load_relational` gives them, of which only
    ``member_ids``' events are fetched: :func:`events_frame`) and optionally
    ``offers``; the members and events are restricted to ``member_ids`` too
    (all of them when it is None), as
    :func:`models.member_sample.restrict_members` does for a pandas dataset.
    """
    members, events = small["members"], small["offer_events"]
    on_engine = not isinstance(events, pd.DataFrame)
    if on_engine:  # fetched restricted to the members
        events = events_frame(events, member_ids)
    if member_ids is not None:
        keep = pd.Index(member_ids).astype("str")
        members = members[members["member_id"].astype("str").isin(keep).to_numpy()]
        if len(events) and not on_engine:
            events = events[events["member_id"].astype("str").isin(keep).to_numpy()]
    return Dataset(transactions=lines_frame(con, lines, member_ids), items=small["items"],
                   members=members.reset_index(drop=True), offer_events=events.reset_index(
                       drop=True), cleaning=cleaning or CleaningReport(),
                   offers=small.get("offers"))


def _sorted_lines(lines) -> pa.Table:
    """``lines`` as Arrow, sorted by member, time, basket, item and the values."""
    return to_arrow(lines.order_by(["member_id", "ts_us", "basket_id", "item_id", "quantity",
                                    "amount", "discount"]))


def _categories(values: pa.ChunkedArray) -> pd.Categorical:
    """``values`` (strings or nulls) as a categorical of ``str``, categories sorted.

    Dictionary-encoded in Arrow, so no pandas string column of every row is
    made first: at 15M offer events that halved the time and lowered the peak.
    """
    if len(values) == 0:
        return pd.Categorical(pd.Series([], dtype="str"))
    codes = values.dictionary_encode().to_pandas().array
    return codes.reorder_categories(codes.categories.sort_values())


def _timestamps(values: pa.ChunkedArray) -> pd.DatetimeIndex:
    """Integer microseconds as ``datetime64[ns]``."""
    micros = values.to_numpy().astype("int64", copy=False)
    return pd.to_datetime(micros, unit="us").astype("datetime64[ns]")

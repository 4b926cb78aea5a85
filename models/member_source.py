"""Where the member-sample steps get their data: every offer event, and some members' lines.

The offer-response and uplift models learn from rows about the members who
were sent (or held out of) offers, with each member's features at every send
day. Choosing those members needs only the offer events; building the rows
needs the chosen members' lines and nothing else. A :class:`MemberSource`
holds the two apart, so the same code runs on a pandas
:class:`~features.dataset.Dataset` (:meth:`MemberSource.of_dataset`: the
members are a mask of its frames) and on a relational engine, where the events
are a table on the engine and the chosen members' lines and events are fetched
from it (``training.engines.EngineTables.member_dataset``): pandas then holds
the lines and events of those members only, never every line or event. The
functions here that read the events (:func:`members_with_events`,
:func:`events_of`, :func:`event_kinds`) take either: a pandas frame, or an Ibis
table that answers with one query (:mod:`features.relational.event_queries`).

A source has the ``offer_events`` and ``offers`` attributes of a dataset, so
:func:`models.offer_response.offer_specs_from_events` reads either.

>>> source = MemberSource.of_dataset(dataset)                       # doctest: +SKIP
>>> ids = members_with_events(source.offer_events, as_of, ("sent",))  # doctest: +SKIP
>>> sample = source.fetch(ids)                                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from features.code_groups import positions
from features.dataset import Dataset
from features.errors import ConfigError
from models.member_sample import restrict_members

#: The order of a fetched member sample's lines, on every engine
#: (:func:`features.relational.frames.lines_frame` sorts so too): the
#: features' float sums then add the same numbers in the same order everywhere,
#: so pandas and the engines build bit-identical rows and learn the same model
#: (a gradient-boosting fit can tell apart sums that differ in the last bit).
LINE_ORDER = ("member_id", "timestamp", "basket_id", "item_id", "quantity", "amount", "discount")


@dataclass(frozen=True)
class MemberSource:
    """The offer events and offers of a data set, and a fetch of some members' data.

    Attributes
    ----------
    offer_events : DataFrame or Ibis table
        Every canonical offer event: the frame of a
        :class:`~features.dataset.Dataset`, or on an engine the table
        :func:`features.relational.load_relational` gives (read through this
        module's functions, never whole into pandas).
    offers : DataFrame or None
        The data's offers table, if it has one.
    fetch : callable
        ``(member ids) -> Dataset`` of just those members' lines, events and
        member rows (items whole).
    dataset : Dataset or None
        The whole pandas data set, when the source is one (None on an engine).
    rows_from_all : bool
        With a ``dataset``: build rows that need no sample from all of it (its
        population values, e.g. the offers' population share, over every
        member, as before engines existed); False: from the fetched members
        only, as on an engine (the parity tests' oracle).
    """

    offer_events: Any
    offers: pd.DataFrame | None
    fetch: Callable[[pd.Index], Dataset]
    dataset: Dataset | None = None
    rows_from_all: bool = True

    @classmethod
    def of_dataset(cls, dataset: Dataset, *, rows_from_all: bool = True) -> MemberSource:
        """A source over an in-memory data set (members chosen by a mask, their lines put
        in :data:`LINE_ORDER` as an engine gives them)."""

        def fetch(ids: pd.Index) -> Dataset:
            chosen = restrict_members(dataset, ids)
            return replace(chosen, transactions=in_line_order(chosen.transactions))

        return cls(dataset.offer_events, dataset.offers, fetch, dataset, rows_from_all)

    def rows_data(self, member_ids: pd.Index, *, sampled: bool) -> Dataset:
        """The data to build the rows of ``member_ids`` from: a pandas source's whole data
        set when they are not a sample (and ``rows_from_all``), else their fetched data.

        On an engine the rows always come from the fetched members' lines, so
        an engine's population values (the offers' population share, the
        purchase-cycle prior, which categories get a share column) are those
        of the members the rows are about, where pandas uses every member's
        unless it samples: the models agree closely, not bit for bit.
        """
        if not sampled and self.rows_from_all and self.dataset is not None:
            return self.dataset
        return self.fetch(member_ids)


def member_source(data: Dataset | MemberSource) -> MemberSource:
    """``data`` as a :class:`MemberSource` (a dataset is wrapped)."""
    return data if isinstance(data, MemberSource) else MemberSource.of_dataset(data)


def require_as_of(data: Dataset | MemberSource, as_of, default) -> pd.Timestamp:
    """``as_of`` as a timestamp; when None, ``default(dataset)`` of a pandas data set.

    Raises
    ------
    ConfigError
        When ``as_of`` is None and ``data`` is a source on an engine (its lines
        are not at hand to find the last one).
    """
    if as_of is not None:
        return pd.Timestamp(as_of)
    dataset = data.dataset if isinstance(data, MemberSource) else data
    if dataset is None:
        raise ConfigError("as_of is required when the data are on an engine; pass the run's "
                          "as_of (e.g. the day after the last purchase).")
    return default(dataset)


def members_with_events(events, as_of: pd.Timestamp,
                        kinds: tuple[str, ...]) -> tuple[pd.Index, int]:
    """The members with an event of one of ``kinds`` before ``as_of``, and how many such events.

    ``events``: canonical offer events, a pandas frame or a table on an engine.
    Returns ``(ids, n_events)``: ``ids`` sorted, as ``str``.
    """
    if not isinstance(events, pd.DataFrame):
        from features.relational.event_queries import members_with

        return members_with(events, as_of, kinds)
    if not len(events):
        return pd.Index([], dtype="str"), 0
    chosen = np.isin(events["event"].astype(str).to_numpy(), list(kinds)) & (
        events["timestamp"].to_numpy() < pd.Timestamp(as_of).to_datetime64()
    )
    member = events["member_id"]
    if isinstance(member.dtype, pd.CategoricalDtype):
        codes = np.unique(member.cat.codes.to_numpy()[chosen])
        ids = pd.Index(member.cat.categories[codes[codes >= 0]]).astype("str")
    else:
        ids = pd.Index(pd.unique(member.to_numpy()[chosen])).astype("str")
    return ids.sort_values(), int(chosen.sum())


def events_of(events, member_ids: pd.Index) -> pd.DataFrame:
    """The rows of ``events`` (any frame with ``member_id``, or canonical offer events on an
    engine: then fetched, in file order) of ``member_ids``, as a pandas frame."""
    if not isinstance(events, pd.DataFrame):
        from features.relational.frames import events_frame

        return events_frame(events, member_ids)
    if not len(events):
        return events
    return events[positions(events["member_id"], pd.Index(member_ids).astype("str")) >= 0]


def event_kinds(events, before=None) -> set[str]:
    """The kinds of event (``"sent"``, ``"holdout"``, ...) in ``events`` (a frame or a table
    on an engine), of the events before ``before`` when given."""
    if not isinstance(events, pd.DataFrame):
        from features.relational.event_queries import event_kinds as on_engine

        return on_engine(events, before)
    if "event" not in events.columns or not len(events):
        return set()
    if before is not None:
        events = events[events["timestamp"] < pd.Timestamp(before)]
    return {str(k) for k in events["event"].dropna().astype(str).unique()}


def in_line_order(transactions: pd.DataFrame) -> pd.DataFrame:
    """``transactions`` sorted by :data:`LINE_ORDER` (ids compared as strings)."""
    keys = []
    for column in reversed(LINE_ORDER):  # np.lexsort: the last key is the primary one
        values = transactions[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            names = values.cat.categories.astype(str).to_numpy()
            rank = np.empty(len(names), dtype=np.int64)
            rank[np.argsort(names, kind="stable")] = np.arange(len(names))
            codes = values.cat.codes.to_numpy()
            keys.append(np.where(codes >= 0, rank[codes], -1))
        else:
            keys.append(values.to_numpy())
    order = np.lexsort(keys)
    if (order == np.arange(len(order))).all():  # already in order: no copy
        return transactions.reset_index(drop=True)
    return transactions.iloc[order].reset_index(drop=True)

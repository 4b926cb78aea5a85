"""The members who bought before ``as_of``, or a seeded sample of them, with their lines.

The churn and value windows (:func:`models.lifecycle.make_windows`,
:func:`models.lifecycle.make_engine_windows`) and the purchase-cycle
validation of the step "horizons" learn from the members who bought before
``as_of``; above ``max_members`` of them (50,000 by default,
:data:`models.lifecycle.windows.DEFAULT_MAX_MEMBERS`) from a seeded sample
(:func:`models.member_sample.sample_ids`: the draw depends only on the seed
and the sorted ids, so pandas and an engine keep the same members). A
:class:`BuyerSample` is that choice made once, so that several window sets
(one per horizon) and purchase summaries at earlier cutoffs reuse it:

- :func:`sample_buyers` (pandas): the data set cut at ``as_of`` and restricted
  to the sample;
- :func:`engine_sample_buyers`: the lines before ``as_of`` on the engine; when
  sampled, the sample's lines are computed once into a temporary table of the
  engine (one scan of every line instead of one per query; call
  :meth:`BuyerSample.close`, or use the sample as a context manager, to drop it).

Below ``max_members`` nothing is sampled and the results are those of every
member.

Imports: :mod:`features` and :mod:`models` only.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import ibis
import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import ConfigError, DataError
from features.relational.portable import materialize, register_frame, release, to_frame
from models.member_sample import check_limit, restrict_members, sample_ids

logger = logging.getLogger(__name__)
_NAMES = itertools.count()


@dataclass
class BuyerSample:
    """Who the windows and validation learn from (module docstring).

    Attributes
    ----------
    as_of : Timestamp
        Nothing at or after it is in the sample's data.
    n_members : int
        Members with a purchase before ``as_of``, sampled or not.
    kept : Index of str or None
        The sampled member ids (sorted); None: every buyer.
    dataset : Dataset or None
        pandas: the data set before ``as_of`` (transactions and offer events),
        restricted to ``kept``.
    lines : Ibis table or None
        On an engine: the lines before ``as_of`` of the sample (a temporary
        table when sampled).
    ids : Ibis table or None
        On an engine, when sampled: the ``member_id`` of ``kept``, for semi-joins.
    limit, random_state : int or None, int
        The ``max_members`` and seed it was drawn with.
    """

    as_of: pd.Timestamp
    n_members: int
    kept: pd.Index | None = None
    dataset: Dataset | None = None
    lines: Any = None
    ids: Any = None
    limit: int | None = None
    random_state: int = 0
    _table: str | None = None
    _features: dict = field(default_factory=dict, repr=False)

    @property
    def fraction(self) -> float:
        """Share of the buyers in the sample (1.0: all)."""
        return 1.0 if self.kept is None else len(self.kept) / self.n_members

    @property
    def n_kept(self) -> int:
        """Members the sample holds (``n_members`` when nothing was sampled)."""
        return self.n_members if self.kept is None else len(self.kept)

    def check(self, as_of) -> None:
        """ConfigError unless the sample was drawn as of ``as_of``."""
        if pd.Timestamp(as_of) != self.as_of:
            raise ConfigError(f"the member sample was drawn as of {self.as_of}, not {as_of}; "
                              "draw one per as_of.")

    def drawn_as(self, as_of, limit, random_state) -> bool:
        """Whether this is the sample a draw as of ``as_of`` with ``limit`` and
        ``random_state`` would give (and is still open)."""
        return ((pd.Timestamp(as_of), limit, random_state)
                == (self.as_of, self.limit, self.random_state)
                and (self.kept is None or self.dataset is not None or self._table is not None))

    def contains(self, member_ids: pd.Index) -> np.ndarray:
        """Which of ``member_ids`` are in the sample (bool array; all True when not sampled)."""
        ids = pd.Index(member_ids).astype("str")
        return np.ones(len(ids), dtype=bool) if self.kept is None else ids.isin(self.kept)

    def features_at(self, cutoff: pd.Timestamp, source, build) -> pd.DataFrame:
        """``build()``, the sample's member features as of ``cutoff`` from ``source`` (a feature
        builder, or the engine's tables), computed once per cutoff while the sample lives.

        Features as of a date do not depend on the horizon, and the windows of
        several horizons share cutoffs (``as_of - 60`` days is one at 30 and at
        60 days). A shallow copy is returned (its index may be replaced).
        """
        hit = self._features.get(cutoff)
        if hit is None or hit[0] is not source:  # ``source`` is kept: its id is not reused
            hit = self._features[cutoff] = (source, build())
        return hit[1].copy(deep=False)

    def prefetch(self, cutoffs, source, build_many) -> None:
        """Build the features of those of ``cutoffs`` not kept yet for ``source`` with one call,
        ``build_many(missing)`` (``{cutoff: frame}``, e.g.
        :func:`features.relational.members.member_features_at`: on an engine, the
        per-line work of several cutoffs in one pass), and keep them for
        :meth:`features_at`."""
        missing = sorted({pd.Timestamp(c) for c in cutoffs
                          if (hit := self._features.get(pd.Timestamp(c))) is None
                          or hit[0] is not source})
        if not missing:
            return
        built = build_many(missing)
        for cutoff in missing:
            self._features[cutoff] = (source, built[cutoff])

    def ending_at(self, cutoff) -> BuyerSample:
        """The same members and lines, for windows that end at an earlier ``cutoff`` (a
        window reads only the lines before its own cutoff, and its outcomes end by
        ``cutoff``). It reads this sample's kept features but keeps the ones it builds to
        itself, so they go with it (they are not held for the rest of this sample's
        life); it does not own the table: close this one, not it."""
        cutoff = pd.Timestamp(cutoff)
        if cutoff > self.as_of:
            raise ConfigError(f"the sample ends at {self.as_of}; windows ending at {cutoff} "
                              "need a sample drawn as of then.")
        return replace(self, as_of=cutoff, _table=None, _features=dict(self._features))

    def close(self) -> None:
        """Drop the sample's temporary table on the engine, if any, and the features kept
        (idempotent)."""
        self._features.clear()
        if self._table is not None:
            release(ibis.get_backend(self.lines), self._table)
            self._table = None

    def __enter__(self) -> BuyerSample:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cut_dataset(dataset: Dataset, as_of: pd.Timestamp) -> Dataset:
    """A copy of ``dataset`` without the transactions and offer events at or after ``as_of``."""
    tx = dataset.transactions
    before = tx["timestamp"].to_numpy() < as_of.to_datetime64()
    if not before.any():
        raise DataError(f"no transactions before as_of={as_of}.")
    if not before.all():  # no copy of a large table when nothing is cut
        tx = tx[before]
    events = dataset.offer_events
    if "timestamp" in events and len(events):
        early = events["timestamp"].to_numpy() < as_of.to_datetime64()
        if not early.all():
            events = events[early]
    return replace(dataset, transactions=tx, offer_events=events)


def _draw(buyers: pd.Index, max_members, random_state, as_of) -> pd.Index | None:
    kept = sample_ids(buyers, max_members, random_state, purpose="learning",
                      population=f"members who bought before {as_of}")
    return None if len(kept) == len(buyers) else kept.sort_values()


def sample_buyers(dataset: Dataset, as_of, max_members: int | None,
                  random_state: int = 0) -> BuyerSample:
    """The pandas :class:`BuyerSample` of ``dataset`` as of ``as_of``.

    Raises
    ------
    ConfigError
        A bad ``max_members``.
    DataError
        No transaction before ``as_of``.
    """
    as_of = pd.Timestamp(as_of)
    check_limit(max_members)
    past = cut_dataset(dataset, as_of)
    member = past.transactions["member_id"]
    if isinstance(member.dtype, pd.CategoricalDtype):
        codes = member.cat.codes.to_numpy()
        counts = np.bincount(codes[codes >= 0], minlength=len(member.cat.categories))
        buyers = pd.Index(member.cat.categories[counts > 0]).astype("str")
    else:
        buyers = pd.Index(pd.unique(member.dropna())).astype("str")
    kept = _draw(buyers, max_members, random_state, as_of)
    if kept is not None:
        past = restrict_members(past, kept)
    return BuyerSample(as_of, len(buyers), kept, dataset=past, limit=max_members,
                       random_state=random_state)


def engine_sample_buyers(lines, as_of, max_members: int | None,
                         random_state: int = 0) -> BuyerSample:
    """The :class:`BuyerSample` of canonical ``lines`` on an engine as of ``as_of``.

    Raises
    ------
    ConfigError
        A bad ``max_members``.
    DataError
        No line before ``as_of``.
    """
    as_of = pd.Timestamp(as_of)
    check_limit(max_members)
    past = lines.filter(lines.ts_us < int(as_of.value // 1000))
    buyers = pd.Index(to_frame(past.select("member_id").distinct())["member_id"].astype(str))
    if buyers.empty:
        raise DataError(f"no transactions before as_of={as_of}.")
    kept = _draw(buyers, max_members, random_state, as_of)
    if kept is None:
        return BuyerSample(as_of, len(buyers), lines=past, limit=max_members,
                           random_state=random_state)
    backend = ibis.get_backend(lines)
    n = next(_NAMES)
    ids = register_frame(backend, f"buyer_sample_ids_{n}",
                         pd.DataFrame({"member_id": kept.to_numpy(dtype=object)}))
    name = f"buyer_sample_lines_{n}"
    table = materialize(past.semi_join(ids, "member_id"), name)
    return BuyerSample(as_of, len(buyers), kept, lines=table, ids=ids, limit=max_members,
                       random_state=random_state, _table=name)

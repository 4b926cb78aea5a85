"""Labelled training windows for the churn and value models.

A *window* is a cutoff date ``c`` with, for every member who bought at least
once before ``c``:

- the member's features as of ``c`` (built from rows strictly before ``c``),
- the outcomes over the horizon ``[c, c + H)``: ``churned`` (no purchase in it),
  ``future_spend`` (money spent in it) and ``future_baskets``.

:func:`make_windows` puts the validation cutoff at ``as_of - H``, so that its
outcome window ends exactly at ``as_of``, and the training cutoffs at
``as_of - 2H``, ``as_of - 2H - step``, ...: every training outcome window ends
by the validation cutoff, so no training label sees the validation period
(training windows may overlap each other when ``step < H``). Nothing at or
after ``as_of`` is read: the data set is cut at ``as_of`` before anything else
happens. The split is by time, as the models will be used on the future.

More training rows
------------------
With ``n_windows=None`` (what ``offers train`` uses) the training cutoffs are
stacked as far back as the history allows: ``as_of - k * step`` for every
whole ``k`` with ``k * step >= 2H`` (``step = min(H, 28)`` days, so the
cutoffs of 30, 60 and 90 days lie on the same four-week grid as those of a
28-day ``H`` and their member features are built once), each training outcome
window still ending by the validation cutoff. The first two are kept whenever
they are after the first transaction (the windows of ``n_windows=3``); each
further one needs :data:`STACK_MIN_HISTORY_DAYS` of history before it (a
member's features over a few weeks do not look like those the models score),
and there are at most :data:`STACK_MAX_WINDOWS`, fewer when the training rows
would pass :data:`STACK_MAX_ROWS` (from 50,000 sampled members on: two windows,
as before, so large data costs no more). On the Complete Journey this gives
3-4 training windows per horizon instead of 2; the later-window numbers are in
bench/RESULTS.md (issue 13, branch churn61). When the grid has no two training
cutoffs after the first transaction, the windows are those of ``n_windows=3``.

Large data
----------
When more than ``max_members`` members (50,000 by default) bought before
``as_of``, the windows hold a seeded random sample of that many of them
(:mod:`models.member_sample`): every line of a sampled member is kept, so
their features and outcomes are those of the full data, and the feature
builds read only the sample's lines. The models learn from the sample;
predictions still cover every member. :attr:`TrainingWindows.n_members` and
:attr:`TrainingWindows.sample_fraction` record the sample's size. The draw is
a :class:`~models.lifecycle.buyer_sample.BuyerSample`; pass one
(``sample=``) to build the windows of several horizons from one draw (their
features at a shared cutoff are then built once).

The horizon
-----------
:func:`default_horizon_days` derives ``H`` from the data's purchase cadence:
the 90th percentile, over members with two or more purchase days, of each
member's median gap between purchase days, rounded *up* to whole weeks and
clipped to ``[14, 90]`` days. So nine members in ten usually buy at least once
per ``H`` days, and a member with no purchase in ``H`` days has broken their
own rhythm, which is what "churn risk" is meant to flag. Whole weeks keep the
weekday mix of every window the same.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import ConfigError, DataError
from models.lifecycle.buyer_sample import sample_buyers
from models.lifecycle.tabular import is_optional

logger = logging.getLogger(__name__)

#: ``(dataset, cutoff) -> features`` indexed by member id, from rows before ``cutoff``.
FeatureBuilder = Callable[[Dataset, pd.Timestamp], pd.DataFrame]

#: Columns of :attr:`TrainingWindows.outcomes`.
OUTCOME_COLUMNS = ("churned", "future_spend", "future_baskets", "past_spend")

DEFAULT_QUANTILE = 0.9
MIN_HORIZON_DAYS = 14
MAX_HORIZON_DAYS = 90
#: Members in the windows beyond which they hold a seeded sample (module docstring).
#: 50,000 members score within 0.001 ROC-AUC / Spearman of 190,000 on a 200k-member
#: program, fitting 4x faster (bench/bench_window_sample.py, bench/RESULTS.md).
DEFAULT_MAX_MEMBERS = 50_000
#: Stacked training cutoffs (``n_windows=None``, "More training rows" in the module
#: docstring): days between them (at most; ``min(H, 28)``), the history a cutoff beyond
#: the first two needs, the most training windows, and the training rows beyond which no
#: further window is stacked (the 2 windows of 50,000 sampled members: no more work at scale).
STACK_STEP_DAYS = 28
STACK_MIN_HISTORY_DAYS = 91
STACK_MAX_WINDOWS = 4
STACK_MAX_ROWS = 100_000


def default_horizon_days(
    transactions: pd.DataFrame,
    *,
    quantile: float = DEFAULT_QUANTILE,
    min_days: int = MIN_HORIZON_DAYS,
    max_days: int = MAX_HORIZON_DAYS,
) -> int:
    """The churn/value horizon ``H`` in days, from the members' purchase cadence.

    Parameters
    ----------
    transactions : pandas.DataFrame
        Canonical transactions (``member_id``, ``timestamp``).
    quantile : float
        Quantile, over members, of their median gap between purchase days.
    min_days, max_days : int
        Bounds of the result.

    Returns
    -------
    int
        The quantile rounded up to a whole number of weeks and clipped to
        ``[min_days, max_days]``; ``max_days`` when no member bought on two
        different days.

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({
    ...     "member_id": ["a"] * 4 + ["b"] * 3,
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-21",
    ...                                  "2024-01-31", "2024-01-01", "2024-01-21",
    ...                                  "2024-02-10"]),
    ... })
    >>> default_horizon_days(tx, quantile=1.0)   # gaps of 10 and 20 days -> 3 weeks
    21
    """
    for col in ("member_id", "timestamp"):
        if col not in transactions:
            raise DataError(f"transactions have no '{col}' column.")
    check_horizon_bounds(quantile, min_days, max_days)
    return horizon_from_gaps(_median_gaps(transactions), quantile, min_days, max_days)


def check_horizon_bounds(quantile: float, min_days: int, max_days: int) -> None:
    """ConfigError unless ``0 < quantile <= 1`` and ``1 <= min_days <= max_days``."""
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"quantile={quantile} should be in (0, 1].")
    if not 1 <= min_days <= max_days:
        raise ConfigError(f"min_days={min_days} and max_days={max_days} need 1 <= min <= max.")


def horizon_from_gaps(medians: pd.Series, quantile: float = DEFAULT_QUANTILE,
                      min_days: int = MIN_HORIZON_DAYS, max_days: int = MAX_HORIZON_DAYS) -> int:
    """:func:`default_horizon_days`'s rule on each member's median gap between purchase days."""
    if medians.empty:
        logger.info("no member bought on two different days; horizon = %d days", max_days)
        return int(max_days)
    q = float(np.quantile(medians, quantile))
    weeks = max(1, math.ceil(q / 7.0 - 1e-9))
    horizon = int(min(max(7 * weeks, min_days), max_days))
    logger.info(
        "purchase cadence: q%.0f of median gaps = %.1f days over %d members -> horizon %d days",
        100 * quantile, q, len(medians), horizon,
    )
    return horizon


def _median_gaps(transactions: pd.DataFrame) -> pd.Series:
    """Median gap in days between distinct purchase days, per member with >= 2 such days."""
    codes, _ = pd.factorize(transactions["member_id"])
    days = transactions["timestamp"].to_numpy().astype("datetime64[D]").astype(np.int64)
    if not len(days):
        return pd.Series([], dtype=np.float64)
    days = days - days.min()
    span = int(days.max()) + 1
    # One sorted int64 key per distinct (member, day): cheaper than a frame's drop_duplicates.
    visits = np.unique(codes.astype(np.int64) * span + days)
    member, day = visits // span, visits % span
    same = member[1:] == member[:-1]
    gaps = pd.Series(np.diff(day)[same].astype(np.float64))
    return gaps.groupby(member[1:][same]).median()


@dataclass
class TrainingWindows:
    """Features and outcomes at several cutoffs (see the module docstring).

    Attributes
    ----------
    features : pandas.DataFrame
        Index ``(cutoff, member_id)``; the columns of the feature builder.
    outcomes : pandas.DataFrame
        Same index; ``churned`` (bool), ``future_spend`` (float64),
        ``future_baskets`` (int64) over ``[cutoff, cutoff + horizon_days)``,
        and ``past_spend`` (float64), the spend over the ``horizon_days``
        *before* the cutoff (known at the cutoff: a naive baseline, and the
        value model's spend retention).
    cutoffs : tuple of Timestamp
        Most recent first; ``cutoffs[0]`` is the validation window.
    horizon_days : int
    as_of : Timestamp
        Nothing at or after it was read.
    n_members : int or None
        Members with a purchase before ``as_of``, sampled or not.
    sample_fraction : float
        Share of them the windows were built from (1.0: all).
    """

    features: pd.DataFrame
    outcomes: pd.DataFrame
    cutoffs: tuple[pd.Timestamp, ...]
    horizon_days: int
    as_of: pd.Timestamp
    n_members: int | None = None
    sample_fraction: float = 1.0

    @property
    def validation_cutoff(self) -> pd.Timestamp:
        return self.cutoffs[0]

    def window(self, cutoff) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(features, outcomes)`` of one cutoff, indexed by member id."""
        cutoff = pd.Timestamp(cutoff)
        if cutoff not in self.cutoffs:
            raise ConfigError(f"cutoff={cutoff} is not one of {list(map(str, self.cutoffs))}.")
        return (
            self.features.xs(cutoff, level="cutoff"),
            self.outcomes.xs(cutoff, level="cutoff"),
        )

    def train(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(features, outcomes)`` of every window but the most recent one."""
        if len(self.cutoffs) < 2:
            raise ConfigError("there is only one window; make at least 2 to have a training split.")
        keep = self.features.index.get_level_values("cutoff") != self.validation_cutoff
        return self.features[keep], self.outcomes[keep]

    def validation(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(features, outcomes)`` of the most recent window, indexed by member id."""
        return self.window(self.validation_cutoff)

    def all(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(features, outcomes)`` of every window (to refit on everything after validation)."""
        return self.features, self.outcomes


def make_windows(
    dataset: Dataset,
    as_of,
    horizon_days: int | None = None,
    n_windows: int | None = 3,
    step_days: int | None = None,
    *,
    feature_builder: FeatureBuilder | None = None,
    max_members: int | None = DEFAULT_MAX_MEMBERS,
    random_state: int = 0,
    sample=None,
) -> TrainingWindows:
    """Build labelled windows ending at ``as_of`` (see the module docstring).

    Parameters
    ----------
    dataset : Dataset
        Canonical data; rows at or after ``as_of`` are ignored.
    as_of : timestamp-like
        End of the latest outcome window (exclusive).
    horizon_days : int, optional
        ``H``; by default :func:`default_horizon_days` of the transactions before ``as_of``.
    n_windows : int or None
        Number of cutoffs, >= 2 (one validation window and at least one for
        training); None: as many as the history allows ("More training rows"
        in the module docstring).
    step_days : int, optional
        Days between consecutive training cutoffs; default ``horizon_days``
        (outcome windows that touch but do not overlap), ``min(H, 28)`` when
        stacked.
    feature_builder : callable, optional
        ``(dataset, cutoff) -> DataFrame`` indexed by member id; by default
        :func:`features.member_features.build_member_features`.
    max_members : int or None
        Build the windows from a seeded sample of this many of the members who
        bought before ``as_of`` when there are more (see "Large data" in the
        module docstring); None: never sample.
    random_state : int
        Seed of the sample.
    sample : BuyerSample, optional
        The members to learn from, drawn as of ``as_of`` by
        :func:`models.lifecycle.buyer_sample.sample_buyers` (to build several
        window sets from one draw); ``max_members`` and ``random_state`` are
        then not read.

    Returns
    -------
    TrainingWindows

    Raises
    ------
    ConfigError
        Bad ``horizon_days``, ``n_windows`` or ``step_days``, or an earliest
        cutoff before the first transaction.
    """
    as_of = pd.Timestamp(as_of)
    check_n_windows(n_windows)
    if sample is None:
        sample = sample_buyers(dataset, as_of, max_members, random_state)
    sample.check(as_of)
    past = sample.dataset
    if horizon_days is None:
        horizon_days = default_horizon_days(past.transactions)
    first = past.transactions["timestamp"].min()
    horizon_days, cutoffs = window_cutoffs(as_of, horizon_days, n_windows, step_days, first,
                                           n_members=sample.n_kept)
    horizon = pd.Timedelta(days=horizon_days)
    builder = feature_builder or _default_builder()
    lines = _Lines.of(past.transactions)

    def once(data: Dataset, cutoff: pd.Timestamp) -> pd.DataFrame:  # per cutoff and sample
        return sample.features_at(cutoff, builder, lambda: builder(data, cutoff))

    parts = [_one_window(past, lines, cutoff, horizon, once) for cutoff in cutoffs]
    return assemble_windows(parts, cutoffs, horizon_days, as_of, sample.n_members,
                            sample.fraction)


def check_n_windows(n_windows: int | None) -> None:
    """ConfigError unless ``n_windows`` is None (stacked) or a whole number >= 2."""
    if n_windows is not None and (int(n_windows) != n_windows or n_windows < 2):
        raise ConfigError(f"n_windows={n_windows} should be >= 2 (validation + training), "
                          "or None (as many as the history allows).")


def window_cutoffs(as_of: pd.Timestamp, horizon_days, n_windows: int | None, step_days,
                   first: pd.Timestamp, n_members: int | None = None,
                   ) -> tuple[int, tuple[pd.Timestamp, ...]]:
    """The checked horizon and the cutoffs, most recent first (the module docstring).

    ``n_windows`` None: stacked cutoffs ("More training rows" in the module
    docstring; ``n_members``, the members a window holds at most, bounds them
    by :data:`STACK_MAX_ROWS`).

    Raises
    ------
    ConfigError
        Bad ``horizon_days`` or ``step_days``, or an earliest cutoff not after
        ``first`` (the first transaction).
    """
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise ConfigError(f"horizon_days={horizon_days} should be a positive whole number.")
    horizon_days = int(horizon_days)
    if n_windows is None:
        stacked = stacked_cutoffs(as_of, horizon_days, first, step_days, n_members=n_members)
        if stacked is not None:
            return horizon_days, stacked
        n_windows, step_days = 3, None
    step_days = horizon_days if step_days is None else step_days
    if int(step_days) != step_days or step_days < 1:
        raise ConfigError(f"step_days={step_days} should be a positive whole number.")
    horizon = pd.Timedelta(days=horizon_days)
    cutoffs = (as_of - horizon,) + tuple(
        as_of - 2 * horizon - pd.Timedelta(days=int(step_days) * i)
        for i in range(n_windows - 1)
    )
    if cutoffs[-1] <= first:
        raise ConfigError(
            f"the earliest cutoff {cutoffs[-1]} is not after the first transaction {first}; "
            f"use fewer windows (n_windows={n_windows}), a shorter step (step_days={step_days}) "
            f"or horizon (horizon_days={horizon_days}), or a later as_of."
        )
    return horizon_days, cutoffs


def stacked_cutoffs(as_of: pd.Timestamp, horizon_days: int, first: pd.Timestamp,
                    step_days: int | None = None, *, n_members: int | None = None,
                    min_history_days: int = STACK_MIN_HISTORY_DAYS,
                    max_windows: int = STACK_MAX_WINDOWS,
                    max_rows: int = STACK_MAX_ROWS) -> tuple[pd.Timestamp, ...] | None:
    """The validation cutoff ``as_of - H`` and the stacked training cutoffs, most recent
    first ("More training rows" in the module docstring); None when the grid has fewer
    than two training cutoffs after ``first``.

    >>> as_of, first = pd.Timestamp("2018-01-02"), pd.Timestamp("2017-01-01")
    >>> [(as_of - c).days for c in stacked_cutoffs(as_of, 61, first)]
    [61, 140, 168, 196, 224]
    >>> [(as_of - c).days for c in stacked_cutoffs(as_of, 61, first, n_members=40_000)]
    [61, 140, 168]
    """
    step = min(horizon_days, STACK_STEP_DAYS) if step_days is None else step_days
    if int(step) != step or step < 1:
        raise ConfigError(f"step_days={step_days} should be a positive whole number.")
    step = int(step)
    most = max(2, min(max_windows, max_rows // max(int(n_members or 1), 1)))
    k = math.ceil(2 * horizon_days / step)  # as_of - k * step + H <= as_of - H
    training = []
    while len(training) < most:
        cutoff = as_of - pd.Timedelta(days=step * k)
        enough = cutoff - first >= pd.Timedelta(days=min_history_days)
        if cutoff <= first or (len(training) >= 2 and not enough):
            break
        training.append(cutoff)
        k += 1
    if len(training) < 2:
        return None
    return (as_of - pd.Timedelta(days=horizon_days), *training)


def assemble_windows(parts: list[tuple[pd.DataFrame, pd.DataFrame]], cutoffs, horizon_days: int,
                     as_of: pd.Timestamp, n_members, fraction: float) -> TrainingWindows:
    """:class:`TrainingWindows` from each cutoff's ``(features, outcomes)``."""
    for cutoff, (_, outcomes) in zip(cutoffs, parts):
        logger.info(
            "window %s: %d members, churn rate %.3f, mean future spend %.2f",
            cutoff.date(), len(outcomes), outcomes["churned"].mean(),
            outcomes["future_spend"].mean(),
        )
    keys = list(cutoffs)
    features = pd.concat(_align([f for f, _ in parts]), keys=keys, names=["cutoff", "member_id"])
    outcomes = pd.concat([o for _, o in parts], keys=keys, names=["cutoff", "member_id"])
    return TrainingWindows(features, outcomes, cutoffs, horizon_days, as_of, n_members, fraction)


@dataclass
class _Lines:
    """The transaction columns the outcomes need, as arrays (members as codes)."""

    codes: np.ndarray  # int64 member code per line
    members: pd.Index  # str member id per code
    times: np.ndarray  # datetime64[ns]
    amounts: np.ndarray
    baskets: np.ndarray

    @classmethod
    def of(cls, tx: pd.DataFrame) -> _Lines:
        codes, uniques = pd.factorize(tx["member_id"])
        return cls(
            codes=codes.astype(np.int64),
            members=pd.Index(np.asarray(uniques).astype(str), dtype="str", name="member_id"),
            times=tx["timestamp"].to_numpy(),
            amounts=tx["amount"].to_numpy(dtype=np.float64),
            baskets=tx["basket_id"].to_numpy(),
        )

    def spend(self, mask: np.ndarray) -> pd.Series:
        n = len(self.members)
        totals = np.bincount(self.codes[mask], weights=self.amounts[mask], minlength=n)
        return pd.Series(totals, index=self.members)

    def basket_count(self, mask: np.ndarray) -> pd.Series:
        pairs = pd.DataFrame({"m": self.codes[mask], "b": self.baskets[mask]}).drop_duplicates()
        counts = np.bincount(pairs["m"].to_numpy(), minlength=len(self.members))
        return pd.Series(counts.astype(np.int64), index=self.members)


def _one_window(
    past: Dataset, lines: _Lines, cutoff: pd.Timestamp, horizon: pd.Timedelta,
    builder: FeatureBuilder,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features of members with a purchase before ``cutoff`` and their outcomes after it."""
    before = lines.times < cutoff.to_datetime64()
    bought = np.bincount(lines.codes[before], minlength=len(lines.members)) > 0
    eligible = lines.members[bought].sort_values()
    feats = builder(past, cutoff)
    feats.index = pd.Index(feats.index.astype("str"), name="member_id")
    missing = eligible.difference(feats.index)
    if len(missing):
        logger.warning(
            "window %s: the feature builder has no row for %d member(s) with purchases "
            "before the cutoff (e.g. %s); they are left out",
            cutoff.date(), len(missing), list(missing[:3]),
        )
        eligible = eligible.intersection(feats.index, sort=True)
    feats = feats.loc[eligible]
    during = ~before & (lines.times < (cutoff + horizon).to_datetime64())
    recent = before & (lines.times >= (cutoff - horizon).to_datetime64())
    baskets = lines.basket_count(during).loc[eligible].to_numpy()
    outcomes = pd.DataFrame(
        {
            "churned": baskets == 0,
            "future_spend": lines.spend(during).loc[eligible].to_numpy(),
            "future_baskets": baskets,
            "past_spend": lines.spend(recent).loc[eligible].to_numpy(),
        },
        index=eligible,
    )
    return feats, outcomes


def _align(parts: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Give every window the union of the columns; an absent share column is 0.0.

    The feature builder writes ``cat_share__*`` columns for the top categories
    as of each cutoff only, so a category can be missing from some windows; its
    share is then counted in ``cat_share__other`` and 0.0 is the right value
    (the models read a share column missing at prediction time the same way).
    Other missing columns are left NaN.
    """
    columns = list(dict.fromkeys(c for part in parts for c in part.columns))
    aligned = []
    for part in parts:
        absent = [c for c in columns if c not in part.columns]
        if absent:
            fill = {c: 0.0 for c in absent if is_optional(c)}
            part = part.assign(**fill).reindex(columns=columns)
        aligned.append(part)
    return aligned


def _default_builder() -> FeatureBuilder:
    from features.member_features import build_member_features

    return build_member_features

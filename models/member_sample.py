"""Seeded member samples for training on large data sets.

The churn, value and offer-response models learn from features built at past
cutoffs. On a few thousand members that is cheap; at a million members one
build per cutoff reads a hundred million lines and holds gigabytes of feature
rows, while the models' quality stops improving long before. So when the data
are large the *training* rows come from a seeded random sample of members
(every line, send and event of a sampled member is kept, so a sampled
member's features are exactly those of the full data, but for the
population-level parts noted below); predictions still cover every member.

What a sample changes, besides the number of rows: the feature builder's
population-level values are estimated from the sampled members only, i.e.
which categories get their own ``cat_share__*`` column (the largest by spend)
and the purchase-cycle prior of members with a single purchase day (a
median), and the offer affinity's ``population_share``. With tens of
thousands of sampled members these estimates match the full data's closely.

>>> keep = member_sample(pd.Index(["a", "b", "c", "d"]), 0.5, random_state=0)
>>> keep.dtype, keep.shape
(dtype('bool'), (4,))
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd

from features.code_groups import positions
from features.dataset import Dataset
from features.errors import ConfigError

logger = logging.getLogger(__name__)


def sample_fraction(n: int, limit: int | None) -> float:
    """The share of members to keep so that ``n`` rows become about ``limit``; 1.0 if fewer.

    >>> sample_fraction(1000, 250), sample_fraction(100, 250), sample_fraction(100, None)
    (0.25, 1.0, 1.0)
    """
    if limit is None:
        return 1.0
    if int(limit) != limit or limit < 1:
        raise ConfigError(f"the row limit {limit} should be a positive whole number or None.")
    return 1.0 if n <= limit else float(limit) / float(n)


def check_limit(limit, name: str = "max_members") -> None:
    """Raise unless ``limit`` is a positive whole number or None.

    >>> check_limit(0)
    Traceback (most recent call last):
    ...
    features.errors.ConfigError: max_members=0 should be a positive whole number or None.
    """
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, (int, float, np.integer, np.floating)) \
            or int(limit) != limit or limit < 1:
        raise ConfigError(f"{name}={limit!r} should be a positive whole number or None.")


def sample_ids(ids, limit: int | None, random_state=0, *, purpose: str = "training",
               population: str = "members") -> pd.Index:
    """``ids`` as str, or a seeded sample of about ``limit`` of them when there are more.

    The draw is :func:`member_sample` at ``limit / len(ids)``: it depends only
    on the seed and the sorted ids, so pandas and an engine pick the same
    members. A sample is logged as "<purpose> from a seeded sample of k of the
    n <population>".

    Raises
    ------
    ConfigError
        ``limit`` is not a positive whole number or None (checked even when
        there are fewer ids).

    >>> list(sample_ids(["a", "b"], 5))
    ['a', 'b']
    """
    check_limit(limit)
    ids = pd.Index(ids).astype("str")
    if limit is None or len(ids) <= limit:
        return ids
    kept = ids[member_sample(ids, limit / len(ids), random_state)]
    logger.info("%s from a seeded sample of %d of the %d %s", purpose, len(kept), len(ids),
                population)
    return kept


def member_sample(member_ids: pd.Index, fraction: float, random_state=0) -> np.ndarray:
    """A seeded Bernoulli sample: which of ``member_ids`` are kept (bool array).

    The draw depends only on ``random_state`` and the sorted ids, not on their order.
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"fraction={fraction} should be in (0, 1].")
    ids = pd.Index(member_ids).astype("str")
    if fraction >= 1.0:
        return np.ones(len(ids), dtype=bool)
    order = np.argsort(ids.to_numpy(), kind="stable")
    draw = np.empty(len(ids))
    draw[order] = np.random.default_rng(random_state).random(len(ids))
    return draw < fraction


def restrict_members(dataset: Dataset, keep_ids: pd.Index) -> Dataset:
    """``dataset`` with only the transactions, offer events and member rows of ``keep_ids``.

    Categorical columns keep their categories (codes are unchanged), so the
    copy is one boolean mask per table.
    """
    keep_ids = pd.Index(keep_ids).astype("str")
    return replace(
        dataset,
        transactions=_rows_of(dataset.transactions, keep_ids),
        members=_rows_of(dataset.members, keep_ids),
        offer_events=_rows_of(dataset.offer_events, keep_ids),
    )


def _rows_of(frame: pd.DataFrame, keep_ids: pd.Index) -> pd.DataFrame:
    if "member_id" not in frame.columns or frame.empty:
        return frame
    return frame[positions(frame["member_id"], keep_ids) >= 0]


def sample_dataset(
    dataset: Dataset, fraction: float, random_state=0, candidates: pd.Index | None = None
) -> tuple[Dataset, pd.Index]:
    """A member sample of ``dataset`` (itself when ``fraction`` is 1).

    Parameters
    ----------
    dataset : Dataset
    fraction : float
        Share of members kept, in (0, 1].
    random_state : int
    candidates : Index of str, optional
        Members to sample from (default: the members table).

    Returns
    -------
    dataset : Dataset
    kept : Index of str
        The sampled member ids.
    """
    ids = pd.Index(dataset.members["member_id"] if candidates is None else candidates)
    ids = ids.astype("str")
    if fraction >= 1.0:
        return dataset, ids
    kept = ids[member_sample(ids, fraction, random_state)]
    logger.info("training on a sample of %d of %d members (%.1f%%)",
                len(kept), len(ids), 100 * len(kept) / max(len(ids), 1))
    return restrict_members(dataset, kept), kept

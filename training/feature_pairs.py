"""The features step's distinct (member, item) pairs, from the recommenders' (issue 11).

Grouping every line before the cutoff into (member, item) pairs was the features
step's costliest query (24-30 s of 1M synthetic members' 101M lines, 152 s of 3M's
in three slices; bench/RESULTS.md), right after the recommendations step had
grouped the same lines into the same pairs. That step now keeps, per member, its
distinct items and, per item, its buyers (:func:`stage_feature_pairs`: arrays it
already holds, no query); the features step completes them on the engine
(:func:`feature_pairs`) with what the recommenders' pairs lack: the recent buyers
(the last :data:`~features.relational.items.RECENT_DAYS` days' lines only) and the
pairs of the items the recommenders leave out (fuel, coupons). Those queries run in
the features step, not beside the recommenders' fitted arrays: run there, DuckDB's
buffers for them came on top of the recommendations step's peak (3,461 against
3,037 MiB at 1M members).

Imports: :mod:`features` and :mod:`models` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.code_groups import to_cutoff
from models.recommenders.interactions import column_counts


@dataclass(frozen=True)
class StagedPairs:
    """Distinct items per member and buyers per item of the lines before ``cut_us``, less
    the lines of ``excluded`` items (counted apart when completed)."""

    member_ids: np.ndarray
    member_counts: np.ndarray
    item_ids: np.ndarray
    item_counts: np.ndarray
    cut_us: int
    excluded: np.ndarray


def stage_feature_pairs(tables, interactions, excluded_items=()) -> None:
    """Keep the per-member and per-item pair counts of the recommenders' final
    ``interactions`` (of ``tables.lines`` before their ``as_of``, less the lines of
    ``excluded_items``) in ``tables.pairs`` for :func:`feature_pairs` of the same cutoff."""
    matrix = interactions.matrix
    tables.pairs = StagedPairs(
        member_ids=np.asarray(interactions.member_ids),
        member_counts=np.diff(matrix.indptr),
        item_ids=np.asarray(interactions.item_ids),
        item_counts=column_counts(matrix.indices, interactions.n_items),
        cut_us=int(to_cutoff(interactions.as_of).value // 1000),
        excluded=np.asarray(excluded_items, dtype=str),
    )


def feature_pairs(tables, as_of):
    """The :class:`~features.relational.pairs.PairCounts` of the member and item features
    as of ``as_of``: completed from ``tables.pairs`` when they were staged at that cutoff
    (and taken: ``tables.pairs`` is cleared), else grouped from every line."""
    from features.relational.items import RECENT_DAYS
    from features.relational.pairs import counts_from_pairs, pairs_before

    staged, tables.pairs = tables.pairs, None
    if staged is None or staged.cut_us != to_cutoff(as_of).value // 1000:
        return pairs_before(tables.lines, as_of, recent_days=RECENT_DAYS)
    return counts_from_pairs(
        tables.lines, as_of, recent_days=RECENT_DAYS, member_ids=staged.member_ids,
        member_counts=staged.member_counts, item_ids=staged.item_ids,
        item_counts=staged.item_counts, excluded_items=staged.excluded)

"""Interactions held one entry per (member, item) pair instead of one per line.

:class:`PairInteractions` is what the recommenders need from the purchase lines
(see :class:`~models.recommenders.interactions.Interactions`) when the lines
stay in a relational engine: per bought pair its line count and the age of its
oldest line, and a function that returns the time-decayed counts for a
half-life (on an engine, one aggregate query; see
:func:`~models.recommenders.engine_interactions.build_engine_interactions`). Memory
grows with the pairs, not with the lines.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from features.errors import DataError

from .interactions import Interactions

#: Decayed-count matrices kept per half-life (the tuning asks for a few twice).
DECAYED_CACHE = 2


def canonical_csr(rows, cols, values, shape) -> sp.csr_matrix:
    """A float32 CSR of ``(values, (rows, cols))``, duplicates summed, indices sorted."""
    m = sp.csr_matrix(
        (np.asarray(values, dtype=np.float32), (np.asarray(rows), np.asarray(cols))),
        shape=shape, dtype=np.float32,
    )
    m.sum_duplicates()
    m.sort_indices()
    return m


class PairInteractions(Interactions):
    """Purchases before a cutoff as one entry per bought (member, item) pair.

    Parameters
    ----------
    member_ids : ndarray of str, shape (n_members,)
        Sorted member ids; row ``r`` is ``member_ids[r]``.
    item_ids : ndarray of str, shape (n_items,)
        Sorted item ids; column ``c`` is ``item_ids[c]``.
    rows, cols : ndarray of int, shape (n_pairs,)
        Member row and item column of each pair (each pair once).
    counts : ndarray of int, shape (n_pairs,)
        Purchase lines of each pair.
    oldest_age_days : ndarray of float32, shape (n_pairs,)
        Age at ``as_of`` of each pair's oldest line, in days.
    decayed : callable
        ``decayed(half_life_days)`` returns the decayed counts as a canonical
        float32 CSR of shape ``(n_members, n_items)`` (summed over lines).
    as_of : Timestamp or None
        The cutoff.
    """

    def __init__(self, member_ids, item_ids, rows, cols, counts, oldest_age_days,
                 decayed: Callable[[float], sp.csr_matrix], as_of=None):
        self.member_ids = np.asarray(member_ids, dtype=str)
        self.item_ids = np.asarray(item_ids, dtype=str)
        rows = np.asarray(rows, dtype=np.int32)
        cols = np.asarray(cols, dtype=np.int32)
        order = np.lexsort((cols, rows))
        self.pair_rows, self.pair_cols = rows[order], cols[order]
        self.pair_counts = np.asarray(counts, dtype=np.int64)[order]
        self.oldest_age_days = np.asarray(oldest_age_days, dtype=np.float32)[order]
        self.as_of = as_of
        self._decayed_fn = decayed
        self._cache: OrderedDict = OrderedDict()
        self._counts = None

    @property
    def n_pairs(self) -> int:
        return len(self.pair_rows)

    @property
    def n_lines(self) -> int:
        return int(self.pair_counts.sum())

    def __repr__(self) -> str:
        return (
            f"PairInteractions(n_members={self.n_members}, n_items={self.n_items}, "
            f"n_pairs={self.n_pairs}, n_lines={self.n_lines}, as_of={self.as_of})"
        )

    def _count_matrix(self) -> sp.csr_matrix:
        return canonical_csr(self.pair_rows, self.pair_cols, self.pair_counts, self.shape)

    def _decayed(self, half_life_days: float) -> sp.csr_matrix:
        if half_life_days in self._cache:
            self._cache.move_to_end(half_life_days)
        else:
            m = self._decayed_fn(half_life_days)
            if m.shape != self.shape:
                raise DataError(f"decayed counts have shape {m.shape}; expected {self.shape}.")
            self._cache[half_life_days] = m
            while len(self._cache) > DECAYED_CACHE:
                self._cache.popitem(last=False)
        return self._cache[half_life_days].copy()

    def first_purchase_ages(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.pair_rows, self.pair_cols, self.oldest_age_days

    def roll_up(self, item_groups) -> PairInteractions:
        """The same purchases with every item replaced by its group (e.g. its category).

        Counts and decayed counts are summed per (member, group); the oldest
        line of a (member, group) is the oldest of its pairs.

        Parameters
        ----------
        item_groups : array-like of str, shape (n_items,)
            The group of each item column, aligned with ``item_ids``.
        """
        group_of_col, group_ids = self._group_codes(item_groups)
        n_groups = len(group_ids)
        to_group = sp.csr_matrix(
            (np.ones(self.n_items, dtype=np.float64),
             (np.arange(self.n_items), group_of_col)),
            shape=(self.n_items, n_groups),
        )
        shape = (self.n_members, n_groups)

        def rolled(matrix: sp.csr_matrix) -> sp.csr_matrix:
            coo = (matrix.astype(np.float64) @ to_group).tocoo()
            return canonical_csr(coo.row, coo.col, coo.data, shape)

        key = self.pair_rows.astype(np.int64) * max(n_groups, 1) + group_of_col[self.pair_cols]
        keys, inverse = np.unique(key, return_inverse=True)
        oldest = np.full(len(keys), -np.inf, dtype=np.float32)
        np.maximum.at(oldest, inverse, self.oldest_age_days)
        counts = np.bincount(inverse, weights=self.pair_counts, minlength=len(keys))
        return PairInteractions(
            self.member_ids, group_ids, keys // max(n_groups, 1), keys % max(n_groups, 1),
            np.rint(counts).astype(np.int64), oldest,
            lambda h: rolled(self.decayed_counts(h)), self.as_of,
        )

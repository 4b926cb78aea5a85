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

from features.errors import ConfigError, DataError

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


def _canonical(values, indices, indptr, shape) -> sp.csr_matrix:
    """The CSR of sorted, unique entries, flagged canonical (nothing to sort or sum)."""
    m = sp.csr_matrix((values, indices, indptr), shape=shape, copy=False)
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m


def _is_sorted(rows: np.ndarray, cols: np.ndarray) -> bool:
    """Whether the pairs are sorted by row, then column (chunk by chunk: little memory)."""
    step, last = 1 << 22, len(rows) - 1
    for start in range(0, max(last, 0), step):
        end = min(start + step, last)
        r0, r1 = rows[start:end], rows[start + 1 : end + 1]
        c0, c1 = cols[start:end], cols[start + 1 : end + 1]
        if not np.all((r0 < r1) | ((r0 == r1) & (c0 <= c1))):
            return False
    return True


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
        ``decayed(half_life_days)`` returns the decayed counts (summed over
        lines): the values of every pair in the sorted pair order (sorted by
        row, then column; ndarray of shape ``(n_pairs,)``), or a canonical
        float32 CSR of shape ``(n_members, n_items)``.
    as_of : Timestamp or None
        The cutoff.
    prefetched : dict of float to ndarray, optional
        Decayed counts already computed (half-life: values in pair order), so
        ``decayed`` is not asked for them.

    Every decayed-count matrix shares the count matrix's index arrays (the
    pairs are the same); only the values are computed and cached per half-life.
    """

    def __init__(self, member_ids, item_ids, rows, cols, counts, oldest_age_days,
                 decayed: Callable[[float], np.ndarray | sp.csr_matrix], as_of=None,
                 prefetched: dict | None = None, *, indptr: np.ndarray | None = None,
                 release: Callable[[], None] | None = None):
        self.member_ids = np.asarray(member_ids, dtype=str)
        self.item_ids = np.asarray(item_ids, dtype=str)
        cols = np.asarray(cols, dtype=np.int32)
        counts = np.asarray(counts)
        if counts.dtype != np.float32 and counts.size and (
                counts.max() <= np.iinfo(np.int32).max):  # 4 bytes a pair, not 8
            counts = counts.astype(np.int32, copy=False)
        oldest_age_days = np.asarray(oldest_age_days, dtype=np.float32)
        if rows is None:  # sorted pairs given as the rows' offsets (an engine's, checked there)
            if indptr is None or len(indptr) != len(self.member_ids) + 1 or (
                    indptr[-1] != len(cols)):
                raise DataError("pairs given without rows need indptr: n_members + 1 offsets "
                                "ending at the number of pairs.")
        else:
            rows = np.asarray(rows, dtype=np.int32)
            if not _is_sorted(rows, cols):  # an engine may hand them over sorted: no copies
                order = np.lexsort((cols, rows))
                rows, cols, counts = rows[order], cols[order], counts[order]
                oldest_age_days = oldest_age_days[order]
        self.pair_cols, self.oldest_age_days = cols.view(), oldest_age_days.view()
        for array in (self.pair_cols, self.oldest_age_days):
            array.flags.writeable = False  # the matrices and the models share them
        self.as_of = as_of
        self._decayed_fn = decayed
        self._release_fn = release
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = max(DECAYED_CACHE, len(prefetched or {}))
        # The pairs are unique and sorted: with the rows' offsets they are the count
        # matrix, which then holds the rows and counts (no array of either is kept).
        if rows is not None:
            indptr = np.zeros(len(self.member_ids) + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=len(self.member_ids)), out=indptr[1:])
        indptr = np.asarray(indptr)
        if indptr[-1] <= np.iinfo(np.int32).max:  # what scipy itself picks
            indptr = indptr.astype(np.int32, copy=False)
        self._counts = _canonical(counts.astype(np.float32, copy=False), self.pair_cols,
                                  indptr, self.shape)
        del rows, counts
        for half_life_days, values in (prefetched or {}).items():
            values = np.asarray(values, dtype=np.float32)
            if values.shape != (self.n_pairs,):
                raise DataError(f"prefetched decayed counts have shape {values.shape}; "
                                f"expected ({self.n_pairs},), one per pair.")
            self._cache[float(half_life_days)] = values

    def release_engine(self) -> None:
        """Let the engine drop what it holds for these pairs (its coded lines) now, not when
        the pairs go: a decayed count not yet computed then costs one more scan there."""
        if self._release_fn is not None:
            self._release_fn()

    @property
    def n_pairs(self) -> int:
        return len(self.pair_cols)

    @property
    def pair_rows(self) -> np.ndarray:
        """Member row of each pair (int32, sorted; computed from the count matrix)."""
        indptr = self.matrix.indptr
        return np.repeat(np.arange(self.n_members, dtype=np.int32), np.diff(indptr))

    @property
    def pair_counts(self) -> np.ndarray:
        """Purchase lines of each pair (int64; the count matrix's values)."""
        return self.matrix.data.astype(np.int64)

    @property
    def n_lines(self) -> int:
        return int(self.matrix.data.sum(dtype=np.float64))

    def __repr__(self) -> str:
        return (
            f"PairInteractions(n_members={self.n_members}, n_items={self.n_items}, "
            f"n_pairs={self.n_pairs}, n_lines={self.n_lines}, as_of={self.as_of})"
        )

    def _count_matrix(self) -> sp.csr_matrix:
        return self._counts  # built with the pairs

    def _with_values(self, values: np.ndarray) -> sp.csr_matrix:
        """A canonical CSR of the pairs holding ``values`` (in pair order); its index
        arrays are the count matrix's (no copy)."""
        return _canonical(values, self._counts.indices, self._counts.indptr, self.shape)

    def purchased_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._purchased is None:  # the column of each pair is the purchases' indices
            self._purchased = (np.asarray(self.matrix.indptr, dtype=np.int64), self.pair_cols)
            self._purchased[0].flags.writeable = False
        return self._purchased

    def _decayed_matrix(self, half_life_days):
        if half_life_days is None:
            return super()._decayed_matrix(half_life_days)
        if not half_life_days > 0:
            raise ConfigError(f"half_life_days={half_life_days} should be > 0 or None.")
        key = float(half_life_days)
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            self._cache[key] = self._decayed_values(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        values = self._cache[key]
        if isinstance(values, sp.csr_matrix):
            return values, True
        return self._with_values(values), True

    def _decayed_values(self, half_life_days: float):
        """The decayed values in pair order (float32), or a CSR of another structure."""
        got = self._decayed_fn(half_life_days)
        if isinstance(got, np.ndarray):
            if got.shape != (self.n_pairs,):
                raise DataError(f"decayed counts have shape {got.shape}; expected "
                                f"({self.n_pairs},), one per pair.")
            return got.astype(np.float32, copy=False)
        if got.shape != self.shape:
            raise DataError(f"decayed counts have shape {got.shape}; expected {self.shape}.")
        counts = self.matrix
        if np.array_equal(got.indptr, counts.indptr) and np.array_equal(got.indices,
                                                                         counts.indices):
            return np.asarray(got.data, dtype=np.float32)  # same pairs: keep the values only
        return got

    def first_purchase_ages(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.pair_rows, self.pair_cols, self.oldest_age_days

    def first_purchase_item_ages(self) -> tuple[np.ndarray, np.ndarray]:
        return self.pair_cols, self.oldest_age_days  # held: no array of rows is built

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

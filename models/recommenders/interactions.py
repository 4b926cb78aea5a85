"""The member x item interaction matrix the recommenders learn from.

:func:`build_interactions` turns the canonical transactions frame (see
:mod:`features.dataset`) into an :class:`InteractionMatrix`: the purchase lines
before a cutoff, indexed by member row and item column, from which each model
asks for the weighting it needs (:meth:`InteractionMatrix.weighted`): plain
counts, ``log1p`` counts, BM25 or TF-IDF, each optionally with an exponential
time decay. Everything is built vectorised from the categorical codes.

Member and item ids are kept sorted, so an id is found with
:func:`numpy.searchsorted` on the (memory-mappable) id arrays.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: Weighting schemes understood by :meth:`InteractionMatrix.weighted`.
WEIGHTINGS = ("count", "binary", "log1p", "bm25", "tfidf")

_REQUIRED = ("member_id", "item_id", "timestamp")


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of ``values`` numbered in sorted id order, and the sorted ids.

    Assumes no missing values. Unused categories are dropped.
    """
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    codes = cat.cat.codes.to_numpy()
    used = np.flatnonzero(np.bincount(codes, minlength=len(cat.cat.categories)))
    ids = np.asarray(cat.cat.categories.to_numpy()[used], dtype=str)
    order = np.argsort(ids, kind="stable")
    remap = np.full(len(cat.cat.categories), -1, dtype=np.int32)
    remap[used[order]] = np.arange(len(used), dtype=np.int32)
    return remap[codes], ids[order]


def lookup(ids: np.ndarray, wanted) -> np.ndarray:
    """Positions of ``wanted`` in the sorted id array ``ids``; -1 where absent.

    Parameters
    ----------
    ids : ndarray of str, shape (n,)
        Sorted ids (as held by :class:`InteractionMatrix` and the recommenders).
    wanted : array-like of str, shape (m,)

    Returns
    -------
    ndarray of int64, shape (m,)

    >>> lookup(np.array(["a", "c"]), ["c", "b"]).tolist()
    [1, -1]
    """
    wanted = np.asarray(wanted, dtype=str).ravel()
    if len(ids) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    pos = np.searchsorted(ids, wanted)
    pos_c = np.minimum(pos, len(ids) - 1)
    return np.where(ids[pos_c] == wanted, pos_c, -1).astype(np.int64)


#: Entries :func:`column_counts` counts at a time (bincount makes an int64 copy of its input).
COUNT_BLOCK = 1 << 24


def column_counts(indices: np.ndarray, n_cols: int) -> np.ndarray:
    """How many times each column ``0 .. n_cols - 1`` appears in ``indices`` (int64).

    ``np.bincount`` of int32 indices first copies them to int64: 1.5 GB at the 186M
    pairs of 3M synthetic members, the peak of a train there (bench/RESULTS.md). Here a
    block of :data:`COUNT_BLOCK` entries is copied at a time.

    >>> column_counts(np.array([2, 0, 2], dtype=np.int32), 4).tolist()
    [1, 0, 2, 0]
    """
    out = np.zeros(n_cols, dtype=np.int64)
    for start in range(0, len(indices), COUNT_BLOCK):
        out += np.bincount(indices[start : start + COUNT_BLOCK], minlength=n_cols)
    return out


def apply_weighting(
    counts: sp.csr_matrix, weighting: str, *, k1: float = 100.0, b: float = 0.8
) -> sp.csr_matrix:
    """Re-weight a member x item count matrix.

    Parameters
    ----------
    counts : csr_matrix, shape (n_members, n_items)
        Non-negative (possibly time-decayed) purchase counts.
    weighting : {"count", "binary", "log1p", "bm25", "tfidf"}
        ``count`` keeps the counts; ``binary`` sets every purchase to 1;
        ``log1p`` takes ``log(1 + count)``; ``tfidf`` is ``sqrt(count) * idf``
        and ``bm25`` the BM25 term weight times ``idf``, where a member is a
        document and ``idf = log(1 + (n_members - buyers + 0.5) / (buyers + 0.5))``
        (Lucene's always positive form), so very common items weigh less.
    k1, b : float
        BM25 saturation and member-length normalisation.

    Returns
    -------
    csr_matrix of float32, same shape and sparsity as ``counts``.
    """
    return RowWeighting(counts, weighting, k1=k1, b=b).matrix()


class RowWeighting:
    """:func:`apply_weighting` of ``counts``, whole or a few rows at a time.

    The statistics the weighting needs from the whole matrix (each item's ``idf``, each
    member's length and their mean) are computed once here; :meth:`rows` then weighs
    only the rows asked for, the values those rows have in :meth:`matrix`, so a caller
    that reads the confidences a block of members at a time (ALS's fold-in of every
    member) never holds a weighted copy of every pair.
    """

    def __init__(self, counts: sp.csr_matrix, weighting: str, *, k1: float = 100.0,
                 b: float = 0.8):
        if weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting={weighting!r} is not one of {WEIGHTINGS}.")
        self.counts, self.weighting, self.k1, self.b = counts.tocsr(), weighting, k1, b
        self.shape = self.counts.shape
        self._idf = self._row_len = None
        self._mean_len = 1.0
        if weighting in ("tfidf", "bm25"):
            buyers = column_counts(self.counts.indices, self.shape[1])
            self._idf = np.log1p((self.shape[0] - buyers + 0.5) / (buyers + 0.5))
        if weighting == "bm25":
            values = sp.csr_matrix((self.counts.data.astype(np.float32, copy=False),
                                    self.counts.indices, self.counts.indptr),
                                   shape=self.shape, copy=False)
            self._row_len = np.asarray(values.sum(axis=1)).ravel()
            mean = self._row_len.mean() if self._row_len.size else 0.0
            self._mean_len = mean if mean > 0 else 1.0

    def matrix(self) -> sp.csr_matrix:
        """Every row, weighted: new float32 values over the counts' own index arrays
        when those are sorted (the weightings change values only, and sorted indices are
        never rewritten in place)."""
        counts = self.counts
        if counts.has_sorted_indices:
            out = sp.csr_matrix((counts.data.astype(np.float32, copy=True), counts.indices,
                                 counts.indptr), shape=counts.shape, copy=False)
            out.has_sorted_indices = True
        else:
            out = counts.astype(np.float32, copy=True)
        out.data = self._weigh(out, np.arange(out.shape[0]))
        return out

    def rows(self, rows) -> sp.csr_matrix:
        """The weighted rows ``rows`` (an array of rows or a slice), sorted indices: their
        rows of :meth:`matrix`, value for value."""
        picked = np.arange(self.shape[0])[rows] if isinstance(rows, slice) else (
            np.asarray(rows, dtype=np.int64))
        out = self.counts[rows].astype(np.float32, copy=True)
        out.sort_indices()
        out.data = self._weigh(out, picked)
        return out

    def _weigh(self, out: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """The weighted values of ``out`` (float32, the counts of ``rows``), in place
        where the weighting allows."""
        data = out.data
        if self.weighting == "count":
            return data
        if self.weighting == "binary":
            data[:] = 1.0
            return data
        if self.weighting == "log1p":
            np.log1p(data, out=data)  # float32 in place, no second copy
            return data
        col_idf = self._idf[out.indices]
        if self.weighting == "tfidf":
            return (np.sqrt(data) * col_idf).astype(np.float32)
        len_norm = (1.0 - self.b) + self.b * self._row_len[rows] / self._mean_len
        row_of = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
        tf = data * (self.k1 + 1.0) / (self.k1 * len_norm[row_of] + data)
        return (tf * col_idf).astype(np.float32)


class Interactions:
    """What the recommenders read from the purchase lines before a cutoff.

    Every model needs only per (member, item) aggregates: line counts
    (:attr:`matrix`), time-decayed counts (:meth:`decayed_counts`) and the age
    of each member's first purchase of each item (:meth:`first_purchase_ages`).
    Two forms hold them: :class:`InteractionMatrix` keeps every line in memory
    (:func:`build_interactions`); :class:`~models.recommenders.pairs.PairInteractions`
    keeps one entry per pair and asks a relational engine for the decayed
    counts (:func:`~models.recommenders.engine_interactions.build_engine_interactions`).

    Members are the rows, items the columns, both numbered in sorted id order:
    ``member_ids`` and ``item_ids`` (ndarray of str) and ``as_of`` (the cutoff).
    """

    member_ids: np.ndarray
    item_ids: np.ndarray
    as_of = None
    _counts = None
    _purchased = None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.member_ids), len(self.item_ids)

    @property
    def n_members(self) -> int:
        return len(self.member_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_lines(self) -> int:
        """Purchase lines before ``as_of``."""
        raise NotImplementedError

    @property
    def matrix(self) -> sp.csr_matrix:
        """Member x item purchase-line counts (float32 CSR); do not modify it."""
        if self._counts is None:
            self._counts = self._count_matrix()
        return self._counts

    def _count_matrix(self) -> sp.csr_matrix:
        raise NotImplementedError

    def release_engine(self) -> None:
        """Let a relational engine drop what it holds for these interactions (nothing
        here: lines in memory); see :meth:`.PairInteractions.release_engine`."""

    def decayed_counts(self, half_life_days: float | None = None) -> sp.csr_matrix:
        """Member x item counts where each line weighs ``0.5 ** (age / half_life)``.

        Parameters
        ----------
        half_life_days : float or None
            Age at which a line counts half; ``None`` counts every line as 1.

        Returns
        -------
        csr_matrix of float32, shape (n_members, n_items), canonical (sorted, summed).
        """
        matrix, shared = self._decayed_matrix(half_life_days)
        return matrix.copy() if shared else matrix

    def decayed_view(self, half_life_days: float | None = None) -> sp.csr_matrix:
        """:meth:`decayed_counts` without a copy: the matrix may be held (and shared)
        by these interactions, so read it and never modify it."""
        return self._decayed_matrix(half_life_days)[0]

    def _decayed_matrix(self, half_life_days: float | None) -> tuple[sp.csr_matrix, bool]:
        """The decayed counts, and whether the matrix is shared (held by these
        interactions: read it, do not modify it) rather than built for the caller."""
        if half_life_days is None:
            return self.matrix, True
        if not half_life_days > 0:
            raise ConfigError(f"half_life_days={half_life_days} should be > 0 or None.")
        return self._decayed(float(half_life_days)), False

    def _decayed(self, half_life_days: float) -> sp.csr_matrix:
        raise NotImplementedError

    def first_purchase_ages(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each bought (member, item) pair and the age of its oldest line.

        Returns
        -------
        rows, cols : ndarray of int32, shape (n_pairs,)
            The pairs, sorted by row then column.
        age_days : ndarray of float32, shape (n_pairs,)
            Age at ``as_of`` of the pair's first (oldest) purchase line, in days.
        """
        raise NotImplementedError

    def first_purchase_item_ages(self) -> tuple[np.ndarray, np.ndarray]:
        """``cols`` and ``age_days`` of :meth:`first_purchase_ages`, without the rows."""
        _, cols, ages = self.first_purchase_ages()
        return cols, ages

    def roll_up(self, item_groups) -> Interactions:
        """The same purchases with every item replaced by its group (e.g. its category)."""
        raise NotImplementedError

    def weighted(
        self,
        weighting: str = "count",
        half_life_days: float | None = None,
        *,
        k1: float = 100.0,
        b: float = 0.8,
    ) -> sp.csr_matrix:
        """The confidence matrix for one weighting scheme, see :func:`apply_weighting`."""
        return self.row_weighting(weighting, half_life_days, k1=k1, b=b).matrix()

    def row_weighting(
        self,
        weighting: str = "count",
        half_life_days: float | None = None,
        *,
        k1: float = 100.0,
        b: float = 0.8,
    ) -> RowWeighting:
        """:meth:`weighted`, whole or a block of rows at a time (:class:`RowWeighting`)."""
        # RowWeighting copies what it weighs: a shared matrix is read, never copied first.
        return RowWeighting(self._decayed_matrix(half_life_days)[0], weighting, k1=k1, b=b)

    def purchased(self) -> sp.csr_matrix:
        """Binary member x item matrix of what each member bought before ``as_of``."""
        indptr, indices = self.purchased_arrays()
        return sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices.copy(),
                              indptr.copy()), shape=self.shape)

    def purchased_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR ``indptr`` (int64) and ``indices`` (int32) of :meth:`purchased`.

        Computed once and read-only: every recommender fitted on these
        interactions holds the same two arrays (``purchased_indptr_``,
        ``purchased_indices_``), not a copy each.
        """
        if self._purchased is None:
            counts = self.matrix  # canonical: one entry per bought pair, none zero
            indptr, indices = counts.indptr.astype(np.int64), counts.indices.astype(np.int32)
            indptr.flags.writeable = indices.flags.writeable = False
            self._purchased = (indptr, indices)
        return self._purchased

    def member_rows(self, member_ids) -> np.ndarray:
        """Rows of ``member_ids``; -1 for members with no purchase before ``as_of``."""
        return lookup(self.member_ids, member_ids)

    def item_columns(self, item_ids) -> np.ndarray:
        """Columns of ``item_ids``; -1 for items nobody bought before ``as_of``."""
        return lookup(self.item_ids, item_ids)

    def _group_codes(self, item_groups) -> tuple[np.ndarray, np.ndarray]:
        """Group code of each item column and the sorted group ids (validated)."""
        groups = pd.Series(np.asarray(item_groups, dtype=object))
        if len(groups) != self.n_items:
            raise DataError(
                f"item_groups has {len(groups)} entries; expected n_items={self.n_items}."
            )
        if groups.isna().any():
            raise DataError(f"item_groups has {int(groups.isna().sum())} missing values.")
        return _sorted_codes(groups.astype(str))


class InteractionMatrix(Interactions):
    """Purchase lines before a cutoff, indexed by member row and item column.

    Build it with :func:`build_interactions`. Members are the rows, items the
    columns, both numbered in sorted id order.

    Parameters
    ----------
    member_ids : ndarray of str, shape (n_members,)
        Sorted member ids; row ``r`` is ``member_ids[r]``.
    item_ids : ndarray of str, shape (n_items,)
        Sorted item ids; column ``c`` is ``item_ids[c]``.
    rows, cols : ndarray of int32, shape (n_lines,)
        Member row and item column of each purchase line.
    age_days : ndarray of float32, shape (n_lines,)
        Age of each line at ``as_of`` in days (> 0).
    as_of : Timestamp or None
        The cutoff: only lines strictly before it were kept.
    """

    def __init__(self, member_ids, item_ids, rows, cols, age_days, as_of=None):
        self.member_ids = np.asarray(member_ids, dtype=str)
        self.item_ids = np.asarray(item_ids, dtype=str)
        self.rows = np.asarray(rows, dtype=np.int32)
        self.cols = np.asarray(cols, dtype=np.int32)
        self.age_days = np.asarray(age_days, dtype=np.float32)
        self.as_of = as_of
        self._counts = None

    @property
    def n_lines(self) -> int:
        return len(self.rows)

    def _count_matrix(self) -> sp.csr_matrix:
        return self._to_csr(np.ones(self.n_lines, dtype=np.float32))

    def __repr__(self) -> str:
        return (
            f"InteractionMatrix(n_members={self.n_members}, n_items={self.n_items}, "
            f"n_lines={self.n_lines}, as_of={self.as_of})"
        )

    def _decayed(self, half_life_days: float) -> sp.csr_matrix:
        weights = np.exp2(-self.age_days / np.float32(half_life_days)).astype(np.float32)
        return self._to_csr(weights)

    def _to_csr(self, weights: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix((weights, (self.rows, self.cols)), shape=self.shape, dtype=np.float32)
        m.sum_duplicates()
        m.sort_indices()
        return m

    def first_purchase_ages(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_items = max(self.n_items, 1)
        key = self.rows.astype(np.int64) * n_items + self.cols
        order = np.lexsort((-self.age_days, key))  # per pair, the oldest line first
        key = key[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        pairs = key[first]
        return ((pairs // n_items).astype(np.int32), (pairs % n_items).astype(np.int32),
                self.age_days[order][first])

    def roll_up(self, item_groups) -> InteractionMatrix:
        """The same lines with every item replaced by its group (e.g. its category).

        Parameters
        ----------
        item_groups : array-like of str, shape (n_items,)
            The group of each item column, aligned with ``item_ids``.

        Returns
        -------
        InteractionMatrix
            Same members and lines; the columns are the sorted groups.
        """
        group_of_col, group_ids = self._group_codes(item_groups)
        return InteractionMatrix(
            self.member_ids,
            group_ids,
            self.rows,
            group_of_col[self.cols],
            self.age_days,
            self.as_of,
        )


def build_interactions(
    transactions: pd.DataFrame, as_of=None, *, members=None
) -> InteractionMatrix:
    """Build the interaction matrix from canonical transactions before ``as_of``.

    Parameters
    ----------
    transactions : DataFrame
        Canonical transactions (``member_id``, ``item_id``, ``timestamp``; see
        :mod:`features.dataset`). Categorical id columns are used as they are;
        other id columns are converted.
    as_of : Timestamp, str or None
        Cutoff: only lines with ``timestamp < as_of`` are used and ages are
        measured from it. ``None`` uses every line and measures ages from one
        second after the last one.
    members : array-like of str, optional
        Extra member ids to give rows to even without purchases (for instance
        every member of the program), so their row exists for the models.

    Returns
    -------
    InteractionMatrix

    Raises
    ------
    DataError
        If a required column is missing or no line is before ``as_of``.

    >>> tx = pd.DataFrame({
    ...     "member_id": pd.Categorical(["m1", "m1", "m2"]),
    ...     "item_id": pd.Categorical(["b", "a", "b"]),
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01"]),
    ... })
    >>> im = build_interactions(tx, "2024-01-10")
    >>> im.shape, im.item_ids.tolist()
    ((1, 2), ['a', 'b'])
    """
    missing = [c for c in _REQUIRED if c not in transactions.columns]
    if missing:
        raise DataError(f"transactions lack the column(s) {missing}.")
    ts = transactions["timestamp"]
    if as_of is None:
        if len(ts) == 0:
            raise DataError("transactions are empty; cannot build interactions.")
        as_of = ts.max() + pd.Timedelta(seconds=1)
        keep = None
    else:
        as_of = pd.Timestamp(as_of)
        keep = (ts < as_of).to_numpy()
    # Only the three columns, and only filtered when needed: no copy of the whole frame.
    member, item = transactions["member_id"], transactions["item_id"]
    if keep is not None and not keep.all():
        member, item, ts = member[keep], item[keep], ts[keep]
    if len(ts) == 0:
        raise DataError(f"no transaction is before as_of={as_of}; cannot build interactions.")
    if member.isna().any() or item.isna().any():
        raise DataError("transactions have missing member_id or item_id values.")
    rows, member_ids = _sorted_codes(member)
    if members is not None:
        all_ids = np.union1d(member_ids, np.asarray(members, dtype=str))
        rows = np.searchsorted(all_ids, member_ids).astype(np.int32)[rows]
        member_ids = all_ids
    cols, item_ids = _sorted_codes(item)
    age = ((as_of - ts).to_numpy() / np.timedelta64(1, "D")).astype(np.float32)
    im = InteractionMatrix(member_ids, item_ids, rows, cols, age, as_of)
    logger.info(
        "built interactions before %s: %d members x %d items from %d lines",
        as_of, im.n_members, im.n_items, im.n_lines,
    )
    return im

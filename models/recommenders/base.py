"""The base class every recommender shares: fit, batch recommend, save as arrays.

A recommender is fitted on an :class:`~models.recommenders.interactions.InteractionMatrix`
and then answers, for a batch of member rows, the top ``k`` item columns with
their scores. Subclasses only implement :meth:`Recommender.fit` and
:meth:`Recommender._scores`; masking already-bought items, top-k selection and
saving are done here once.

Saving is data only: :meth:`Recommender.to_arrays` returns plain numpy arrays
(no object dtype), so the training pipeline can write them with
:func:`numpy.save` and the server can load them with ``mmap_mode="r"`` and
``allow_pickle=False``; :meth:`Recommender.from_arrays` rebuilds the model
without copying them.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from features.errors import DataError, NotFittedError

from ..threads import available_cores
from .interactions import InteractionMatrix, Interactions, lookup

logger = logging.getLogger(__name__)

#: Version of the array layout written by :meth:`Recommender.to_arrays`.
FORMAT_VERSION = 1

# Rows scored per chunk are chosen so that one chunk of dense scores stays near this size.
_CHUNK_CELLS = 16_000_000
# Columns per block of the blocked top-k search of wide score rows.
_TOP_K_BLOCK = 128
#: Threads that score chunks of rows at once (:func:`for_row_chunks`).
SCORE_THREADS = min(2, available_cores())


def for_row_chunks(n_rows: int, n_cols: int, work: Callable[[int, int], None]) -> None:
    """Call ``work(start, stop)`` over consecutive chunks of ``n_rows`` rows, on
    :data:`SCORE_THREADS` threads when there is more than one chunk.

    A chunk holds ``_CHUNK_CELLS / SCORE_THREADS`` cells of ``n_cols`` columns, so the
    chunks in flight hold what one chunk did on one thread. NumPy releases the GIL in
    the products and partitions that score a chunk, so the second core scores the next
    one (training runs its BLAS on one thread). ``work`` writes only its own rows and
    may run on two threads at once; called again inside ``work``, the chunks run on the
    calling thread (no threads of threads). A row's scores do not depend on the
    chunking (no chunk of one row is made from several rows).
    """
    threads = max(1, getattr(_in_chunk, "threads", None) or SCORE_THREADS)
    step = max(1, _CHUNK_CELLS // threads // max(n_cols, 1))
    bounds = [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        # BLAS rounds a one-row product (a matrix-vector one) differently in the last
        # bits: the last row joins the chunk before it, as it would be in one chunk.
        bounds[-2:] = [(bounds[-2][0], n_rows)]
    if len(bounds) < 2 or threads < 2:
        for start, stop in bounds:
            work(start, stop)
        return

    def run(chunk: tuple[int, int]) -> None:
        with score_threads(1):  # a chunk's own calls stay on its thread
            work(*chunk)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, bounds))


_in_chunk = threading.local()


@contextlib.contextmanager
def score_threads(n: int):
    """Inside the block, :func:`for_row_chunks` called from this thread uses ``n`` threads
    (1: the calling thread only), e.g. on a thread that already runs beside other work."""
    before = getattr(_in_chunk, "threads", None)
    _in_chunk.threads = int(n)
    try:
        yield
    finally:
        _in_chunk.threads = before


def _ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(s, e)`` for each pair, and the pair number of each element."""
    lengths = ends - starts
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.cumsum(lengths) - lengths
    flat = np.arange(total) - np.repeat(offsets, lengths) + np.repeat(starts, lengths)
    return flat, owner


def csr_row_entries(
    indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of CSR ``rows`` as (position in ``rows``, column, position in ``indices``).

    Rows equal to -1 have no entries. Assumes ``rows`` are valid otherwise.
    """
    rows = np.asarray(rows, dtype=np.int64)
    valid = rows >= 0
    safe = np.where(valid, rows, 0)
    starts = np.where(valid, indptr[safe], 0).astype(np.int64)
    ends = np.where(valid, indptr[safe + 1], 0).astype(np.int64)
    flat, owner = _ranges(starts, ends)
    return owner, np.asarray(indices[flat], dtype=np.int64), flat


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of each row of ``scores``, best first.

    Equal scores are ordered by column, so the result is the same as a full
    stable sort. Columns scored ``-inf`` are never returned: their slots hold
    index -1 and score ``-inf``.

    Parameters
    ----------
    scores : ndarray of float32, shape (n, n_items)
    k : int

    Returns
    -------
    items : ndarray of int64, shape (n, k)
    top : ndarray of float32, shape (n, k)
    """
    n, n_items = scores.shape
    if n and n_items >= 4 * (k + 1) * _TOP_K_BLOCK:
        return _blocked_top_k(scores, k)
    return _full_top_k(scores, k)


def _full_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` by partitioning every column."""
    n, n_items = scores.shape
    kk = min(k, n_items)
    if kk < n_items:
        part = np.argpartition(scores, n_items - kk, axis=1)[:, n_items - kk :]
        # Ties at the k-th score: keep the lowest item columns, as a full sort would.
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
        tied = np.isfinite(kth) & ((scores >= kth[:, None]).sum(axis=1) > kk)
        if tied.any():
            part[tied] = np.argsort(-scores[tied], axis=1, kind="stable")[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n_items), (n, n_items))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    items = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    if kk < k:
        items = np.pad(items, ((0, 0), (0, k - kk)), constant_values=-1)
        top = np.pad(top, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    items[~np.isfinite(top)] = -1
    top[items < 0] = -np.inf
    return items, top


def _blocked_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of wide rows, the same result at a fraction of the cost.

    Each row is cut into blocks of ``_TOP_K_BLOCK`` columns. When the k-th best
    block maximum is strictly above the (k+1)-th, every one of the row's top
    ``k`` scores lies in those ``k`` blocks (each holds a score at least that
    maximum, and every other score is at most the (k+1)-th), so an exact
    :func:`top_k` over their ``k * _TOP_K_BLOCK`` columns gives the full
    answer, ties included. Rows where the two maxima tie take the full path.
    Assumes ``n_items > (k + 1) * _TOP_K_BLOCK``.
    """
    n, n_items = scores.shape
    n_blocks = n_items // _TOP_K_BLOCK
    whole = n_blocks * _TOP_K_BLOCK
    block_max = scores[:, :whole].reshape(n, n_blocks, _TOP_K_BLOCK).max(axis=2)
    if whole < n_items:
        tail = scores[:, whole:].max(axis=1, keepdims=True)
        block_max = np.concatenate([block_max, tail], axis=1)
    best = np.argpartition(block_max, block_max.shape[1] - (k + 1), axis=1)[:, -(k + 1) :]
    best_max = np.take_along_axis(block_max, best, axis=1)
    order = np.argsort(-best_max, axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    best_max = np.take_along_axis(best_max, order, axis=1)
    separated = best_max[:, k - 1] > best_max[:, k]
    # Blocks in column order, so the candidates are too and the tie rule carries over.
    blocks = np.sort(best[:, :k], axis=1)
    cols = (blocks[:, :, None] * _TOP_K_BLOCK + np.arange(_TOP_K_BLOCK)).reshape(n, -1)
    inside = cols < n_items
    cols = np.where(inside, cols, 0)
    cand = np.take_along_axis(scores, cols, axis=1)
    cand[~inside] = -np.inf
    idx, top = _full_top_k(cand, k)
    items = np.where(idx >= 0, np.take_along_axis(cols, np.maximum(idx, 0), axis=1), -1)
    if not separated.all():
        rest = np.flatnonzero(~separated)
        items[rest], top[rest] = _full_top_k(scores[rest], k)
    return items, top


class Recommender:
    """Base class of the recommenders.

    Subclasses store their constructor arguments under the same names, learn in
    :meth:`fit` (fitted state ends in ``_``) and implement :meth:`_scores`.
    Every fitted recommender holds ``member_ids_``, ``item_ids_`` (sorted, as
    in the interaction matrix) and what each member bought
    (``purchased_indptr_``, ``purchased_indices_``) so that it can exclude
    purchased items without the training data.
    """

    #: Short name used by :func:`~models.recommenders.make_recommender`.
    name = "base"
    #: Fitted array attributes written by :meth:`to_arrays`, beyond the common ones.
    _array_attrs: tuple[str, ...] = ()
    _common_attrs = ("member_ids_", "item_ids_", "purchased_indptr_", "purchased_indices_")

    # ----------------------------------------------------------------- params
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict:
        """Constructor arguments, as given (sklearn's ``get_params`` without nesting)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -------------------------------------------------------------- fitting
    def fit(self, interactions: InteractionMatrix) -> Recommender:
        """Learn from ``interactions``; returns ``self``."""
        raise NotImplementedError

    def _fit_common(self, interactions: Interactions) -> None:
        """Store ids and purchases; called first by every subclass's ``fit``."""
        if not isinstance(interactions, Interactions):
            raise DataError(
                f"fit expects Interactions, got {type(interactions).__name__}; "
                "build one with build_interactions(transactions, as_of)."
            )
        self.member_ids_ = interactions.member_ids
        self.item_ids_ = interactions.item_ids
        # Shared by every model fitted on the same interactions (read-only).
        self.purchased_indptr_, self.purchased_indices_ = interactions.purchased_arrays()

    def _is_fitted(self) -> bool:
        return all(hasattr(self, a) for a in self._common_attrs + self._array_attrs)

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "an InteractionMatrix before using this recommender."
            )

    @property
    def n_members(self) -> int:
        self._check_fitted()
        return len(self.member_ids_)

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.item_ids_)

    # ------------------------------------------------------------- scoring
    def _scores(self, rows: np.ndarray) -> np.ndarray:
        """Dense scores of ``rows`` (member rows, -1 for unknown members).

        Assumes a fitted model and valid rows. Returns a new, writable float32
        array of shape (len(rows), n_items); ``-inf`` marks items this model
        will not recommend to that member.
        """
        raise NotImplementedError

    def _check_rows(self, member_rows) -> np.ndarray:
        rows = np.asarray(member_rows)
        if rows.ndim != 1:
            rows = rows.reshape(-1)
        if rows.size and not np.issubdtype(rows.dtype, np.integer):
            raise DataError(f"member_rows should be integers, got dtype {rows.dtype}.")
        rows = rows.astype(np.int64)
        bad = (rows < -1) | (rows >= len(self.member_ids_))
        if bad.any():
            raise DataError(
                f"member_rows {rows[bad][:5].tolist()} are out of range: rows should be in "
                f"[0, n_members={len(self.member_ids_)}) or -1 for an unknown member."
            )
        return rows

    def member_rows(self, member_ids) -> np.ndarray:
        """Rows of ``member_ids`` for :meth:`recommend`; -1 for unknown members."""
        self._check_fitted()
        return lookup(self.member_ids_, member_ids)

    def score(self, member_rows, exclude_purchased: bool = False) -> np.ndarray:
        """Dense scores of every item for ``member_rows``.

        Parameters
        ----------
        member_rows : array-like of int, shape (n,)
            Member rows (see :meth:`member_rows`); -1 for an unknown member.
        exclude_purchased : bool
            Score items the member bought before the cutoff ``-inf``.

        Returns
        -------
        ndarray of float32, shape (n, n_items)
        """
        self._check_fitted()
        rows = self._check_rows(member_rows)
        scores = self._scores(rows)
        if exclude_purchased:
            self._mask_purchased(scores, rows)
        return scores

    def _mask_purchased(self, scores: np.ndarray, rows: np.ndarray) -> None:
        owner, cols, _ = csr_row_entries(self.purchased_indptr_, self.purchased_indices_, rows)
        scores[owner, cols] = -np.inf

    def recommend(
        self, member_rows, k: int = 10, exclude_purchased: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` items for each member row, best first.

        Parameters
        ----------
        member_rows : array-like of int, shape (n,)
            Member rows (see :meth:`member_rows`); -1 for a member without
            history, whom only models with a fallback can serve.
        k : int
            Items per member.
        exclude_purchased : bool
            Leave out items the member bought before the cutoff.

        Returns
        -------
        items : ndarray of int64, shape (n, k)
            Item columns (``item_ids_[items]`` are the ids); -1 in slots the
            model has no candidate for.
        scores : ndarray of float32, shape (n, k)
            Their scores, ``-inf`` for empty slots.
        """
        self._check_fitted()
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"k={k!r} should be a positive integer.")
        rows = self._check_rows(member_rows)
        return self._recommend_rows(rows, int(k), bool(exclude_purchased))

    def _recommend_rows(
        self, rows: np.ndarray, k: int, exclude_purchased: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` on validated rows: dense scores, chunk by chunk.

        Subclasses with a cheaper exact way (sparse or shared scores) override it.
        """
        n = len(rows)
        items = np.empty((n, k), dtype=np.int64)
        scores = np.empty((n, k), dtype=np.float32)

        def chunk_top(start: int, stop: int) -> None:
            chunk = rows[start:stop]
            dense = self._scores(chunk)
            if exclude_purchased:
                self._mask_purchased(dense, chunk)
            items[start:stop], scores[start:stop] = top_k(dense, k)

        for_row_chunks(n, len(self.item_ids_), chunk_top)
        return items, scores

    # -------------------------------------------------------------- saving
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays (no object dtype, safe without pickle).

        Returns
        -------
        dict of str to ndarray
            ``model_class``, ``model_params`` (JSON) and ``format_version``
            plus every fitted array; the keys are valid file names.
        """
        self._check_fitted()
        out = {
            "model_class": np.array(self.name),
            "model_params": np.array(json.dumps(self.get_params(), sort_keys=True)),
            "format_version": np.array(FORMAT_VERSION),
        }
        for attr in self._common_attrs + self._array_attrs:
            out[attr] = np.asarray(getattr(self, attr))
        return out

    @classmethod
    def _check_arrays(cls, arrays) -> dict:
        for key in ("model_class", "model_params", "format_version"):
            if key not in arrays:
                raise DataError(
                    f"saved model arrays lack {key!r}; they were not written by to_arrays."
                )
        name = str(np.asarray(arrays["model_class"]))
        if name != cls.name:
            raise DataError(f"saved model is a {name!r} recommender, not {cls.name!r}.")
        version = int(np.asarray(arrays["format_version"]))
        if version != FORMAT_VERSION:
            raise DataError(
                f"saved model has format_version={version}; this code reads {FORMAT_VERSION}. "
                "Retrain the model."
            )
        return json.loads(str(np.asarray(arrays["model_params"])))

    @classmethod
    def from_arrays(cls, arrays) -> Recommender:
        """Rebuild a fitted model from :meth:`to_arrays` output (arrays are not copied)."""
        params = cls._check_arrays(arrays)
        model = cls(**params)
        needed = cls._common_attrs + cls._array_attrs
        missing = [a for a in needed if a not in arrays]
        if missing:
            raise DataError(f"saved {cls.name!r} model lacks the arrays {missing}.")
        for attr in needed:
            setattr(model, attr, arrays[attr])
        return model

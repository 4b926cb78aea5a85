"""Implicit-feedback matrix factorisation (ALS) through the ``implicit`` library."""

from __future__ import annotations

import logging
import time

import numpy as np
from threadpoolctl import threadpool_limits

from features.errors import ConfigError, DataError

from .base import _CHUNK_CELLS, Recommender, csr_row_entries, top_k
from .interactions import WEIGHTINGS

logger = logging.getLogger(__name__)


class ALSRecommender(Recommender):
    """Alternating least squares on a weighted member x item confidence matrix.

    The confidence matrix is ``alpha * weighting(decayed counts)`` (see
    :meth:`~models.recommenders.interactions.InteractionMatrix.weighted`); items
    bought by fewer than ``min_item_buyers`` members are left out of the
    factorisation and never recommended. Fitting runs
    :class:`implicit.cpu.als.AlternatingLeastSquares` with the BLAS thread pool
    limited to one thread (implicit's own ``num_threads`` parallelise instead).

    The defaults are the values tuned on the Complete Journey data.

    Parameters
    ----------
    factors : int
        Latent factors.
    regularization : float
        L2 regularisation.
    alpha : float
        Scale of the confidence of observed purchases.
    iterations : int
        ALS sweeps.
    weighting : {"count", "binary", "log1p", "bm25", "tfidf"}
        Weighting of the counts, see
        :func:`~models.recommenders.interactions.apply_weighting`.
    half_life_days : float or None
        Time decay of purchase lines before weighting; ``None`` for none.
    bm25_k1, bm25_b : float
        BM25 parameters (used when ``weighting="bm25"``).
    min_item_buyers : int
        Items with fewer buyers are not factorised.
    num_threads : int
        Threads implicit uses to fit (0: all cores).
    random_state : int or None
        Seed of the initial factors.

    Attributes
    ----------
    user_factors_ : ndarray of float32, shape (n_members, factors)
    item_factors_ : ndarray of float32, shape (n_modelled_items, factors)
    item_columns_ : ndarray of int32, shape (n_modelled_items,)
        Item column of each row of ``item_factors_``.
    """

    name = "als"
    _array_attrs = ("user_factors_", "item_factors_", "item_columns_")

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        weighting: str = "log1p",
        half_life_days: float | None = None,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        min_item_buyers: int = 2,
        num_threads: int = 0,
        random_state: int | None = 0,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.half_life_days = half_life_days
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.min_item_buyers = min_item_buyers
        self.num_threads = num_threads
        self.random_state = random_state

    def _validate_params(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting={self.weighting!r} is not one of {WEIGHTINGS}.")
        for name in ("factors", "iterations", "min_item_buyers"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name}={value!r} should be a positive integer.")
        for name in ("regularization", "alpha"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} should be > 0.")

    def fit(self, interactions) -> ALSRecommender:
        """Factorise the weighted interactions; returns ``self``."""
        from implicit.cpu.als import AlternatingLeastSquares

        self._validate_params()
        self._fit_common(interactions)
        conf = interactions.weighted(
            self.weighting, self.half_life_days, k1=self.bm25_k1, b=self.bm25_b
        )
        buyers = np.bincount(conf.indices, minlength=conf.shape[1])
        kept = np.flatnonzero(buyers >= self.min_item_buyers).astype(np.int32)
        if kept.size == 0:
            raise DataError(
                f"no item has min_item_buyers={self.min_item_buyers} buyers; "
                "lower min_item_buyers or use more data."
            )
        conf = conf[:, kept].tocsr()
        conf.sort_indices()
        start = time.perf_counter()
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=self.num_threads,
                random_state=self.random_state,
            )
            als.fit(conf, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(als.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(als.item_factors, dtype=np.float32)
        self.item_columns_ = kept
        logger.info(
            "ALS fitted: %d members x %d items (of %d), %d factors, %d iterations in %.1fs",
            conf.shape[0], kept.size, interactions.n_items, self.factors, self.iterations,
            time.perf_counter() - start,
        )
        return self

    def _modelled_scores(self, rows: np.ndarray) -> np.ndarray:
        """Scores of the modelled items only, shape (len(rows), n_modelled_items)."""
        item_factors = np.asarray(self.item_factors_)
        out = np.full((len(rows), len(item_factors)), -np.inf, dtype=np.float32)
        known = rows >= 0
        if known.all():
            out[:] = np.asarray(self.user_factors_)[rows] @ item_factors.T
        elif known.any():
            out[known] = np.asarray(self.user_factors_)[rows[known]] @ item_factors.T
        return out

    def _recommend_rows(self, rows, k, exclude_purchased):
        # Rank within the modelled items (a sorted subset of the columns, so ties
        # still resolve by column) and map back.
        cols = np.asarray(self.item_columns_).astype(np.int64)
        position = np.full(len(self.item_ids_), -1, dtype=np.int64)
        position[cols] = np.arange(len(cols))
        items = np.empty((len(rows), k), dtype=np.int64)
        scores = np.empty((len(rows), k), dtype=np.float32)
        step = max(1, _CHUNK_CELLS // max(len(cols), 1))
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            sub = self._modelled_scores(chunk)
            if exclude_purchased:
                owner, bought, _ = csr_row_entries(
                    self.purchased_indptr_, self.purchased_indices_, chunk
                )
                pos = position[bought]
                sub[owner[pos >= 0], pos[pos >= 0]] = -np.inf
            idx, top = top_k(sub, k)
            items[start : start + step] = np.where(idx >= 0, cols[np.maximum(idx, 0)], -1)
            scores[start : start + step] = top
        return items, scores

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        out = np.full((len(rows), len(self.item_ids_)), -np.inf, dtype=np.float32)
        out[:, np.asarray(self.item_columns_)] = self._modelled_scores(rows)
        return out

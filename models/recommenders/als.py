"""Implicit-feedback matrix factorisation (ALS) through the ``implicit`` library."""

from __future__ import annotations

import logging
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from features.errors import ConfigError, DataError

from .als_fold_in import fold_in_mllib, fold_in_users, sample_rows
from .base import Recommender, csr_row_entries, for_row_chunks, top_k
from .interactions import WEIGHTINGS, column_counts, lookup

logger = logging.getLogger(__name__)

#: Who factorises: the ``implicit`` library in process, or Spark MLlib.
SOLVERS = ("implicit", "spark")


class ALSRecommender(Recommender):
    """Alternating least squares on a weighted member x item confidence matrix.

    The confidence matrix is ``alpha * weighting(decayed counts)`` (see
    :meth:`~models.recommenders.interactions.InteractionMatrix.weighted`); items
    bought by fewer than ``min_item_buyers`` members are left out of the
    factorisation and never recommended. Fitting runs
    :class:`implicit.cpu.als.AlternatingLeastSquares` with the BLAS thread pool
    limited to one thread; implicit's own ``num_threads`` OpenMP threads parallelise
    instead, even inside a caller's one-thread limit (the factors do not depend on
    how many: each member's and each item's solve is independent).

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
    solver : {"implicit", "spark"}
        Who factorises: ``implicit`` in process, or Spark MLlib's implicit-
        preference ALS (:mod:`.spark_als`; ``offers train --engine spark``),
        which has no warm start (``init`` is then ignored).

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
        solver: str = "implicit",
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
        self.solver = solver

    def _validate_params(self) -> None:
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver={self.solver!r} is not one of {SOLVERS}.")
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting={self.weighting!r} is not one of {WEIGHTINGS}.")
        for name in ("factors", "iterations", "min_item_buyers"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name}={value!r} should be a positive integer.")
        for name in ("regularization", "alpha"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} should be > 0.")

    def fit(self, interactions, init: ALSRecommender | None = None,
            fit_members: int | None = None) -> ALSRecommender:
        """Factorise the weighted interactions; returns ``self``.

        Parameters
        ----------
        interactions : InteractionMatrix
        init : ALSRecommender, optional
            A fitted model with as many factors whose factors start this fit
            (a warm start) for the members and items both know, matched by id;
            the others start as in a cold fit (small random values). A warm
            start from a model fitted on a little less data needs far fewer
            ``iterations`` than a cold one.
        fit_members : int, optional
            With more members than this, the sweeps factorise a seeded sample
            of about this many members (:func:`.als_fold_in.sample_rows`,
            seeded by ``random_state``), then every member's factors are solved
            against the item factors in one half-sweep solved to float32
            precision (:func:`.als_fold_in.fold_in_users`; on MLlib,
            ``solver="spark"``: :func:`.als_fold_in.fold_in_mllib`, MLlib's own
            system). ``None``: every member. Not a
            constructor parameter: how the factors were computed, not what the
            model is (its saved parameters do not change).
        """
        from implicit.cpu.als import AlternatingLeastSquares

        self._validate_params()
        self._fit_common(interactions)
        weights = interactions.row_weighting(
            self.weighting, self.half_life_days, k1=self.bm25_k1, b=self.bm25_b
        )
        buyers = column_counts(weights.counts.indices, weights.shape[1])
        kept = np.flatnonzero(buyers >= self.min_item_buyers).astype(np.int32)
        if kept.size == 0:
            raise DataError(
                f"no item has min_item_buyers={self.min_item_buyers} buyers; "
                "lower min_item_buyers or use more data."
            )

        def confidences(rows=None):
            """The kept columns of the weighted rows (every row when None), sorted."""
            conf = weights.matrix() if rows is None else weights.rows(rows)
            if kept.size < conf.shape[1]:  # else the columns are all there: no copy
                conf = conf[:, kept].tocsr()
            conf.sort_indices()
            return conf

        n_members = weights.shape[0]
        sample = None if fit_members is None else sample_rows(
            interactions.member_ids, fit_members, self.random_state)
        start = time.perf_counter()
        if self.solver == "spark":
            return self._fit_mllib(confidences(), kept, sample, start)
        # A sample's sweeps read its rows only; every member's confidences are then
        # weighed a block at a time by the fold-in, never all at once (at 3M members a
        # copy of every pair's value, 0.75 GB, at the peak of the train).
        fit_conf = confidences(sample)
        # implicit scales a copy of conf by alpha; scaling fit_conf (already a copy) in
        # place is the same float32 product without that copy.
        alpha = self.alpha
        if type(alpha) in (int, float) and alpha != 1.0:
            fit_conf.data *= alpha
            fold_alpha, alpha = alpha, 1.0
        else:
            fold_alpha = alpha
        # implicit parallelises over members with OpenMP: num_threads of them, even
        # inside a caller's one-thread limit (offers train's); BLAS keeps one thread.
        threads = self.num_threads or os.cpu_count() or 1
        with threadpool_limits(threads, "openmp"), threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=alpha,
                iterations=self.iterations,
                num_threads=self.num_threads,
                random_state=self.random_state,
            )
            if sample is None:
                fit_conf = _writable(fit_conf)
            if init is not None:
                fit_ids = interactions.member_ids if sample is None else (
                    interactions.member_ids[sample])
                als.user_factors, als.item_factors = _initial_factors(
                    init, fit_ids, interactions.item_ids[kept], self.factors,
                    np.random.default_rng(self.random_state),
                )
            als.fit(fit_conf, show_progress=False)
            del fit_conf
            if sample is not None:  # every member against the sample's item factors
                als.user_factors = fold_in_users(
                    confidences, als.item_factors, self.regularization, fold_alpha,
                    self.num_threads, n_rows=n_members)
        self.fit_members_ = n_members if sample is None else len(sample)
        self.user_factors_ = np.ascontiguousarray(als.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(als.item_factors, dtype=np.float32)
        self.item_columns_ = kept
        self._padded_item_factors = None
        logger.info(
            "ALS fitted%s: %d members (sweeps on %d) x %d items (of %d), %d factors, "
            "%d iterations in %.1fs",
            " (warm start)" if init is not None else "", n_members, self.fit_members_,
            kept.size, interactions.n_items, self.factors, self.iterations,
            time.perf_counter() - start,
        )
        return self

    def _fit_mllib(self, conf, kept: np.ndarray, sample: np.ndarray | None,
                   start: float) -> ALSRecommender:
        """:meth:`fit` with Spark MLlib's sweeps: on every member, or on the ``sample``'s
        rows and then every member solved against the item factors as MLlib's last
        half-sweep solves them (:func:`.als_fold_in.fold_in_mllib`)."""
        from .spark_als import mllib_reg_param, spark_als_factors

        fit_conf = conf if sample is None else conf[sample]
        users, self.item_factors_ = spark_als_factors(
            fit_conf, factors=self.factors, regularization=self.regularization,
            alpha=self.alpha, iterations=self.iterations, seed=self.random_state or 0,
        )
        if sample is not None:
            threads = self.num_threads or os.cpu_count() or 1
            with threadpool_limits(threads, "openmp"), threadpool_limits(1, "blas"):
                users = fold_in_mllib(conf, self.item_factors_,
                                      mllib_reg_param(fit_conf, self.regularization),
                                      self.alpha, self.num_threads)
        self.user_factors_ = users
        self.fit_members_ = conf.shape[0] if sample is None else len(sample)
        self.item_columns_ = kept
        self._padded_item_factors = None
        logger.info("ALS fitted on Spark MLlib: %d members (sweeps on %d) x %d items, "
                    "%d factors, %d iterations in %.1fs", conf.shape[0], self.fit_members_,
                    kept.size, self.factors, self.iterations, time.perf_counter() - start)
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

    def _padded_scores(self, rows: np.ndarray, one_row: bool = False) -> np.ndarray:
        """Scores of every item column, shape (len(rows), n_items): 0 for the items
        left out of the factorisation and for unknown rows (-1).

        ``one_row``: each row's product is computed alone, as a request scoring
        one member computes it (BLAS rounds a one-row product, a matrix-vector
        product, differently from a row of a batched one, in the last bits), so
        the rows equal that request's scores bit for bit.
        """
        padded = getattr(self, "_padded_item_factors", None)
        if padded is None:
            item_factors = np.asarray(self.item_factors_)
            padded = np.zeros((len(self.item_ids_), item_factors.shape[1]), dtype=np.float32)
            padded[np.asarray(self.item_columns_)] = item_factors
            self._padded_item_factors = padded
        users = np.asarray(self.user_factors_)
        if one_row:
            out = np.zeros((len(rows), len(padded)), dtype=np.float32)
            for i in np.flatnonzero(rows >= 0):
                out[i] = users[rows[i : i + 1]] @ padded.T
            return out
        if (rows >= 0).all():
            return users[rows] @ padded.T
        out = np.zeros((len(rows), len(padded)), dtype=np.float32)
        known = rows >= 0
        out[known] = users[rows[known]] @ padded.T
        return out

    def _recommend_rows(self, rows, k, exclude_purchased):
        # Rank within the modelled items (a sorted subset of the columns, so ties
        # still resolve by column) and map back.
        cols = np.asarray(self.item_columns_).astype(np.int64)
        position = np.full(len(self.item_ids_), -1, dtype=np.int64)
        position[cols] = np.arange(len(cols))
        items = np.empty((len(rows), k), dtype=np.int64)
        scores = np.empty((len(rows), k), dtype=np.float32)

        def chunk_top(start: int, stop: int) -> None:
            chunk = rows[start:stop]
            sub = self._modelled_scores(chunk)
            if exclude_purchased:
                owner, bought, _ = csr_row_entries(
                    self.purchased_indptr_, self.purchased_indices_, chunk
                )
                pos = position[bought]
                sub[owner[pos >= 0], pos[pos >= 0]] = -np.inf
            idx, top = top_k(sub, k)
            items[start:stop] = np.where(idx >= 0, cols[np.maximum(idx, 0)], -1)
            scores[start:stop] = top

        for_row_chunks(len(rows), len(cols), chunk_top)
        return items, scores

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        out = self._padded_scores(rows)
        modelled = np.zeros(len(self.item_ids_), dtype=bool)
        modelled[np.asarray(self.item_columns_)] = True
        out[:, ~modelled] = -np.inf
        out[rows < 0] = -np.inf
        return out


def _writable(matrix):
    """``matrix``, or a copy of its index arrays where they are read-only (shared with the
    interactions): implicit's compiled loops take writable buffers only."""
    if matrix.indices.flags.writeable and matrix.indptr.flags.writeable:
        return matrix
    out = matrix.__class__((matrix.data, matrix.indices.copy(), matrix.indptr.copy()),
                           shape=matrix.shape, copy=False)
    out.has_sorted_indices = matrix.has_sorted_indices
    return out


def _initial_factors(init: ALSRecommender, member_ids, item_ids, factors: int, rng):
    """User and item factors of ``init`` for these member and item ids.

    Ids ``init`` does not know start like implicit's cold start, uniform in
    [0, 0.01) (zeros would be a fixed point of ALS).
    """
    init._check_fitted()
    if init.item_factors_.shape[1] != factors:
        raise ConfigError(
            f"init has {init.item_factors_.shape[1]} factors; this model has factors={factors}."
        )
    users = rng.random((len(member_ids), factors), dtype=np.float32)
    users *= np.float32(0.01)  # in place: no second members x factors array
    rows = lookup(init.member_ids_, member_ids)
    users[rows >= 0] = np.asarray(init.user_factors_)[rows[rows >= 0]]
    # Item factors are per modelled item: map ids to init's columns, then to its rows.
    position = np.full(len(init.item_ids_), -1, dtype=np.int64)
    position[np.asarray(init.item_columns_)] = np.arange(len(init.item_columns_))
    cols = lookup(init.item_ids_, item_ids)
    pos = np.where(cols >= 0, position[np.maximum(cols, 0)], -1)
    items = rng.random((len(item_ids), factors), dtype=np.float32)
    items *= np.float32(0.01)
    items[pos >= 0] = np.asarray(init.item_factors_)[pos[pos >= 0]]
    return users, items

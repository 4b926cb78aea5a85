"""Behavioural clusters of members with readable labels and stable ids.

:class:`BehaviourClusters` clusters members with k-means on a scikit-learn
preprocessing pipeline over their feature frame
(:func:`features.member_features.build_member_features`):

- **behaviour** (:data:`BEHAVIOUR_COLUMNS`): recency, frequency, total spend,
  mean basket value, mean interval between purchases, discount share and spend
  trend; missing values filled (the interval of one-basket members with the
  longest interval seen, the rest with the median), a signed ``log1p``, then
  standardised: each column has variance 1.
- **mix**: every department and category share column (``dept_share__*``,
  ``cat_share__*``); square roots (the Hellinger transform, so that small
  categories are not drowned), centred and scaled together by one factor so
  that the whole block has a total variance of ``share_weight`` times the
  number of behaviour columns: the basket mix weighs as much as all the
  behaviour columns together by default, however many share columns there are.

The number of clusters is chosen from the data: k-means for every ``k`` in
``k_range`` on a sample of at most ``sample_size`` members, scored by the
silhouette on a sub-sample of at most ``silhouette_size``. Among the ``k``
within ``k_tolerance`` of the best silhouette, the previous version's ``k``
wins when previous profiles are given (so near-ties do not flip ``k`` from one
retrain to the next), else the smallest. The chosen ``k`` is refitted on every
member (unless the sample already was every member), or, above ``fit_size``
members who bought, on a sample of ``fit_size`` (the preprocessing too): every
member is then assigned to the nearest centre a block at a time, so the
standardised matrix of every member is never held at once (3M members: ~0.7 GB
each). Everything is seeded by ``random_state``.

Members without a purchase (``frequency == 0``) are not clustered: they get
the id :data:`NO_PURCHASE_ID` (-1).

Stable ids
----------
Without previous profiles, ids are 0..k-1 by decreasing size. With the
``profiles_`` of a previous version, the new clusters are matched to the old
ones by the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`) on the Euclidean distance
between their profile centroids, both passed through the new preprocessing
pipeline (the standardised space the clusters live in). A matched cluster
keeps the old id; an unmatched one (more clusters than before, or a match
farther than ``max_match_distance``) gets a fresh id above every old one.
"""

from __future__ import annotations

import logging
from numbers import Integral

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.metrics import pairwise_distances_argmin, silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from features.errors import ConfigError, DataError, NotFittedError

from . import labels as label_words
from .rfm import check_columns

logger = logging.getLogger(__name__)

#: Columns every feature frame must hold; all are in the behaviour block.
BEHAVIOUR_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_mean_basket",
    "interpurchase_mean_days",
    "discount_share",
    "spend_trend",
)
#: Missing intervals (one-basket members) are filled with the longest seen.
SLOWEST_FILL_COLUMNS: tuple[str, ...] = ("interpurchase_mean_days",)
SHARE_PREFIXES: tuple[str, ...] = ("dept_share__", "cat_share__")
#: Cluster id of members without a purchase.
NO_PURCHASE_ID = -1
#: Members preprocessed and assigned to their nearest centre at a time (40 MB of a
#: 25-column matrix), in ``predict`` and in ``fit`` above ``fit_size``.
ASSIGN_BLOCK = 200_000
NO_PURCHASE_LABEL = "no purchases yet"


def signed_log1p(x):
    """``sign(x) * log1p(|x|)``: a log that keeps the sign of negative values."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def sqrt_share(x):
    """Square root of shares clipped to [0, 1] (the Hellinger transform)."""
    return np.sqrt(np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0))


class FillMissing(TransformerMixin, BaseEstimator):
    """Fill NaN with a per-column value learned in ``fit``.

    Parameters
    ----------
    strategy : {"median", "max", "zero"}
        The value: the column's median or maximum over non-missing values, or 0.
    """

    def __init__(self, strategy: str = "median"):
        self.strategy = strategy

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        if self.strategy == "zero":
            fill = np.zeros(X.shape[1])
        else:
            reduce = {"median": np.nanmedian, "max": np.nanmax}[self.strategy]
            present = ~np.isnan(X).all(axis=0)
            fill = np.zeros(X.shape[1])
            if present.any():
                fill[present] = reduce(X[:, present], axis=0)
        self.fill_ = fill
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.array(X, dtype=np.float64)
        rows, cols = np.nonzero(np.isnan(X))
        X[rows, cols] = self.fill_[cols]
        return X


class BlockScaler(TransformerMixin, BaseEstimator):
    """Centre columns and scale them all by one factor to a total variance.

    Parameters
    ----------
    total_variance : float
        The sum of the column variances after scaling (on the fitted data).
    """

    def __init__(self, total_variance: float = 1.0):
        self.total_variance = total_variance

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        total = float(X.var(axis=0).sum())
        self.scale_ = np.sqrt(total / self.total_variance) if total > 0 else 1.0
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_


class BehaviourClusters:
    """K-means clusters of member behaviour with profiles, labels and stable ids.

    See the module docstring for the features, the choice of ``k`` and the
    matching of ids across versions.

    Parameters
    ----------
    n_clusters : int or "auto", default "auto"
        A fixed number of clusters, or choose it by silhouette over ``k_range``.
    k_range : tuple of int, default (3, 10)
        Smallest and largest ``k`` tried (both included) when ``"auto"``.
    k_tolerance : float, default 0.005
        The ``k`` whose silhouette is within this of the best are near-ties
        (often sampling noise): the previous version's ``k`` wins among them
        when ``fit`` is given ``previous_profiles``, else the smallest.
    share_weight : float, default 2.0
        Total variance of the share block relative to the behaviour block.
    share_prefixes : tuple of str
        Prefixes of the share columns used (all columns with these prefixes).
    sample_size : int, default 20000
        Members the candidate k-means are fitted on when choosing ``k``.
    silhouette_size : int, default 4000
        Members the silhouette is computed on.
    n_init : int, default 4
        K-means restarts.
    fit_size : int, default 500000
        Most members the preprocessing and the final k-means are fitted on; above
        it a seeded sample of that many (the centres of half a million members
        move little with more), and every member is assigned in blocks.
    max_match_distance : float or None
        Matched clusters farther apart than this get fresh ids (None: no limit).
    min_label_share : float, default 0.02
        Share columns with less of the population's spend are not used in labels.
    random_state : int, default 0

    Attributes
    ----------
    features_ : list of str
        The feature columns used (behaviour first, then shares).
    share_columns_ : list of str
    preprocess_ : sklearn ColumnTransformer
        Fitted preprocessing; ``preprocess_.transform(X[features_])`` is the
        space the clusters live in.
    cluster_centers_ : ndarray, shape (n_clusters, n_dims)
        Centres in that space, row ``i`` for cluster ``ids_[i]``.
    ids_ : ndarray of int64, shape (n_clusters,)
    n_clusters_ : int
    silhouette_ : dict
        ``{k: silhouette}`` for every ``k`` tried (one entry when ``k`` is fixed).
    profiles_ : DataFrame, shape (n_clusters, n_columns)
        Indexed by cluster id: ``size``, ``share``, ``label``, the mean of every
        feature column and the medians the labels are read from.
    labels_ : dict
        ``{cluster id: label}``, with ``-1`` for members without a purchase.
    reference_ : Series
        Population values the labels compare with.
    id_matches_ : dict
        ``{id: distance}`` for the clusters that kept a previous version's id.
    """

    def __init__(
        self,
        n_clusters: int | str = "auto",
        k_range: tuple[int, int] = (3, 10),
        k_tolerance: float = 0.005,
        share_weight: float = 2.0,
        share_prefixes: tuple[str, ...] = SHARE_PREFIXES,
        sample_size: int = 20_000,
        silhouette_size: int = 4_000,
        n_init: int = 4,
        fit_size: int = 500_000,
        max_match_distance: float | None = None,
        min_label_share: float = 0.02,
        random_state: int = 0,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.k_tolerance = k_tolerance
        self.share_weight = share_weight
        self.share_prefixes = share_prefixes
        self.sample_size = sample_size
        self.silhouette_size = silhouette_size
        self.n_init = n_init
        self.fit_size = fit_size
        self.max_match_distance = max_match_distance
        self.min_label_share = min_label_share
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, previous_profiles: pd.DataFrame | None = None):
        """Choose ``k``, cluster the members who bought, profile and label the clusters.

        Parameters
        ----------
        X : DataFrame, shape (n_members, n_features)
            Member features with :data:`BEHAVIOUR_COLUMNS` and share columns.
        previous_profiles : DataFrame, optional
            ``profiles_`` of a previous version: matched clusters keep its ids.

        Returns
        -------
        self

        Raises
        ------
        DataError
            On missing or non-numeric columns, or too few members with a purchase.
        ConfigError
            On invalid parameters.
        """
        k_candidates = self._k_candidates()
        X = check_columns(X, BEHAVIOUR_COLUMNS, "BehaviourClusters.fit")
        previous_k = None
        if previous_profiles is not None:
            previous_k = len(_check_previous(previous_profiles))
        shares = [c for c in X.columns if str(c).startswith(tuple(self.share_prefixes))]
        check_columns(X, shares, "BehaviourClusters.fit")
        if not shares:
            logger.info(
                "no share columns with prefixes %s: clustering on behaviour only",
                self.share_prefixes,
            )
        buyers = _buyers(X)
        frame = X.loc[buyers, list(BEHAVIOUR_COLUMNS) + shares]
        n = len(frame)
        if n <= min(k_candidates):
            raise DataError(
                f"n_samples={n} members with a purchase should be > n_clusters={min(k_candidates)}."
            )
        k_candidates = [k for k in k_candidates if k < n]

        self.features_ = list(frame.columns)
        self.share_columns_ = shares
        fitted_on = frame
        if n > self.fit_size:  # a seeded sample: every member is assigned below, in blocks
            rng = np.random.default_rng(self.random_state)
            fitted_on = frame.iloc[np.sort(rng.choice(n, self.fit_size, replace=False))]
        # fit_transform: the fit's matrix once (Pipeline.fit transforms its input anyway).
        self.preprocess_ = self._preprocessor(shares)
        Z = self.preprocess_.fit_transform(fitted_on)

        k, self.silhouette_, kmeans = self._choose_k(Z, k_candidates, previous_k)
        if kmeans is None:
            kmeans = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)
            kmeans.fit(Z)
        del Z
        centers = kmeans.cluster_centers_
        assigned = kmeans.labels_ if fitted_on is frame else self._nearest(frame, centers)
        sizes = np.bincount(assigned, minlength=k)

        self.reference_ = _reference(frame, shares)
        profiles = _profiles(frame, assigned, k)
        ids = self._assign_ids(profiles, sizes, previous_profiles)
        order = np.argsort(ids, kind="stable")
        self.ids_ = ids[order]
        self.cluster_centers_ = centers[order]
        self.n_clusters_ = k
        profiles.index = pd.Index(ids, name="cluster")
        profiles = profiles.sort_index()
        labels = label_words.cluster_labels(
            profiles, self.reference_, shares, min_share=self.min_label_share
        )
        profiles.insert(2, "label", pd.Series(labels, dtype=str))
        self.profiles_ = profiles
        self.labels_ = {**labels, NO_PURCHASE_ID: NO_PURCHASE_LABEL}
        logger.info(
            "%d clusters on %d members: %s",
            k,
            n,
            "; ".join(
                f"{i}: {lab} ({s})"
                for i, lab, s in zip(profiles.index, profiles["label"], profiles["size"])
            ),
        )
        return self

    def predict(self, X: pd.DataFrame) -> pd.Series:
        """Cluster id of every member.

        Parameters
        ----------
        X : DataFrame, shape (n_members, n_features)
            Member features holding every column in ``features_``.

        Returns
        -------
        Series of int64, shape (n_members,)
            Indexed like ``X``, named ``"cluster"``; -1 for members without a purchase.
        """
        self._check_fitted()
        X = check_columns(X, self.features_, "BehaviourClusters.predict")
        buyers = _buyers(X)
        out = np.full(len(X), NO_PURCHASE_ID, dtype=np.int64)
        if buyers.any():
            nearest = self._nearest(X.loc[buyers, self.features_], self.cluster_centers_)
            out[buyers] = self.ids_[nearest]
        return pd.Series(out, index=X.index, name="cluster")

    def _nearest(self, frame: pd.DataFrame, centers: np.ndarray) -> np.ndarray:
        """Row of ``centers`` nearest to each member of ``frame`` in the preprocessed
        space, :data:`ASSIGN_BLOCK` members at a time."""
        out = np.empty(len(frame), dtype=np.int64)
        for start in range(0, len(frame), ASSIGN_BLOCK):
            block = frame.iloc[start:start + ASSIGN_BLOCK]
            out[start:start + len(block)] = pairwise_distances_argmin(
                self.preprocess_.transform(block), centers)
        return out

    def fit_predict(self, X: pd.DataFrame, previous_profiles=None) -> pd.Series:
        """``fit(X, previous_profiles=...).predict(X)``."""
        return self.fit(X, previous_profiles=previous_profiles).predict(X)

    # -------------------------------------------------------------- helpers
    def _k_candidates(self) -> list[int]:
        if self.n_clusters == "auto":
            lo, hi = self.k_range
            if not (isinstance(lo, Integral) and isinstance(hi, Integral) and 2 <= lo <= hi):
                raise ConfigError(
                    f"k_range={self.k_range!r} should be (lo, hi) with 2 <= lo <= hi."
                )
            return list(range(lo, hi + 1))
        if not isinstance(self.n_clusters, Integral) or self.n_clusters < 1:
            raise ConfigError(
                f"n_clusters={self.n_clusters!r} should be a positive integer or 'auto'."
            )
        return [int(self.n_clusters)]

    def _preprocessor(self, shares: list[str]) -> ColumnTransformer:
        slowest = [c for c in BEHAVIOUR_COLUMNS if c in SLOWEST_FILL_COLUMNS]
        others = [c for c in BEHAVIOUR_COLUMNS if c not in SLOWEST_FILL_COLUMNS]

        def behaviour(strategy):
            return Pipeline([
                ("fill", FillMissing(strategy)),
                ("log", FunctionTransformer(signed_log1p)),
                ("scale", StandardScaler()),
            ])  # fmt: skip

        blocks = [
            ("behaviour", behaviour("median"), others),
            ("interval", behaviour("max"), slowest),
        ]
        if shares:
            total = self.share_weight * len(BEHAVIOUR_COLUMNS)
            blocks.append(("mix", Pipeline([
                ("fill", FillMissing("zero")),
                ("sqrt", FunctionTransformer(sqrt_share)),
                ("scale", BlockScaler(total)),
            ]), shares))  # fmt: skip
        return ColumnTransformer(blocks, remainder="drop")

    def _choose_k(self, Z: np.ndarray, candidates: list[int], preferred: int | None = None):
        """Best ``k``, ``{k: silhouette}`` and its k-means when fitted on all of ``Z``."""
        if len(candidates) == 1:
            return candidates[0], {candidates[0]: float("nan")}, None
        rng = np.random.default_rng(self.random_state)
        sample, whole = Z, True
        if len(Z) > self.sample_size:
            sample, whole = Z[rng.choice(len(Z), self.sample_size, replace=False)], False
        scores, models = {}, {}
        for k in candidates:
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)
            assigned = km.fit_predict(sample)
            models[k] = km
            if len(np.unique(assigned)) < 2:
                scores[k] = -1.0
                continue
            scores[k] = float(
                silhouette_score(
                    sample,
                    assigned,
                    sample_size=min(self.silhouette_size, len(sample)),
                    random_state=self.random_state,
                )
            )
            logger.debug("k=%d silhouette=%.4f", k, scores[k])
        top = max(scores.values())
        near = [k for k in candidates if scores[k] >= top - self.k_tolerance]
        best = preferred if preferred in near else min(near)
        logger.info(
            "chose k=%d (silhouette %.3f, best %.3f) from %s", best, scores[best], top, candidates
        )
        return best, scores, models[best] if whole else None

    def _assign_ids(
        self, profiles: pd.DataFrame, sizes: np.ndarray, previous: pd.DataFrame | None
    ) -> np.ndarray:
        """Id of each new cluster (row of ``profiles``); sets ``id_matches_``."""
        k = len(sizes)
        by_size = np.argsort(-sizes, kind="stable")
        ids = np.empty(k, dtype=np.int64)
        self.id_matches_ = {}
        if previous is None:
            ids[by_size] = np.arange(k)
            return ids
        old_ids, old_points = self._profile_points(previous)
        new_points = self.preprocess_.transform(profiles[self.features_])
        cost = cdist(new_points, old_points)
        rows, cols = linear_sum_assignment(cost)
        ids[:] = -1
        for r, c in zip(rows, cols):
            if self.max_match_distance is None or cost[r, c] <= self.max_match_distance:
                ids[r] = old_ids[c]
                self.id_matches_[int(old_ids[c])] = float(cost[r, c])
        fresh = int(max(old_ids.max(), -1)) + 1
        for r in by_size:
            if ids[r] < 0:
                ids[r] = fresh
                fresh += 1
        logger.info("matched %d of %d clusters to previous ids", len(self.id_matches_), k)
        return ids

    def _profile_points(self, previous) -> tuple[np.ndarray, np.ndarray]:
        """Ids and centroids (in the new space) of a previous version's (checked) profiles."""
        old_ids = np.asarray(previous.index, dtype=np.int64)
        frame = previous.reindex(columns=self.features_)
        missing_shares = [c for c in self.share_columns_ if c not in previous.columns]
        frame[missing_shares] = 0.0
        return old_ids, self.preprocess_.transform(frame.astype(np.float64))

    def _check_fitted(self) -> None:
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "a member feature frame before using this method."
            )


def _check_previous(previous) -> pd.DataFrame:
    """Check ``previous`` looks like the ``profiles_`` of a fitted model; return it."""
    if not isinstance(previous, pd.DataFrame) or previous.empty:
        raise DataError(
            "previous_profiles should be the non-empty profiles_ DataFrame "
            "of a fitted BehaviourClusters."
        )
    missing = [c for c in BEHAVIOUR_COLUMNS if c not in previous.columns]
    if missing:
        raise DataError(
            f"previous_profiles lacks the behaviour column(s) {missing}; "
            "pass the profiles_ of a fitted BehaviourClusters."
        )
    if not pd.api.types.is_integer_dtype(previous.index) or previous.index.has_duplicates:
        raise DataError("previous_profiles should be indexed by distinct integer cluster ids.")
    return previous


def _buyers(X: pd.DataFrame) -> np.ndarray:
    return np.nan_to_num(X["frequency"].to_numpy(dtype=np.float64), nan=0.0) > 0


def _profiles(frame: pd.DataFrame, assigned: np.ndarray, k: int) -> pd.DataFrame:
    """Size, share, feature means and label medians per cluster (rows 0..k-1)."""
    groups = frame.groupby(assigned)
    sizes = np.bincount(assigned, minlength=k)
    profiles = groups.mean().reindex(range(k))
    profiles.insert(0, "size", sizes)
    profiles.insert(1, "share", sizes / sizes.sum())
    medians = groups[["recency_days", "interpurchase_mean_days", "monetary_total"]].median()
    medians = medians.reindex(range(k))
    profiles[label_words.MEDIAN_RECENCY] = medians["recency_days"]
    profiles[label_words.MEDIAN_INTERVAL] = medians["interpurchase_mean_days"]
    profiles[label_words.MEDIAN_MONETARY] = medians["monetary_total"]
    return profiles


def _reference(frame: pd.DataFrame, shares: list[str]) -> pd.Series:
    """Population values the labels compare clusters with."""
    ref = frame[["discount_share", *shares]].mean()
    ref[label_words.MEDIAN_RECENCY] = frame["recency_days"].median()
    ref[label_words.MEDIAN_INTERVAL] = frame["interpurchase_mean_days"].median()
    ref[label_words.MEDIAN_MONETARY] = frame["monetary_total"].median()
    return ref

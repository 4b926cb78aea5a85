"""Category-aware popularity: popular items, weighted by the member's categories.

A candidate of the blend's "new to you" list (purchased items excluded). An
item's score for a member is its recent popularity times the member's
(decayed) share of purchases in the item's category, raised to ``beta``::

    score(member, item) = (share(member, category(item)) ** beta + floor) * popularity(item)

so a member who buys mostly baby food sees the popular baby items they have
not bought yet first, and popular items of other categories after them (the
``floor``). Measured on Complete Journey (``bench/bench_new_to_you.py``): alone
it loses to plain popularity over never-bought items (a member's own
categories are where they already own the popular items), but it adds to
first-purchase popularity and ALS in the blend.

The model needs each item column's category (:func:`~models.recommenders.item_categories`)
at fit time; it keeps the category codes, so scoring and saving need no items table.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from features.errors import ConfigError, DataError

from .base import Recommender, csr_row_entries
from .popularity import capped_buyers


class CategoryPopularityRecommender(Recommender):
    """Popularity times the member's share of purchases in the item's category.

    Parameters
    ----------
    half_life_days : float or None
        Half-life of the lines that make a member's category shares.
    popularity_half_life_days : float or None
        Half-life of the item popularity (recent buyers, each member counted
        at most once per item, as :class:`~models.recommenders.PopularityRecommender`).
    beta : float
        Exponent of the share (``0.5`` flattens it: a minor category still counts).
    floor : float
        Added to every share weight, so items of categories the member never
        bought are ranked by popularity after the member's own.

    Attributes
    ----------
    categories_ : ndarray of str, shape (n_categories,)
        Sorted category names.
    item_codes_ : ndarray of int32, shape (n_items,)
        Category code of each item column.
    item_popularity_ : ndarray of float32, shape (n_items,)
        Popularity of each item divided by the largest.
    shares_indptr_, shares_indices_, shares_data_ : ndarray
        CSR (n_members, n_categories) of each member's category shares (rows sum to 1).

    >>> import pandas as pd
    >>> from models.recommenders import build_interactions
    >>> tx = pd.DataFrame({"member_id": ["a", "b", "b", "c"], "item_id": ["x", "y", "x", "z"],
    ...                    "timestamp": pd.to_datetime(["2024-01-01"] * 4)})
    >>> im = build_interactions(tx, "2024-02-01")
    >>> model = CategoryPopularityRecommender().fit(im, ["dairy", "dairy", "fruit"])
    >>> model.item_ids_[model.recommend([0], k=2, exclude_purchased=True)[0]].tolist()
    [['y', 'z']]
    """

    name = "category_popularity"
    _array_attrs = ("categories_", "item_codes_", "item_popularity_", "shares_indptr_",
                    "shares_indices_", "shares_data_")

    def __init__(self, half_life_days: float | None = 90.0,
                 popularity_half_life_days: float | None = 30.0, beta: float = 0.5,
                 floor: float = 0.01):
        self.half_life_days = half_life_days
        self.popularity_half_life_days = popularity_half_life_days
        self.beta = beta
        self.floor = floor

    def fit(self, interactions, item_category=None) -> CategoryPopularityRecommender:
        """Learn shares and popularity; returns ``self``.

        Parameters
        ----------
        interactions : Interactions
        item_category : array-like of str, shape (n_items,)
            The category of each item column of ``interactions``
            (:func:`~models.recommenders.item_categories`).
        """
        for name in ("half_life_days", "popularity_half_life_days"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name}={value} should be > 0 or None.")
        if not (np.isfinite(self.beta) and self.beta > 0):
            raise ConfigError(f"beta={self.beta} should be finite and > 0.")
        if not (np.isfinite(self.floor) and self.floor >= 0):
            raise ConfigError(f"floor={self.floor} should be finite and >= 0.")
        if item_category is None:
            raise ConfigError(
                "category popularity needs the category of every item: fit(interactions, "
                "item_categories(interactions, items))."
            )
        item_category = np.asarray(item_category, dtype=str)
        if item_category.shape != (interactions.n_items,):
            raise DataError(
                f"item_category has shape {item_category.shape}; the interactions have "
                f"{interactions.n_items} items (one category per item column)."
            )
        self._fit_common(interactions)
        categories, codes = np.unique(item_category, return_inverse=True)
        indicator = sp.csr_matrix(
            (np.ones(len(codes), dtype=np.float32), (np.arange(len(codes)), codes)),
            shape=(len(codes), len(categories)),
        )
        spend = sp.csr_matrix(interactions.decayed_view(self.half_life_days) @ indicator)
        total = np.asarray(spend.sum(axis=1)).ravel()
        spend = sp.csr_matrix(sp.diags(1.0 / np.where(total > 0, total, 1.0)) @ spend)
        spend.sort_indices()
        item_pop = capped_buyers(interactions.decayed_view(self.popularity_half_life_days))
        self.categories_ = categories
        self.item_codes_ = codes.astype(np.int32)
        self.item_popularity_ = item_pop / max(float(item_pop.max(initial=0)), 1e-12)
        self.shares_indptr_ = spend.indptr.astype(np.int64)
        self.shares_indices_ = spend.indices.astype(np.int32)
        self.shares_data_ = spend.data.astype(np.float32)
        return self

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        weight = np.zeros((len(rows), len(self.categories_)), dtype=np.float32)
        owner, cols, pos = csr_row_entries(self.shares_indptr_, self.shares_indices_, rows)
        weight[owner, cols] = np.asarray(self.shares_data_)[pos]
        np.power(weight, np.float32(self.beta), out=weight)
        weight += np.float32(self.floor)
        scores = np.take(weight, np.asarray(self.item_codes_), axis=1)
        scores *= np.asarray(self.item_popularity_, dtype=np.float32)
        return scores

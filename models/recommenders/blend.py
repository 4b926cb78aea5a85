"""A blend of buy again, ALS and popularity, tuned to beat each of them alone.

Each component's scores are normalised per member to at most 1 (buy again and
ALS by the member's largest absolute score, popularity by the largest item
score) and combined linearly::

    score = w_buy_again * buy_again + w_als * als + w_popularity * popularity

A component that does not score an item (an item the member never bought for
buy again, an item left out of ALS) adds 0. With a large buy-again weight the
list is the member's own items first, filled with ALS discoveries ranked with
popularity; with purchased items excluded it is ALS plus popularity. Members
without history (row -1) get the popularity ranking.

The "new to you" list (``exclude_purchased=True``) may have weights of its own,
``new_weights``, over ALS, popularity, first-purchase popularity (see
:mod:`.first_purchase`) and category-aware popularity (see
:mod:`.category_popularity`, normalised per member like ALS; it needs the item
categories at fit time), tuned on the never-bought validation metric; the
all-items list keeps ``weights``. Without ``new_weights`` both lists use ``weights``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from features.errors import ConfigError, DataError

from .als import ALSRecommender
from .base import Recommender, csr_row_entries, for_row_chunks, top_k
from .buy_again import BuyAgainRecommender
from .category_popularity import CategoryPopularityRecommender
from .first_purchase import FirstPurchasePopularityRecommender
from .popularity import PopularityRecommender

logger = logging.getLogger(__name__)

#: Component names, in the order of their weights.
COMPONENTS = ("buy_again", "als", "popularity")
#: Components the "new to you" weights (``new_weights``) may use.
NEW_COMPONENTS = ("als", "popularity", "first_purchase_popularity", "category_popularity")
_CLASSES = {
    "buy_again": BuyAgainRecommender,
    "als": ALSRecommender,
    "popularity": PopularityRecommender,
    "first_purchase_popularity": FirstPurchasePopularityRecommender,
    "category_popularity": CategoryPopularityRecommender,
}
_SEP = "__"
#: Blend weights tuned on the Complete Journey data (see bench/bench_recommenders.py).
DEFAULT_WEIGHTS = {"buy_again": 1.0, "als": 0.05, "popularity": 0.1}


@dataclass
class BlendParts:
    """Normalised component scores of a batch of member rows, kept compact.

    Popularity is one vector for everyone, ALS a dense block over every item
    column (0 for the items it leaves out, see ``als_columns``), buy again the
    member's own sparse entries. Unknown rows (-1) have no ALS or buy-again
    scores; the blend serves them popularity.

    Attributes
    ----------
    rows : ndarray of int64, shape (n,)
    n_items : int
    popularity : ndarray of float32, shape (n_items,)
    als : ndarray of float32, shape (n, n_items) or None
        Normalised ALS scores; 0 outside ``als_columns`` and for unknown rows.
    als_columns : ndarray of int64, shape (n_modelled,) or None
        The item columns ALS scores.
    buy_again : (owner, columns, values) arrays or None
        Row position, item column and normalised score of each entry.
    first_purchase : ndarray of float32, shape (n_items,) or None
        Normalised first-purchase popularity (one vector for everyone).
    category : ndarray of float32, shape (n, n_items) or None
        Category-aware popularity, divided by each member's largest score.
    """

    rows: np.ndarray
    n_items: int
    popularity: np.ndarray
    als: np.ndarray | None = None
    als_columns: np.ndarray | None = None
    buy_again: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    first_purchase: np.ndarray | None = None
    category: np.ndarray | None = None

    def dense(self, weights: dict[str, float]) -> np.ndarray:
        """Blended scores of every item, shape (n, n_items); ``-inf`` where no
        weighted component scores an item."""
        n = len(self.rows)
        use_als = weights.get("als", 0.0) > 0 and self.als is not None
        if use_als:
            out = np.multiply(self.als, np.float32(weights["als"]), dtype=np.float32)
        else:
            out = np.zeros((n, self.n_items), dtype=np.float32)
        scored = None  # None: every item is scored
        use_first = weights.get("first_purchase_popularity", 0.0) > 0
        if use_first and self.first_purchase is not None:
            out += np.float32(weights["first_purchase_popularity"]) * self.first_purchase
        use_category = weights.get("category_popularity", 0.0) > 0 and self.category is not None
        if use_category:
            out += np.float32(weights["category_popularity"]) * self.category
        if weights.get("popularity", 0.0) > 0:
            out += np.float32(weights["popularity"]) * self.popularity
        elif not ((use_first and self.first_purchase is not None) or use_category):
            scored = np.zeros((n, self.n_items), dtype=bool)
            if use_als:
                scored[np.ix_(self.rows >= 0, self.als_columns)] = True
        if weights.get("buy_again", 0.0) > 0 and self.buy_again is not None:
            owner, cols, values = self.buy_again
            out[owner, cols] += np.float32(weights["buy_again"]) * values
            if scored is not None:
                scored[owner, cols] = True
        if scored is not None:
            out[~scored] = -np.inf
        unknown = self.rows < 0
        if unknown.any():
            out[unknown] = self.popularity
        return out

    def at(self, items: np.ndarray) -> dict[str, np.ndarray]:
        """Each component's normalised score of ``items`` (n, C); ``nan`` where
        it does not score the item or the slot is -1."""
        items = np.asarray(items, dtype=np.int64)
        n, c = items.shape
        valid = items >= 0
        safe = np.where(valid, items, 0)
        out = {"popularity": np.where(valid, self.popularity[safe], np.nan).astype(np.float32)}
        if self.first_purchase is not None:
            out["first_purchase_popularity"] = np.where(
                valid, self.first_purchase[safe], np.nan).astype(np.float32)
        if self.category is not None:
            out["category_popularity"] = np.where(
                valid, np.take_along_axis(self.category, safe, axis=1), np.nan
            ).astype(np.float32)
        if self.als is not None:
            modelled = np.zeros(self.n_items, dtype=bool)
            modelled[self.als_columns] = True
            has = valid & modelled[safe] & (self.rows >= 0)[:, None]
            values = np.take_along_axis(self.als, safe, axis=1)
            out["als"] = np.where(has, values, np.nan).astype(np.float32)
        if self.buy_again is not None:
            owner, cols, values = self.buy_again
            found_values = np.full((n, c), np.nan, dtype=np.float32)
            if len(owner):
                keys = owner.astype(np.int64) * self.n_items + cols
                order = np.argsort(keys)
                keys, values = keys[order], values[order]
                wanted = np.arange(n, dtype=np.int64)[:, None] * self.n_items + safe
                hit = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
                found = valid & (keys[hit] == wanted)
                found_values[found] = values[hit[found]]
            out["buy_again"] = found_values
        return out


def blend_parts(components: dict[str, Recommender], rows: np.ndarray,
                one_row: bool = False) -> BlendParts:
    """Normalised scores of fitted components for ``rows`` (see :class:`BlendParts`).

    Popularity is divided by its largest item score, ALS and buy again by the
    member's largest absolute score, category-aware popularity by the member's
    largest score. Assumes valid rows and components fitted
    on the same interactions. ``one_row``: ALS's products are computed a row at
    a time, so each row equals a one-member call's bit for bit (the rest is
    element-wise or exact per row).
    """
    pop = components["popularity"]
    item_scores = np.asarray(pop.item_scores_, dtype=np.float32)
    top = item_scores.max(initial=0.0)
    parts = BlendParts(rows, len(pop.item_ids_), item_scores / (top if top > 0 else 1.0))
    if "first_purchase_popularity" in components:
        first = np.asarray(components["first_purchase_popularity"].item_scores_,
                           dtype=np.float32)
        top = first.max(initial=0.0)
        parts.first_purchase = first / (top if top > 0 else 1.0)
    if "category_popularity" in components:
        full = components["category_popularity"]._scores(rows)
        scale = full.max(axis=1, initial=0.0)
        scale[scale <= 0] = 1.0
        full *= (1.0 / scale).astype(np.float32)[:, None]
        parts.category = full
    if "als" in components:
        als = components["als"]
        # One product with factors zero-padded to every item column: no column scatter.
        full = als._padded_scores(rows, one_row=one_row)
        if full.shape[1]:
            scale = np.maximum(full.max(axis=1), -full.min(axis=1))  # max |score|, no copy
        else:
            scale = np.ones(len(rows), dtype=np.float32)
        scale[scale <= 0] = 1.0
        full *= (1.0 / scale).astype(np.float32)[:, None]
        parts.als = full
        parts.als_columns = np.asarray(als.item_columns_).astype(np.int64)
    if "buy_again" in components:
        ba = components["buy_again"]
        owner, cols, pos = csr_row_entries(ba.scores_indptr_, ba.scores_indices_, rows)
        values = np.asarray(ba.scores_data_, dtype=np.float32)[pos]
        row_max = np.zeros(len(rows), dtype=np.float32)
        if len(owner):  # owner is sorted: one reduceat over each row's entries
            present, starts = np.unique(owner, return_index=True)
            row_max[present] = np.maximum.reduceat(values, starts)
        row_max[row_max <= 0] = 1.0
        parts.buy_again = (owner, cols, values / row_max[owner])
    return parts


class BlendRecommender(Recommender):
    """Linear blend of buy again, ALS and popularity (see the module docstring).

    Parameters
    ----------
    weights : dict, optional
        Weight of each component (keys from ``COMPONENTS``); missing keys are
        0. Default ``{"buy_again": 1.0, "als": 0.05, "popularity": 0.1}``, the
        weights tuned on the Complete Journey data.
    buy_again, als, popularity, first_purchase_popularity, category_popularity : dict, optional
        Constructor arguments of each component.
    new_weights : dict, optional
        Weights of the "new to you" list (``exclude_purchased=True``), keys from
        ``NEW_COMPONENTS``; ``None`` uses ``weights`` for both lists.

    Attributes
    ----------
    components_ : dict of str to Recommender
        The fitted components.
    """

    name = "blend"

    def __init__(self, weights=None, buy_again=None, als=None, popularity=None,
                 new_weights=None, first_purchase_popularity=None, category_popularity=None):
        self.weights = weights
        self.buy_again = buy_again
        self.als = als
        self.popularity = popularity
        self.new_weights = new_weights
        self.first_purchase_popularity = first_purchase_popularity
        self.category_popularity = category_popularity

    def _weights(self) -> dict[str, float]:
        weights = (
            dict(DEFAULT_WEIGHTS)
            if self.weights is None
            else dict(self.weights)
        )
        unknown = sorted(set(weights) - set(COMPONENTS))
        if unknown:
            raise ConfigError(f"blend weights {unknown} are not components {COMPONENTS}.")
        bad = {k: v for k, v in weights.items() if not (np.isfinite(v) and v >= 0)}
        if bad:
            raise ConfigError(f"blend weights {bad} should be finite and >= 0.")
        if not any(v > 0 for v in weights.values()):
            raise ConfigError("every blend weight is 0; give at least one component a weight > 0.")
        return {k: float(weights.get(k, 0.0)) for k in COMPONENTS}

    def _new_weights(self) -> dict[str, float] | None:
        """The validated "new to you" weights, or None when the lists share ``weights``."""
        if self.new_weights is None:
            return None
        weights = dict(self.new_weights)
        unknown = sorted(set(weights) - set(NEW_COMPONENTS))
        if unknown:
            raise ConfigError(
                f"blend new_weights {unknown} are not among {NEW_COMPONENTS}; buy again "
                "scores only purchased items, which the new-to-you list leaves out."
            )
        bad = {k: v for k, v in weights.items() if not (np.isfinite(v) and v >= 0)}
        if bad:
            raise ConfigError(f"blend new_weights {bad} should be finite and >= 0.")
        if not any(v > 0 for v in weights.values()):
            raise ConfigError("every blend new_weight is 0; give at least one a weight > 0.")
        return {k: float(weights.get(k, 0.0)) for k in NEW_COMPONENTS}

    def _needed(self) -> list[str]:
        """Components with a weight in either list, and popularity (new members)."""
        weights, new = self._weights(), self._new_weights() or {}
        return [n for n in _CLASSES
                if weights.get(n, 0) > 0 or new.get(n, 0) > 0 or n == "popularity"]

    def _is_fitted(self) -> bool:
        return hasattr(self, "components_") and super()._is_fitted()

    def fit(self, interactions, item_category=None) -> BlendRecommender:
        """Fit every component with a positive weight (and popularity); returns ``self``.

        Parameters
        ----------
        interactions : Interactions
        item_category : array-like of str, shape (n_items,), optional
            The category of each item column; needed when category-aware
            popularity has a weight (:func:`~models.recommenders.item_categories`).
        """
        needed = self._needed()
        if "category_popularity" in needed and item_category is None:
            raise ConfigError(
                "the blend's new_weights give category_popularity a weight but no "
                "item_category was given: fit(interactions, item_categories(interactions, "
                "items)), or set its weight to 0."
            )
        self._fit_common(interactions)
        components = {}
        for name in needed:
            params = getattr(self, name) or {}
            if name == "category_popularity":
                components[name] = _CLASSES[name](**params).fit(interactions, item_category)
            else:
                components[name] = _CLASSES[name](**params).fit(interactions)
        self.components_ = components
        return self

    @classmethod
    def from_fitted(cls, components: dict[str, Recommender], weights=None,
                    new_weights=None) -> BlendRecommender:
        """A fitted blend of already fitted components (for tuning the weights).

        Parameters
        ----------
        components : dict of str to Recommender
            Fitted components on the same interactions; ``popularity`` is required.
        weights, new_weights : dict, optional
            As for the constructor.
        """
        if "popularity" not in components:
            raise ConfigError("a blend needs a fitted 'popularity' component for new members.")
        params = {n: components[n].get_params() if n in components else None for n in _CLASSES}
        model = cls(weights=weights, new_weights=new_weights, **params)
        needed = model._needed()
        missing = [n for n in needed if n not in components]
        if missing:
            raise ConfigError(f"components {missing} have a weight but were not given.")
        ref = components["popularity"]
        for name, comp in components.items():
            comp._check_fitted()
            if not np.array_equal(comp.item_ids_, ref.item_ids_) or not np.array_equal(
                comp.member_ids_, ref.member_ids_
            ):
                raise DataError(f"component {name!r} was fitted on other interactions.")
        for attr in cls._common_attrs:
            setattr(model, attr, getattr(ref, attr))
        model.components_ = {n: c for n, c in components.items() if n in needed}
        return model

    def _parts(self, rows: np.ndarray, weights: dict[str, float]) -> BlendParts:
        """:func:`blend_parts` of the components ``weights`` can use (the per-member
        category block is computed only for the list that weighs it)."""
        return blend_parts(self._parts_components(weights), rows)

    def _parts_components(self, weights: dict[str, float]) -> dict[str, Recommender]:
        return {n: c for n, c in self.components_.items()
                if n != "category_popularity" or weights.get(n, 0.0) > 0}

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        weights = self._weights()
        return self._parts(rows, weights).dense(weights)

    def score(self, member_rows, exclude_purchased: bool = False) -> np.ndarray:
        """As :meth:`Recommender.score`; purchased items excluded, the "new to you"
        weights apply (when given)."""
        new = self._new_weights() if exclude_purchased else None
        if new is None:
            return super().score(member_rows, exclude_purchased)
        self._check_fitted()
        rows = self._check_rows(member_rows)
        scores = self._parts(rows, new).dense(new)
        self._mask_purchased(scores, rows)
        return scores

    def score_lists(self, member_rows, one_row: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``score(member_rows)`` and ``score(member_rows, exclude_purchased=True)`` from
        one computation of the components' scores (ALS's product once, not twice).

        ``one_row``: every row equals a one-member call's scores bit for bit (see
        :func:`blend_parts`), as precomputed lists must equal a live request's.
        """
        self._check_fitted()
        rows = self._check_rows(member_rows)
        weights, new = self._weights(), self._new_weights()
        # dense() reads only the weighted components, so one set of parts serves both lists
        # (category popularity's block only when the new list weighs it, as in score()).
        parts = blend_parts(self._parts_components(new or weights), rows, one_row=one_row)
        scores = parts.dense(weights)
        new_scores = parts.dense(new or weights)
        self._mask_purchased(new_scores, rows)
        return scores, new_scores

    def _recommend_rows(self, rows, k, exclude_purchased):
        new = self._new_weights() if exclude_purchased else None
        if new is None:
            return super()._recommend_rows(rows, k, exclude_purchased)
        items = np.empty((len(rows), k), dtype=np.int64)
        scores = np.empty((len(rows), k), dtype=np.float32)

        def chunk_top(start: int, stop: int) -> None:
            chunk = rows[start:stop]
            dense = self._parts(chunk, new).dense(new)
            self._mask_purchased(dense, chunk)
            items[start:stop], scores[start:stop] = top_k(dense, k)

        for_row_chunks(len(rows), len(self.item_ids_), chunk_top)
        return items, scores

    def to_arrays(self) -> dict[str, np.ndarray]:
        """As :meth:`Recommender.to_arrays`, with each component's arrays under
        ``<component>__<key>``."""
        out = super().to_arrays()
        for name, comp in self.components_.items():
            for key, value in comp.to_arrays().items():
                if key not in self._common_attrs:  # shared: saved once, at the top
                    out[f"{name}{_SEP}{key}"] = value
        return out

    @classmethod
    def from_arrays(cls, arrays) -> BlendRecommender:
        """Rebuild a fitted blend and its components from :meth:`to_arrays` output."""
        model = super().from_arrays(arrays)
        components = {}
        for name, klass in _CLASSES.items():
            prefix = f"{name}{_SEP}"
            sub = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            if sub:
                sub.update({attr: arrays[attr] for attr in cls._common_attrs})
                components[name] = klass.from_arrays(sub)
        if "popularity" not in components:
            raise DataError("saved blend lacks its 'popularity' component.")
        model.components_ = components
        return model

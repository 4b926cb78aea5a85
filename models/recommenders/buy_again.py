"""Buy again: a member's own time-decayed purchase frequency.

In grocery data most of what a member buys next is something bought before,
which makes this the strongest simple baseline there is.
"""

from __future__ import annotations

import logging

import numpy as np

from features.errors import ConfigError

from .base import Recommender, csr_row_entries

logger = logging.getLogger(__name__)


class BuyAgainRecommender(Recommender):
    """Recommend each member's own most frequent recent items.

    ``score(member, item) = sum over the member's purchase lines of that item
    of 0.5 ** (age_days / half_life_days)``. Only items the member bought are
    candidates, so with ``exclude_purchased=True`` nothing is recommended and
    a member with fewer than ``k`` items gets empty (-1) slots.

    Parameters
    ----------
    half_life_days : float or None
        Age at which a purchase counts half; ``None`` counts every purchase as 1.

    Attributes
    ----------
    scores_data_, scores_indices_, scores_indptr_ : ndarray
        CSR arrays of the member x item score matrix.

    >>> import pandas as pd
    >>> from models.recommenders import build_interactions
    >>> tx = pd.DataFrame({"member_id": ["a", "a", "a"], "item_id": ["x", "y", "y"],
    ...                    "timestamp": pd.to_datetime(["2024-01-30", "2024-01-01", "2024-01-02"])})
    >>> model = BuyAgainRecommender(half_life_days=7).fit(build_interactions(tx, "2024-02-01"))
    >>> model.item_ids_[model.recommend([0], k=2)[0]].tolist()
    [['x', 'y']]
    """

    name = "buy_again"
    _array_attrs = ("scores_data_", "scores_indices_", "scores_indptr_")

    def __init__(self, half_life_days: float | None = 90.0):
        self.half_life_days = half_life_days

    def fit(self, interactions) -> BuyAgainRecommender:
        """Sum each member's decayed purchases per item; returns ``self``."""
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ConfigError(f"half_life_days={self.half_life_days} should be > 0 or None.")
        self._fit_common(interactions)
        scores = interactions.decayed_view(self.half_life_days)
        self.scores_data_ = scores.data.astype(np.float32)  # a copy: the view is shared
        indptr, indices = interactions.purchased_arrays()
        if not (np.array_equal(scores.indptr, indptr) and np.array_equal(scores.indices, indices)):
            indptr, indices = scores.indptr.astype(np.int64), scores.indices.astype(np.int32)
        # The decayed counts have the purchases' entries: their (read-only) index arrays.
        self.scores_indices_, self.scores_indptr_ = indices, indptr
        logger.debug("buy-again fitted: %d member-item pairs", len(self.scores_data_))
        return self

    def _recommend_rows(self, rows, k, exclude_purchased):
        # Sparse: sort each member's own entries by score; nothing is left when excluding.
        n = len(rows)
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        if exclude_purchased or n == 0:
            return items, scores
        owner, cols, pos = csr_row_entries(self.scores_indptr_, self.scores_indices_, rows)
        values = np.asarray(self.scores_data_)[pos]
        order = np.lexsort((cols, -values, owner))
        owner, cols, values = owner[order], cols[order], values[order]
        starts = np.searchsorted(owner, np.arange(n))
        rank = np.arange(len(owner)) - starts[owner]
        top = rank < k
        items[owner[top], rank[top]] = cols[top]
        scores[owner[top], rank[top]] = values[top]
        return items, scores

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        out = np.full((len(rows), len(self.item_ids_)), -np.inf, dtype=np.float32)
        owner, cols, pos = csr_row_entries(self.scores_indptr_, self.scores_indices_, rows)
        out[owner, cols] = np.asarray(self.scores_data_)[pos]
        return out

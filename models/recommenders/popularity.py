"""Recent-weighted global popularity: the fallback for members without history."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from features.errors import ConfigError

from .base import _CHUNK_CELLS, Recommender, csr_row_entries
from .interactions import COUNT_BLOCK

logger = logging.getLogger(__name__)


def capped_buyers(decayed: sp.csr_matrix) -> np.ndarray:
    """Column sums of ``decayed`` with every entry capped at 1 (float32, shape (n_items,)).

    ``decayed`` is read, not modified: its values are capped a block at a time.
    """
    # A block of entries capped at a time (a copy of every pair's value was 0.75 GB at 3M
    # members, the peak of the final fits there), summed in scipy's order, entry by entry
    # in CSR order in the values' precision: the same sums, bit for bit.
    data, indices = decayed.data, decayed.indices
    out = np.zeros(decayed.shape[1], dtype=np.result_type(data.dtype, np.float32))
    for start in range(0, len(data), COUNT_BLOCK):
        block = slice(start, start + COUNT_BLOCK)
        np.add.at(out, indices[block], np.minimum(data[block], out.dtype.type(1.0)))
    return out.astype(np.float32, copy=False)


class PopularityRecommender(Recommender):
    """Recommend the items most bought recently, the same list for everyone.

    An item's score is the number of members who bought it, each purchase line
    weighted by ``0.5 ** (age_days / half_life_days)`` and a member's weight for
    one item capped at 1, so a few heavy buyers do not make an item popular.

    Parameters
    ----------
    half_life_days : float or None
        Age at which a purchase counts half; ``None`` weighs all equally.

    Attributes
    ----------
    item_scores_ : ndarray of float32, shape (n_items,)
        Popularity of each item column.

    >>> import pandas as pd
    >>> from models.recommenders import build_interactions
    >>> tx = pd.DataFrame({"member_id": ["a", "b", "b"], "item_id": ["x", "y", "x"],
    ...                    "timestamp": pd.to_datetime(["2024-01-01"] * 3)})
    >>> model = PopularityRecommender().fit(build_interactions(tx, "2024-02-01"))
    >>> model.item_ids_[model.recommend([0], k=2)[0]].tolist()
    [['x', 'y']]
    """

    name = "popularity"
    _array_attrs = ("item_scores_",)

    def __init__(self, half_life_days: float | None = 14.0):
        self.half_life_days = half_life_days

    def fit(self, interactions) -> PopularityRecommender:
        """Count recent buyers of each item; returns ``self``."""
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ConfigError(f"half_life_days={self.half_life_days} should be > 0 or None.")
        self._fit_common(interactions)
        self.item_scores_ = capped_buyers(interactions.decayed_view(self.half_life_days))
        logger.debug("popularity fitted on %d items", len(self.item_scores_))
        return self

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(self.item_scores_)[None, :], len(rows), axis=0)

    def _recommend_rows(self, rows, k, exclude_purchased):
        # Everyone shares one ranking: walk down it, skipping what each member bought.
        item_scores = np.asarray(self.item_scores_)
        ranking = np.lexsort((np.arange(len(item_scores)), -item_scores))
        n = len(rows)
        items = np.full((n, k), -1, dtype=np.int64)
        depth = min(k, len(ranking))
        if not exclude_purchased:
            items[:, :depth] = ranking[:depth]
        else:
            indptr = np.asarray(self.purchased_indptr_)
            safe = np.maximum(rows, 0)
            bought = np.where(rows >= 0, indptr[safe + 1] - indptr[safe], 0)
            step = max(1, _CHUNK_CELLS // (k + int(bought.max(initial=0))))
            for start in range(0, n, step):
                chunk = rows[start : start + step]
                width = min(k + int(bought[start : start + step].max(initial=0)), len(ranking))
                items[start : start + step] = self._first_unbought(chunk, ranking[:width], k)
        valid = items >= 0
        scores = np.where(valid, item_scores[np.maximum(items, 0)], -np.inf).astype(np.float32)
        return items, scores

    def _first_unbought(self, rows, head, k):
        """The first ``k`` columns of ``head`` each member of ``rows`` did not buy."""
        keep = np.ones((len(rows), len(head)), dtype=bool)
        position = np.full(len(self.item_ids_), -1, dtype=np.int64)
        position[head] = np.arange(len(head))
        owner, cols, _ = csr_row_entries(self.purchased_indptr_, self.purchased_indices_, rows)
        pos = position[cols]
        keep[owner[pos >= 0], pos[pos >= 0]] = False
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        out = np.where(np.take_along_axis(keep, order, axis=1), head[order], -1)
        if out.shape[1] < k:
            out = np.pad(out, ((0, 0), (0, k - out.shape[1])), constant_values=-1)
        return out

"""Each member's share of purchases per item category, from a trained recommender's arrays.

The blend recommender keeps what each member bought (time-decayed counts in
its buy-again component, else the plain purchased items). Summing those per
category gives a member x category matrix: the member's recent purchase mix.
The engine uses it for affinity (a member's share in an offer's category over
everyone's share: the *lift*), for spend estimates on a category, and for
readable reasons ("You often buy COFFEE").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class CategoryAffinity:
    """Purchase shares per member and category.

    Attributes
    ----------
    categories : ndarray of str, shape (n_categories,)
        Sorted category names (the recommender's ``np.unique(item_category)``).
    shares : scipy.sparse.csr_matrix, shape (n_members, n_categories)
        Row ``i``: member ``i``'s share of recent purchases in each category
        (rows sum to 1, or are empty for members without purchases).
    population : ndarray of float64, shape (n_categories,)
        Everyone's share per category.
    """

    categories: np.ndarray
    shares: sp.csr_matrix
    population: np.ndarray

    def row(self, member_row: int) -> tuple[np.ndarray, np.ndarray]:
        """Category codes and shares of one member (empty for -1 or no purchases)."""
        if member_row < 0:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        start, stop = self.shares.indptr[member_row], self.shares.indptr[member_row + 1]
        return self.shares.indices[start:stop], self.shares.data[start:stop]

    def dense(self, member_rows: np.ndarray) -> np.ndarray:
        """Shares of ``member_rows`` as a dense array (n, n_categories); -1 rows are all 0."""
        rows = np.asarray(member_rows, dtype=np.int64)
        out = np.zeros((len(rows), len(self.categories)), dtype=np.float32)
        valid = rows >= 0
        if valid.any():
            out[valid] = self.shares[rows[valid]].toarray()
        return out

    def has_purchases(self, member_rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(member_rows, dtype=np.int64)
        safe = np.maximum(rows, 0)
        counts = self.shares.indptr[safe + 1] - self.shares.indptr[safe]
        return (rows >= 0) & (counts > 0)


def build_category_affinity(recommender, item_category: np.ndarray,
                            table_to_rec: np.ndarray) -> CategoryAffinity:
    """Category shares for the members of a member table.

    Parameters
    ----------
    recommender : BlendRecommender
        Fitted (loaded from a version).
    item_category : ndarray of str, shape (n_items,)
        Category of each recommender item column.
    table_to_rec : ndarray of int64, shape (n_members,)
        Recommender row of each member table row, -1 for members it does not know.

    Returns
    -------
    CategoryAffinity
        Rows in member table order.
    """
    categories, codes = np.unique(np.asarray(item_category, dtype=str), return_inverse=True)
    buy_again = recommender.components_.get("buy_again")
    if buy_again is not None:
        matrix = sp.csr_matrix(
            (np.asarray(buy_again.scores_data_, dtype=np.float32),
             np.asarray(buy_again.scores_indices_), np.asarray(buy_again.scores_indptr_)),
            shape=(recommender.n_members, recommender.n_items),
        )
    else:
        indices = np.asarray(recommender.purchased_indices_)
        matrix = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices,
             np.asarray(recommender.purchased_indptr_)),
            shape=(recommender.n_members, recommender.n_items),
        )
    indicator = sp.csr_matrix(
        (np.ones(len(codes), dtype=np.float32), (np.arange(len(codes)), codes)),
        shape=(len(codes), len(categories)),
    )
    per_category = (matrix @ indicator).tocsr()
    population = np.asarray(per_category.sum(axis=0), dtype=np.float64).ravel()
    total = population.sum()
    population = population / total if total > 0 else np.zeros(len(categories))
    totals = np.asarray(per_category.sum(axis=1), dtype=np.float64).ravel()
    totals[totals <= 0] = 1.0
    per_category = sp.diags((1.0 / totals).astype(np.float32)) @ per_category
    rows = np.asarray(table_to_rec, dtype=np.int64)
    selector = sp.csr_matrix(
        (np.ones(int((rows >= 0).sum()), dtype=np.float32),
         (np.flatnonzero(rows >= 0), rows[rows >= 0])),
        shape=(len(rows), recommender.n_members),
    )
    shares = (selector @ per_category).tocsr()
    shares.sort_indices()
    return CategoryAffinity(categories, shares.astype(np.float32), population)

"""Category-level recommendations, since many offers target a category.

Two ways, both vectorised:

- fit any recommender on :func:`category_interactions`, the interactions with
  every item replaced by its category (a category-level buy again, ALS, blend);
  its columns are the sorted categories;
- aggregate a fitted item-level model's scores per category with
  :func:`recommend_categories` (the best item score, or the sum, per category).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from features.errors import ConfigError, DataError

from .base import for_row_chunks, top_k
from .interactions import InteractionMatrix
from .lines import FrameLines, Lines

logger = logging.getLogger(__name__)

#: Category given to items missing from the items table.
UNKNOWN_CATEGORY = "(unknown)"


def item_categories(
    interactions: InteractionMatrix, items: pd.DataFrame, column: str = "category"
) -> np.ndarray:
    """The category of every item column of ``interactions``.

    Parameters
    ----------
    interactions : InteractionMatrix
    items : DataFrame
        The canonical items table (``item_id`` and ``column``).
    column : str
        Grouping column, ``category`` or ``department``.

    Returns
    -------
    ndarray of str, shape (n_items,)
        Items absent from ``items`` get :data:`UNKNOWN_CATEGORY`.
    """
    for col in ("item_id", column):
        if col not in items.columns:
            raise DataError(f"the items table has no {col!r} column.")
    table = pd.Series(
        items[column].astype(str).to_numpy(), index=items["item_id"].astype(str).to_numpy()
    )
    table = table[~table.index.duplicated()]
    found = table.reindex(interactions.item_ids)
    missing = int(found.isna().sum())
    if missing:
        logger.warning(
            "%d of %d items are not in the items table; their %s is %r",
            missing, interactions.n_items, column, UNKNOWN_CATEGORY,
        )
    return np.asarray(found.fillna(UNKNOWN_CATEGORY).to_numpy(), dtype=str)


def category_interactions(
    interactions: InteractionMatrix, items: pd.DataFrame, column: str = "category"
) -> InteractionMatrix:
    """``interactions`` with every item replaced by its category.

    Any recommender fitted on the result recommends categories; its column
    ``c`` is category ``result.item_ids[c]``.
    """
    return interactions.roll_up(item_categories(interactions, items, column))


def category_transactions(
    transactions: pd.DataFrame, items: pd.DataFrame, column: str = "category"
) -> pd.DataFrame:
    """Transactions whose ``item_id`` is the item's category (for category-level truth)."""
    table = pd.Series(
        items[column].astype(str).to_numpy(), index=items["item_id"].astype(str).to_numpy()
    )
    table = table[~table.index.duplicated()]
    out = transactions[["member_id", "item_id", "timestamp"]].copy()
    cats = table.reindex(out["item_id"].astype(str).to_numpy()).fillna(UNKNOWN_CATEGORY)
    out["item_id"] = pd.Categorical(cats.to_numpy())
    return out


def aggregate_item_scores(
    scores: np.ndarray, item_groups: np.ndarray, n_groups: int, how: str = "max"
) -> np.ndarray:
    """Per-group scores from per-item scores.

    Parameters
    ----------
    scores : ndarray of float32, shape (n, n_items)
        ``-inf`` for items not scored.
    item_groups : ndarray of int, shape (n_items,)
        Group code of each item, in ``[0, n_groups)``.
    n_groups : int
    how : {"max", "sum"}
        ``max``: the best item's score; ``sum``: the sum of positive item scores.

    Returns
    -------
    ndarray of float32, shape (n, n_groups)
        ``-inf`` for groups with no scored item (``max``) or no positive score (``sum``).

    >>> aggregate_item_scores(np.array([[1.0, 3.0, 2.0]]), np.array([0, 1, 0]), 2).tolist()
    [[2.0, 3.0]]
    """
    if how not in ("max", "sum"):
        raise ConfigError(f"how={how!r} should be 'max' or 'sum'.")
    item_groups = np.asarray(item_groups, dtype=np.int64)
    n = scores.shape[0]
    if how == "sum":
        positive = np.where(scores > 0, scores, 0).astype(np.float32)
        indicator = sp.csr_matrix(
            (np.ones(len(item_groups), dtype=np.float32),
             (np.arange(len(item_groups)), item_groups)),
            shape=(len(item_groups), n_groups),
        )
        out = np.asarray((indicator.T @ positive.T).T, dtype=np.float32)
        out[out <= 0] = -np.inf
        return out
    order = np.argsort(item_groups, kind="stable")
    sorted_groups = item_groups[order]
    present, starts = np.unique(sorted_groups, return_index=True)
    out = np.full((n, n_groups), -np.inf, dtype=np.float32)
    if len(present):
        out[:, present] = np.maximum.reduceat(np.take(scores, order, axis=1), starts, axis=1)
    return out


def recommend_categories(
    model,
    member_rows,
    item_category: np.ndarray,
    k: int = 3,
    exclude_purchased: bool = False,
    how: str = "max",
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` categories per member from an item-level model's scores.

    Parameters
    ----------
    model : Recommender
        A fitted item-level recommender.
    member_rows : array-like of int, shape (n,)
    item_category : ndarray of str, shape (n_items,)
        Category of each item column (see :func:`item_categories`).
    k : int
    exclude_purchased : bool
        Leave out purchased items before aggregating (categories of new items).
    how : {"max", "sum"}
        See :func:`aggregate_item_scores`.

    Returns
    -------
    categories : ndarray of int64, shape (n, k)
        Indexes into ``np.unique(item_category)`` (the columns of
        :func:`category_interactions`); -1 for empty slots.
    scores : ndarray of float32, shape (n, k)
    """
    item_category = np.asarray(item_category, dtype=str)
    if len(item_category) != model.n_items:
        raise DataError(
            f"item_category has {len(item_category)} entries; the model has {model.n_items} items."
        )
    groups, codes = np.unique(item_category, return_inverse=True)
    rows = np.asarray(member_rows, dtype=np.int64).reshape(-1)
    out_items = np.empty((len(rows), k), dtype=np.int64)
    out_scores = np.empty((len(rows), k), dtype=np.float32)

    def chunk_top(start: int, stop: int) -> None:  # rows of its own: the threads write apart
        dense = model.score(rows[start:stop], exclude_purchased=exclude_purchased)
        agg = aggregate_item_scores(dense, codes, len(groups), how)
        out_items[start:stop], out_scores[start:stop] = top_k(agg, k)

    for_row_chunks(len(rows), model.n_items, chunk_top)
    return out_items, out_scores


def excluded_items(items: pd.DataFrame, excluded) -> pd.Series:
    """The ids (str) of the items of ``items`` in an ``excluded`` category or department
    (names match case-insensitively): what :func:`without_categories` leaves out."""
    names = {str(name).strip().casefold() for name in excluded}
    if not names:
        return pd.Series([], dtype=str, name="item_id")
    hit = pd.Series(False, index=items.index)
    for column in ("category", "department"):
        if column in items.columns:
            hit |= items[column].astype("string").str.strip().str.casefold().isin(names).fillna(
                False).astype(bool)
    return items.loc[hit, "item_id"].astype(str)


def without_categories(
    transactions: pd.DataFrame, items: pd.DataFrame, excluded
) -> tuple[pd.DataFrame, int]:
    """``transactions`` without the lines of items in an ``excluded`` category or department.

    What is not a product or not to be promoted (fuel, coupons, deposits, tobacco)
    should neither be recommended nor shape what is: recommenders are fitted
    and validated on the remaining lines. Names match case-insensitively.

    Parameters
    ----------
    transactions : DataFrame or Lines
        Canonical transactions (``item_id``), or lines on an engine
        (:class:`~models.recommenders.engine_interactions.EngineLines`).
    items : DataFrame
        The canonical items table (``item_id``, ``category`` and optionally ``department``).
    excluded : iterable of str

    Returns
    -------
    transactions : DataFrame or Lines
        The kept lines, of the input's kind (the input itself when nothing is excluded).
    n_items : int
        Items excluded.

    Examples
    --------
    >>> tx = pd.DataFrame({"item_id": ["a", "g", "a"]})
    >>> items = pd.DataFrame({"item_id": ["a", "g"], "category": ["milk", "Fuel"]})
    >>> kept, n = without_categories(tx, items, ["FUEL"])
    >>> kept["item_id"].tolist(), n
    (['a', 'a'], 1)
    """
    gone = excluded_items(items, excluded)
    if gone.empty:
        return transactions, 0
    if isinstance(transactions, Lines):  # lines on an engine: an anti-join there
        logger.info("recommenders leave out %d excluded item(s)", len(gone))
        return transactions.without_items(gone.to_numpy()), int(len(gone))
    kept = FrameLines(transactions).without_items(gone.to_numpy()).frame
    logger.info("recommenders leave out %d excluded item(s) (%d lines)", len(gone),
                len(transactions) - len(kept))
    return kept, int(len(gone))


def category_lists(codes: np.ndarray, names: np.ndarray) -> pa.ListArray:
    """Each row's names as an Arrow list array: ``codes`` (n_rows, k) index ``names``,
    -1 for none (as :func:`recommend_categories` gives them with the sorted
    categories); the values are dictionary-encoded (codes, and ``names`` once).

    Three million members' lists cost ~50 MB this way (int32 codes and offsets), against
    ~250 MB as one Python list per member held through the member steps (16.5 MB
    measured at 200k members).
    """
    keep = codes >= 0
    offsets = np.zeros(len(codes) + 1, dtype=np.int32)
    np.cumsum(keep.sum(axis=1), out=offsets[1:])
    values = pa.DictionaryArray.from_arrays(pa.array(codes[keep].astype(np.int32)),
                                            pa.array(np.asarray(names, dtype=str)))
    return pa.ListArray.from_arrays(pa.array(offsets), values)

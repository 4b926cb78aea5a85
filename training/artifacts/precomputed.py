"""Each member's recommendations computed at training time and saved as ``.npy`` arrays.

The recommendations endpoint scores every item for the member (a dense row of
``n_items`` floats) and ranks them: most of its time. :func:`save_precomputed`
does that once per member at training and writes the ranked lists; serving
memory-maps them (every worker shares the pages; like every file of a version
they are hash-checked when the version is opened) and answers by slicing.

Arrays (rows in ``recommender.member_ids_`` order, ``-1`` / ``-inf`` in empty slots):

- ``pre_items`` / ``pre_item_scores`` (n_members, :data:`ITEM_DEPTH`): top items;
- ``pre_items_new`` / ``pre_items_new_scores``: the same with purchased items left out;
- ``pre_categories`` / ``pre_category_scores`` (n_members, :data:`CATEGORY_DEPTH`):
  top categories by their best item's score, codes into the sorted unique item categories.

The lists are ranked exactly as the live path ranks a dense row
(:func:`models.recommenders.base.top_k`: score, then item column), and each
member's scores are those a request computes, bit for bit (members are scored
in chunks, each member's matrix product alone: :func:`compute_precomputed`), so
a precomputed answer is the live answer. A category filter takes the items of that category from the
list in order: the live answer too whenever enough of them are in the list.

Imports: :mod:`models`, :mod:`training.artifacts.store`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from models.recommenders import BlendRecommender
from models.recommenders.base import top_k
from training.artifacts.store import ArtifactVersion, VersionWriter

#: Items kept per member and list (the endpoint's largest ``limit``).
ITEM_DEPTH = 100
#: Categories kept per member (the endpoint's largest ``categories``).
CATEGORY_DEPTH = 20
#: Members x items scored at most (about 2 ms per 68,000 items and member, twice): above
#: it the version has no lists and serving scores live (Complete Journey: 1.7e8).
MAX_CELLS = 5e8
#: Members x items scored per chunk (a few float32 blocks of this size at once).
CHUNK_CELLS = 4_000_000

logger = logging.getLogger(__name__)

ITEMS, ITEM_SCORES = "pre_items", "pre_item_scores"
NEW_ITEMS, NEW_ITEM_SCORES = "pre_items_new", "pre_items_new_scores"
CATEGORIES, CATEGORY_SCORES = "pre_categories", "pre_category_scores"
NAMES = (ITEMS, ITEM_SCORES, NEW_ITEMS, NEW_ITEM_SCORES, CATEGORIES, CATEGORY_SCORES)


@dataclass(frozen=True)
class Precomputed:
    """The arrays of a version (memory-mapped when loaded); see the module docstring."""

    items: np.ndarray
    item_scores: np.ndarray
    new_items: np.ndarray
    new_item_scores: np.ndarray
    categories: np.ndarray
    category_scores: np.ndarray

    def item_list(self, rec_row: int, exclude_purchased: bool) -> tuple[np.ndarray, np.ndarray]:
        if exclude_purchased:
            return self.new_items[rec_row], self.new_item_scores[rec_row]
        return self.items[rec_row], self.item_scores[rec_row]


class CategoryRanker:
    """A dense score row's best score per category, ranked (as serving ranks them)."""

    def __init__(self, item_category: np.ndarray):
        categories, codes = np.unique(np.asarray(item_category, dtype=str), return_inverse=True)
        self.n_categories = len(categories)
        self.order = np.argsort(codes, kind="stable")
        self.present, self.starts = np.unique(codes[self.order], return_index=True)

    def best(self, dense: np.ndarray) -> np.ndarray:
        """(n, n_categories) float32: each category's best item score; -inf without items."""
        dense = np.atleast_2d(dense)
        out = np.full((len(dense), self.n_categories), -np.inf, dtype=np.float32)
        if len(self.present):
            out[:, self.present] = np.maximum.reduceat(dense[:, self.order], self.starts, axis=1)
        return out


def compute_precomputed(recommender, item_category: np.ndarray,
                        item_depth: int = ITEM_DEPTH,
                        category_depth: int = CATEGORY_DEPTH) -> Precomputed:
    """Rank every member's items and categories as a live request would.

    A blend scores a chunk of members at once (:meth:`BlendRecommender.score_lists`
    with ``one_row``: each member's ALS product alone, as a request computes it;
    the rest is element-wise or exact per row, top-k ties included), both lists
    from one product; any other recommender scores one member at a time. Either
    way each row is the live request's scores bit for bit. BLAS runs on one
    thread, as in a server worker (``BLAS_THREADS``): a second thread only
    spins on one-row products.
    """
    n = len(recommender.member_ids_)
    ranker = CategoryRanker(item_category)
    items = np.full((n, item_depth), -1, dtype=np.int32)
    item_scores = np.full((n, item_depth), -np.inf, dtype=np.float32)
    new_items, new_scores = items.copy(), item_scores.copy()
    cats = np.full((n, category_depth), -1, dtype=np.int32)
    cat_scores = np.full((n, category_depth), -np.inf, dtype=np.float32)
    batched = isinstance(recommender, BlendRecommender)
    step = max(1, CHUNK_CELLS // max(len(recommender.item_ids_), 1)) if batched else 1
    with threadpool_limits(1, "blas"):
        for start in range(0, n, step):
            rows = np.arange(start, min(start + step, n))
            if batched:
                dense, dense_new = recommender.score_lists(rows, one_row=True)
            else:  # one member at a time: the same arithmetic as a request's
                dense = recommender.score(rows)
                dense_new = recommender.score(rows, exclude_purchased=True)
            at = slice(start, start + len(rows))
            items[at], item_scores[at] = top_k(dense, item_depth)
            cats[at], cat_scores[at] = top_k(ranker.best(dense), category_depth)
            del dense
            new_items[at], new_scores[at] = top_k(dense_new, item_depth)
    return Precomputed(items, item_scores, new_items, new_scores, cats, cat_scores)


def precompute(recommender, item_category: np.ndarray) -> Precomputed | None:
    """:func:`compute_precomputed`, or None when members x items exceeds :data:`MAX_CELLS`
    (training would take too long: serving then scores every request live)."""
    cells = len(recommender.member_ids_) * len(recommender.item_ids_)
    if cells > MAX_CELLS:
        logger.info("recommendations not precomputed: %d members x %d items is over %.0e; "
                    "serving scores them live", len(recommender.member_ids_),
                    len(recommender.item_ids_), MAX_CELLS)
        return None
    return compute_precomputed(recommender, item_category)


def save_precomputed(writer: VersionWriter, recommender, item_category: np.ndarray,
                     found: Precomputed | None = None) -> None:
    """Write the arrays into ``writer``'s version: ``found`` (the training's
    :func:`precompute` of this recommender), else computed here (:func:`precompute`).

    Nothing is written when members x items exceeds :data:`MAX_CELLS`.
    """
    if found is None:
        found = precompute(recommender, item_category)
    if found is None:
        return
    for name, array in zip(NAMES, (found.items, found.item_scores, found.new_items,
                                   found.new_item_scores, found.categories,
                                   found.category_scores)):
        writer.save_array(name, array)


def load_precomputed(version: ArtifactVersion) -> Precomputed | None:
    """The version's arrays memory-mapped; None for a version written without them."""
    if not all(version.has(f"{name}.npy") for name in NAMES):
        return None
    return Precomputed(*(version.load_array(name) for name in NAMES))

"""Member-to-offer affinity: how much of a member's past spend an offer targets.

For a member ``m``, an offer ``o`` and a cutoff ``t`` (only purchases strictly
before ``t`` count):

``category_share``
    ``m``'s spend in ``o``'s target categories / ``m``'s total spend; 1.0 for
    an offer on the whole basket, NaN for a member with no spend yet.
``lift``
    ``category_share`` / ``population_share``: above 1 when ``m`` buys the
    targeted categories more than members do overall.
``item_purchases``
    Purchase lines of ``o``'s items by ``m`` (NaN when ``o`` lists no items).
``population_share`` (per offer)
    Everyone's spend in ``o``'s categories / everyone's spend.

:func:`compute_affinity` returns them as arrays for many members x offers at
one cutoff, the form :meth:`OfferResponseModel.predict_proba` takes;
:class:`AffinityIndex` computes them for many (member, offer, cutoff) rows in
one pass over the purchases, which is how training rows are built.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from features.dataset import Dataset
from models.offer_response.specs import row_positions, validate_offer_specs

logger = logging.getLogger(__name__)

#: Affinity features, in the order :meth:`OfferAffinity.stack` gives them.
AFFINITY_FEATURES = ("category_share", "lift", "item_purchases")
_UNLISTED = "\x00unlisted"


@dataclass
class OfferAffinity:
    """Affinity of ``n_members`` members to ``n_offers`` offers at one cutoff.

    Attributes
    ----------
    member_ids : ndarray of str, shape (n_members,)
    offer_ids : ndarray of str, shape (n_offers,)
    category_share, lift, item_purchases : ndarray of float, shape (n_members, n_offers)
        See the module docstring; NaN where unknown.
    population_share : ndarray of float, shape (n_offers,)
    products : dict of str to ndarray, shape (n_members, n_offers)
        Optional: the member's dealings with each offer's items
        (:data:`models.offer_response.products.PRODUCT_FEATURES`); absent ones count
        as unknown.
    """

    member_ids: np.ndarray
    offer_ids: np.ndarray
    category_share: np.ndarray
    lift: np.ndarray
    item_purchases: np.ndarray
    population_share: np.ndarray
    products: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.category_share.shape

    def stack(self) -> np.ndarray:
        """The affinity features as one array of shape (n_members, n_offers, 3)."""
        return np.stack([getattr(self, name) for name in AFFINITY_FEATURES], axis=-1)


class AffinityIndex:
    """Purchases arranged for fast affinity look-ups at many cutoffs.

    Parameters
    ----------
    dataset : Dataset
        Purchases (``transactions``) and their categories (``items``).
    offers : DataFrame
        Offer specs (see :mod:`models.offer_response.specs`).
    """

    def __init__(self, dataset: Dataset, offers: pd.DataFrame):
        self.offers = validate_offer_specs(offers)
        tx = dataset.transactions
        member_names = tx["member_id"].cat.categories.astype(str)
        self.members = pd.Index(member_names.union(pd.Index(dataset.members["member_id"])))
        item_names = tx["item_id"].cat.categories.astype(str)
        items = dataset.items.drop_duplicates("item_id").set_index("item_id")["category"]
        # The last column collects spend on items without a known category.
        self.categories = pd.Index([*np.sort(items.astype(str).unique()), _UNLISTED])
        # Per transaction-code: member position, category position, item code.
        member_pos = self.members.get_indexer(member_names)
        item_category = self.categories.get_indexer(items.reindex(item_names).astype(str))
        item_category[item_category < 0] = len(self.categories) - 1
        order = np.argsort(tx["timestamp"].to_numpy(), kind="stable")
        self._ts = tx["timestamp"].to_numpy()[order]
        self._member = member_pos[tx["member_id"].cat.codes.to_numpy()[order]]
        item_code = tx["item_id"].cat.codes.to_numpy()[order]
        self._item = item_code
        self._category = item_category[item_code]
        self._amount = np.maximum(tx["amount"].to_numpy(dtype="float64")[order], 0.0)
        self._n_items = len(item_names)
        self._offer_categories = self._indicator(self.offers["categories"], self.categories)
        self._offer_items = self._indicator(self.offers["items"], pd.Index(item_names))
        self._whole_basket = np.array([len(c) == 0 for c in self.offers["categories"]])
        self._has_items = np.array([len(i) > 0 for i in self.offers["items"]])

    @staticmethod
    def _indicator(lists: pd.Series, vocabulary: pd.Index) -> sparse.csc_matrix:
        """Sparse (len(vocabulary), n_offers) 0/1 matrix of which names each offer lists."""
        rows, cols = [], []
        for j, names in enumerate(lists):
            pos = vocabulary.get_indexer(list(names)) if len(names) else np.empty(0, int)
            pos = np.unique(pos[pos >= 0])
            rows.append(pos)
            cols.append(np.full(len(pos), j))
        rows_a = np.concatenate(rows) if rows else np.empty(0, int)
        cols_a = np.concatenate(cols) if cols else np.empty(0, int)
        data = np.ones(len(rows_a))
        return sparse.csc_matrix((data, (rows_a, cols_a)), shape=(len(vocabulary), len(lists)))

    def at_cutoffs(
        self, cutoffs: np.ndarray, member_ids: np.ndarray, offer_ids: np.ndarray
    ) -> pd.DataFrame:
        """Affinity of each (member, offer) row at its own cutoff.

        Parameters
        ----------
        cutoffs : ndarray of datetime64[ns], shape (n_rows,)
        member_ids, offer_ids : ndarray of str, shape (n_rows,)
            Offers must be in this index's offer specs; unknown members have
            no purchases.

        Returns
        -------
        DataFrame
            Columns :data:`AFFINITY_FEATURES` and ``population_share``, one row
            per input row, in input order.
        """
        cutoffs = np.asarray(cutoffs, dtype="datetime64[ns]")
        member_pos, offer_pos = row_positions(self.members, self.offers, member_ids, offer_ids)
        out = np.full((len(cutoffs), 4), np.nan)
        unique_cutoffs, which = np.unique(cutoffs, return_inverse=True)
        for k, (spend, bought) in enumerate(self._accumulate(unique_cutoffs)):
            rows = np.flatnonzero(which == k)
            out[rows] = self._rows(spend, bought, member_pos[rows], offer_pos[rows])
        return pd.DataFrame(out, columns=[*AFFINITY_FEATURES, "population_share"])

    def matrix(self, as_of: pd.Timestamp, member_ids: np.ndarray) -> OfferAffinity:
        """Affinity of every given member to every offer at ``as_of``."""
        member_ids = np.asarray(member_ids, dtype=str)
        member_pos = self.members.get_indexer(member_ids)
        spend, bought = next(self._accumulate(np.array([as_of], dtype="datetime64[ns]")))
        share, lift, items, population = self._block(spend, bought, member_pos)
        return OfferAffinity(member_ids, self.offers["offer_id"].to_numpy(dtype=str),
                             share, lift, items, population)

    def _accumulate(self, cutoffs: np.ndarray):
        """Yield (member x category spend, member x item lines) before each sorted cutoff."""
        n_members = len(self.members)
        spend = sparse.csr_matrix((n_members, len(self.categories)))
        bought = sparse.csr_matrix((n_members, self._n_items))
        start = 0
        for cutoff in cutoffs:
            stop = int(np.searchsorted(self._ts, cutoff, side="left"))
            if stop > start:
                seg = slice(start, stop)
                spend = spend + sparse.csr_matrix(
                    (self._amount[seg], (self._member[seg], self._category[seg])),
                    shape=spend.shape,
                )
                if self._has_items.any():
                    bought = bought + sparse.csr_matrix(
                        (np.ones(stop - start), (self._member[seg], self._item[seg])),
                        shape=bought.shape,
                    )
                start = stop
            yield spend, bought

    def _block(self, spend, bought, member_pos: np.ndarray):
        """All affinity arrays for the given member positions (-1: unknown member)."""
        known = member_pos >= 0
        safe = np.where(known, member_pos, 0)
        sub = spend[safe]
        total = np.asarray(sub.sum(axis=1)).ravel()
        total[~known] = 0.0
        on_target = np.asarray((sub @ self._offer_categories).todense())
        on_target[~known] = 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            share = on_target / total[:, None]
        share[:, self._whole_basket] = 1.0
        share[total <= 0] = np.nan
        all_spend = np.asarray(spend.sum(axis=0)).ravel()
        population = np.asarray(all_spend @ self._offer_categories).ravel()
        grand = all_spend.sum()
        population = population / grand if grand > 0 else np.full(len(population), np.nan)
        population[self._whole_basket] = 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            lift = np.where(population > 0, share / population, np.nan)
        items = np.asarray((bought[safe] @ self._offer_items).todense())
        items[~known] = 0.0
        items[:, ~self._has_items] = np.nan
        return share, lift, items, population

    def _rows(self, spend, bought, member_pos: np.ndarray, offer_pos: np.ndarray) -> np.ndarray:
        unique_members, inverse = np.unique(member_pos, return_inverse=True)
        share, lift, items, population = self._block(spend, bought, unique_members)
        return np.column_stack([
            share[inverse, offer_pos], lift[inverse, offer_pos],
            items[inverse, offer_pos], population[offer_pos],
        ])


def compute_affinity(
    dataset: Dataset,
    offers: pd.DataFrame,
    as_of: pd.Timestamp | str,
    member_ids=None,
) -> OfferAffinity:
    """Affinity of members to offers from purchases strictly before ``as_of``.

    Parameters
    ----------
    dataset : Dataset
    offers : DataFrame
        Offer specs (see :mod:`models.offer_response.specs`).
    as_of : timestamp
        Only purchases strictly before it count.
    member_ids : sequence of str, optional
        Members (rows of the result), default every member of ``dataset``.

    Returns
    -------
    OfferAffinity
        Arrays of shape (n_members, n_offers).

    Examples
    --------
    >>> aff = compute_affinity(ds, offers, "2017-10-01", ["1", "2"])  # doctest: +SKIP
    >>> aff.category_share.shape                                      # doctest: +SKIP
    (2, 27)
    """
    index = AffinityIndex(dataset, offers)
    if member_ids is None:
        member_ids = index.members.to_numpy(dtype=str)
    return index.matrix(pd.Timestamp(as_of), np.asarray(member_ids, dtype=str))

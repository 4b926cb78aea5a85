"""The member's recent dealings with an offer's own products (offers that list ``items``).

For a member ``m``, an offer ``o`` that lists items (a Complete Journey campaign's
coupon products) and a cutoff ``t``:

``item_recent_purchases``
    Purchase lines of ``o``'s items by ``m`` in the :data:`RECENT_DAYS` days before ``t``.
``item_coupon_lines``
    Lines of ``o``'s items that ``m`` bought with a coupon discount before ``t``
    (the optional ``coupon_discount`` column of transactions,
    :mod:`features.coupon_features`; NaN when the data lack it).

Both are NaN for an offer that lists no items (a category or whole-basket
offer, every catalog template): the model then imputes them as in training.
On the Complete Journey they add ~0.005 ROC-AUC on later campaigns
(bench/RESULTS.md, issue 12). Only the offer-response model reads them (the
uplift rows do not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from features.coupon_features import COUPON_COLUMN
from features.dataset import Dataset
from models.offer_response.specs import row_positions, validate_offer_specs

#: The features, in the model's order.
PRODUCT_FEATURES = ("item_recent_purchases", "item_coupon_lines")
#: The window of ``item_recent_purchases``, in days.
RECENT_DAYS = 56


class ProductIndex:
    """Lines of the offers' items, arranged for look-ups at many cutoffs.

    Parameters
    ----------
    dataset : Dataset
    offers : DataFrame
        Offer specs (:mod:`models.offer_response.specs`).
    """

    def __init__(self, dataset: Dataset, offers: pd.DataFrame):
        self.offers = validate_offer_specs(offers)
        tx = dataset.transactions
        member_names = tx["member_id"].cat.categories.astype(str)
        self.members = pd.Index(member_names)
        item_names = pd.Index(tx["item_id"].cat.categories.astype(str))
        self._has_items = np.array([len(i) > 0 for i in self.offers["items"]], dtype=bool)
        self._has_coupons = COUPON_COLUMN in tx.columns
        listed = np.zeros(len(item_names), dtype=bool)
        rows, cols = [], []
        for j, names in enumerate(self.offers["items"]):
            pos = item_names.get_indexer(list(names)) if len(names) else np.empty(0, int)
            pos = np.unique(pos[pos >= 0])
            listed[pos] = True
            rows.append(pos)
            cols.append(np.full(len(pos), j))
        self._offer_items = sparse.csr_matrix(
            (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows or [np.empty(0, int)]),
                                                  np.concatenate(cols or [np.empty(0, int)]))),
            shape=(len(item_names), len(self.offers)))
        # Only lines of listed items matter: keep those, in time order.
        item_code = tx["item_id"].cat.codes.to_numpy()
        keep = listed[item_code]
        ts = tx["timestamp"].to_numpy(dtype="datetime64[ns]")[keep]
        order = np.argsort(ts, kind="stable")
        self._ts = ts[order]
        self._member = tx["member_id"].cat.codes.to_numpy()[keep][order].astype(np.int64)
        self._item = item_code[keep][order].astype(np.int64)
        coupon = (np.abs(np.nan_to_num(tx[COUPON_COLUMN].to_numpy(dtype="float64",
                                                                  na_value=np.nan))) > 0
                  if self._has_coupons else np.zeros(len(tx), dtype=bool))
        self._coupon = coupon[keep][order]
        self._n_items = len(item_names)

    def _lines(self, start: int, stop: int, mask: np.ndarray | None = None) -> sparse.csr_matrix:
        """(members x offers) lines of each offer's items among lines ``start:stop``."""
        member, item = self._member[start:stop], self._item[start:stop]
        if mask is not None:
            member, item = member[mask], item[mask]
        per_item = sparse.csr_matrix((np.ones(len(member)), (member, item)),
                                     shape=(len(self.members), self._n_items))
        return (per_item @ self._offer_items).tocsr()

    def _at(self, cutoff: np.datetime64) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        stop = int(np.searchsorted(self._ts, cutoff, side="left"))
        start = int(np.searchsorted(self._ts, cutoff - np.timedelta64(RECENT_DAYS, "D"),
                                    side="left"))
        return self._lines(start, stop), self._lines(0, stop, self._coupon[:stop])

    def _values(self, recent, coupons, member_pos: np.ndarray,
                offer_pos: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        known = member_pos >= 0
        safe = np.where(known, member_pos, 0)
        out = []
        for matrix in (recent, coupons):
            block = np.asarray(matrix[safe].todense())
            block[~known] = 0.0
            out.append(block if offer_pos is None else block[np.arange(len(safe)), offer_pos])
        items = self._has_items if offer_pos is None else self._has_items[offer_pos]
        for k, block in enumerate(out):
            block = block.astype("float64")
            if offer_pos is None:
                block[:, ~items] = np.nan
            else:
                block[~items] = np.nan
            if k == 1 and not self._has_coupons:
                block[:] = np.nan
            out[k] = block
        return out[0], out[1]

    def at_cutoffs(self, cutoffs: np.ndarray, member_ids: np.ndarray,
                   offer_ids: np.ndarray) -> pd.DataFrame:
        """:data:`PRODUCT_FEATURES` of each (member, offer) row at its own cutoff."""
        cutoffs = np.asarray(cutoffs, dtype="datetime64[ns]")
        member_pos, offer_pos = row_positions(self.members, self.offers, member_ids, offer_ids)
        out = np.full((len(cutoffs), len(PRODUCT_FEATURES)), np.nan)
        unique_cutoffs, which = np.unique(cutoffs, return_inverse=True)
        for k, cutoff in enumerate(unique_cutoffs):
            rows = np.flatnonzero(which == k)
            recent, coupons = self._at(cutoff)
            out[rows, 0], out[rows, 1] = self._values(recent, coupons, member_pos[rows],
                                                      offer_pos[rows])
        return pd.DataFrame(out, columns=list(PRODUCT_FEATURES))

    def matrix(self, as_of, member_ids) -> dict[str, np.ndarray]:
        """Each of :data:`PRODUCT_FEATURES` for every member x offer at ``as_of``."""
        member_pos = self.members.get_indexer(np.asarray(member_ids, dtype=str))
        recent, coupons = self._at(np.datetime64(pd.Timestamp(as_of).as_unit("ns")))
        values = self._values(recent, coupons, member_pos, None)
        return dict(zip(PRODUCT_FEATURES, values))


def attach_product_columns(rows: pd.DataFrame, dataset: Dataset,
                           offers: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (with ``member_id``, ``offer_id``, ``cutoff``) plus :data:`PRODUCT_FEATURES`."""
    index = ProductIndex(dataset, offers)
    found = index.at_cutoffs(rows["cutoff"].to_numpy(), rows["member_id"].to_numpy(dtype=str),
                             rows["offer_id"].to_numpy(dtype=str))
    found.index = rows.index
    return pd.concat([rows, found], axis=1)

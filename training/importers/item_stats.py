"""The items table of a CSV import, summed chunk by chunk so the lines need not fit in memory.

An item's ``category`` is the value most of its lines give (ties: alphabetically
first; :data:`UNCATEGORISED` when empty; the item id itself without a category
column), and its ``price`` the median unit price over its lines with a positive
quantity (NaN when it has none). Both are exact whatever the chunks: the chunks'
(item, category) and (item, unit price) counts are added up, and the median is
read off the counted prices.

Imports: nothing of the project.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNCATEGORISED = "uncategorised"

#: Count tables kept before they are added into one (bounds the memory of many chunks).
_PENDING = 8


class ItemStats:
    """Counts per item, added with :meth:`add` for each chunk of lines; :meth:`table` at the end.

    >>> stats = ItemStats(with_categories=True)
    >>> stats.add(pd.Series(["a", "a"]), pd.Series(["x", "y"]), pd.Series([1.0, 3.0]),
    ...           pd.Series([1.0, 1.0]))
    >>> stats.add(pd.Series(["a", "b"]), pd.Series(["y", None]), pd.Series([2.0, 5.0]),
    ...           pd.Series([1.0, -1.0]))
    >>> for row in stats.table().to_dict("records"):
    ...     print(row)
    {'item_id': 'a', 'category': 'y', 'price': 2.0}
    {'item_id': 'b', 'category': 'uncategorised', 'price': nan}
    """

    def __init__(self, with_categories: bool):
        self.with_categories = with_categories
        self._items: list[pd.Index] = []
        self._categories: list[pd.Series] = []
        self._prices: list[pd.Series] = []

    def add(self, item_id: pd.Series, category: pd.Series | None, unit_price: pd.Series,
            quantity: pd.Series) -> None:
        """Count one chunk's lines (aligned Series; ``category`` None without the column)."""
        item_id = item_id.astype(str)
        self._items.append(pd.Index(item_id.unique()))
        if self.with_categories:
            self._categories.append(pd.DataFrame({
                "item_id": item_id.to_numpy(),
                "category": category.fillna(UNCATEGORISED).astype(str).to_numpy(),
            }).value_counts())
        positive = (quantity > 0).to_numpy()
        self._prices.append(pd.DataFrame({
            "item_id": item_id.to_numpy()[positive],
            "price": unit_price.to_numpy(dtype=np.float64)[positive],
        }).value_counts())
        if len(self._prices) > _PENDING:
            self._compact()

    def _compact(self) -> None:
        self._items = [_union(self._items)]
        self._prices = [_summed(self._prices)]
        if self._categories:
            self._categories = [_summed(self._categories)]

    def table(self) -> pd.DataFrame:
        """``item_id`` (sorted), ``category`` and ``price``: one row per item seen."""
        ids = _union(self._items).sort_values()
        if self.with_categories:
            counts = _summed(self._categories).rename("n").reset_index().sort_values(
                ["item_id", "n", "category"], ascending=[True, False, True])
            category = counts.drop_duplicates("item_id").set_index("item_id")["category"]
            categories = category.reindex(ids).to_numpy()
        else:
            categories = ids.astype(str).to_numpy()
        return pd.DataFrame({
            "item_id": ids.astype(str),
            "category": categories,
            "price": _median_prices(_summed(self._prices)).reindex(ids).to_numpy(
                dtype="float64"),
        })


def _union(indexes: list[pd.Index]) -> pd.Index:
    if not indexes:
        return pd.Index([], dtype=object)
    return pd.Index(np.unique(np.concatenate([i.to_numpy(dtype=object) for i in indexes])))


def _summed(counts: list[pd.Series]) -> pd.Series:
    """The counts of several chunks added up (one Series indexed like each)."""
    if not counts:
        return pd.Series(dtype="int64")
    if len(counts) == 1:
        return counts[0]
    joined = pd.concat(counts)
    return joined.groupby(level=list(range(joined.index.nlevels))).sum()


def _median_prices(counts: pd.Series) -> pd.Series:
    """Each item's median price from its counted prices: the middle one, or the mean of the
    two middle ones for an even number of lines (as :meth:`pandas.Series.median`)."""
    if counts.empty:
        return pd.Series(dtype="float64")
    frame = counts.rename("n").reset_index().sort_values(["item_id", "price"])
    by_item = frame.groupby("item_id", sort=False)["n"]
    seen = by_item.cumsum().to_numpy()
    total = by_item.transform("sum").to_numpy()
    medians = []
    for middle in ((total - 1) // 2, total // 2):  # 0-based positions of the middle lines
        reached = frame.loc[seen > middle, ["item_id", "price"]]
        medians.append(reached.drop_duplicates("item_id").set_index("item_id")["price"])
    return (medians[0] + medians[1].reindex(medians[0].index)) / 2

"""The items table of a CSV import, summed chunk by chunk so the lines need not fit in memory.

An item's ``category`` is the value most of its lines give (ties: alphabetically
first; :data:`UNCATEGORISED` when empty; without a category column the item's name
when there is one, else the item id itself), its ``name`` (with a name column) the
non-empty value most of its lines give, and its ``price`` the median unit price over
its lines with a positive quantity (NaN when it has none). All are exact whatever the
chunks: the chunks' (item, category), (item, name) and (item, unit price) counts are
added up, and the median is read off the counted prices.

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

    def __init__(self, with_categories: bool, with_names: bool = False):
        self.with_categories, self.with_names = with_categories, with_names
        self._items: list[pd.Index] = []
        self._categories: list[pd.Series] = []
        self._names: list[pd.Series] = []
        self._prices: list[pd.Series] = []

    def add(self, item_id: pd.Series, category: pd.Series | None, unit_price: pd.Series,
            quantity: pd.Series, name: pd.Series | None = None) -> None:
        """Count one chunk's lines (aligned Series; ``category`` and ``name`` None without
        the column)."""
        item_id = item_id.astype(str)
        self._items.append(pd.Index(item_id.unique()))
        if self.with_categories:
            self._categories.append(_label_counts(item_id, category.fillna(UNCATEGORISED)))
        if self.with_names:
            named = name.notna().to_numpy()
            self._names.append(_label_counts(item_id[named], name[named]))
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
        if self._names:
            self._names = [_summed(self._names)]

    def table(self) -> pd.DataFrame:
        """``item_id`` (sorted), ``category``, ``price`` and, with names, ``name``: one row
        per item seen (an item none of whose lines named it has no name, NaN)."""
        ids = _union(self._items).sort_values()
        names = _most_common(self._names, ids) if self.with_names else None
        if self.with_categories:
            categories = _most_common(self._categories, ids)
        elif names is not None:  # each item is its own category, called by its name
            categories = np.where(pd.isna(names), ids.astype(str).to_numpy(), names)
        else:
            categories = ids.astype(str).to_numpy()
        table = pd.DataFrame({
            "item_id": ids.astype(str),
            "category": categories,
            "price": _median_prices(_summed(self._prices)).reindex(ids).to_numpy(
                dtype="float64"),
        })
        if names is not None:
            table["name"] = names
        return table


def _label_counts(item_id: pd.Series, label: pd.Series) -> pd.Series:
    """How many lines give each (item, label) pair."""
    return pd.DataFrame({"item_id": item_id.to_numpy(),
                         "label": label.astype(str).to_numpy()}).value_counts()


def _most_common(counts: list[pd.Series], ids: pd.Index) -> np.ndarray:
    """Each item's label most of its lines give (ties: alphabetically first), NaN for none."""
    if not counts:
        return np.full(len(ids), np.nan, dtype=object)
    frame = _summed(counts).rename("n").reset_index().sort_values(
        ["item_id", "n", "label"], ascending=[True, False, True])
    return frame.drop_duplicates("item_id").set_index("item_id")["label"].reindex(
        ids).to_numpy(dtype=object)


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

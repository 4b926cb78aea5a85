"""One feature row per catalogue item, as of a cutoff.

:func:`build_item_features` is a pure function of the canonical transactions
and items and an explicit ``as_of``: only lines strictly before it count.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from features.code_groups import (
    NS_PER_DAY,
    distinct_pair_counts,
    group_median,
    lines_before,
    safe_divide,
    to_cutoff,
)
from features.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

ITEM_COLUMNS = (
    "category", "department", "popularity", "n_lines", "revenue", "recent_popularity",
    "trend", "price",
)  # fmt: skip


def build_item_features(
    transactions: pd.DataFrame,
    items: pd.DataFrame,
    as_of,
    *,
    recent_days: float = 28,
) -> pd.DataFrame:
    """Item popularity, revenue, trend and price from the lines before ``as_of``.

    Parameters
    ----------
    transactions : DataFrame
        Canonical transactions (:mod:`features.dataset`).
    items : DataFrame
        Canonical items; ``item_id`` and ``category`` are required.
    as_of : str, datetime or Timestamp
        The cutoff; lines at or after it are ignored.
    recent_days : float, default 28
        Length of the recent window ``[as_of - recent_days, as_of)``.

    Returns
    -------
    DataFrame, shape (n_items, 8)
        Indexed by ``item_id`` (str), one row per row of ``items`` in its
        order (lines of items missing from ``items`` are ignored). Columns,
        float64 unless noted:

        - ``category``, ``department`` (str): from ``items`` (the department
          is the category when unknown).
        - ``popularity``: distinct members who bought the item.
        - ``n_lines``: transaction lines.
        - ``revenue``: sum of ``amount``.
        - ``recent_popularity``: distinct buyers in the recent window.
        - ``trend``: the item's lines per day in the recent window divided by
          its lines per day over the whole history (from the first line of any
          item to ``as_of``): 1 = steady, > 1 rising, 0 = no recent sales;
          NaN when the item never sold. The recent window is cut to the
          history's length when that is shorter.
        - ``price``: median unit price ``amount / quantity`` over the item's
          lines with ``quantity > 0`` (9 significant digits); the ``price``
          of ``items`` when the item never sold, NaN when neither is known.

    Raises
    ------
    ConfigError
        For a bad ``as_of`` or ``recent_days``.
    DataError
        When a needed column is missing.
    """
    started = time.perf_counter()
    cutoff = to_cutoff(as_of)
    if not recent_days > 0:
        raise ConfigError(f"recent_days={recent_days!r} should be > 0.")
    for col in ("item_id", "category"):
        if col not in items.columns:
            raise DataError(f"items lack column '{col}'; it is required.")
    lines = lines_before(transactions, cutoff, ("amount", "quantity"))
    index = pd.Index(items["item_id"], dtype="str", name="item_id")
    n_items, n_members = len(index), len(lines.member_labels)
    pos = index.get_indexer(lines.item_labels.astype("str"))
    row = pos[lines.item] if len(pos) else np.zeros(0, dtype=np.intp)
    known = row >= 0
    member, ts = lines.member, lines.timestamp
    amount, quantity = lines.values["amount"], lines.values["quantity"]
    if not known.all():
        logger.warning("%d line(s) of items missing from items are ignored", int((~known).sum()))
        row, member, ts = row[known], member[known], ts[known]
        amount, quantity = amount[known], quantity[known]
    row = row.astype(np.intp, copy=False)

    n_lines = np.bincount(row, minlength=n_items).astype(np.float64)
    revenue = np.bincount(row, weights=amount, minlength=n_items)
    popularity = distinct_pair_counts(row, member, n_items, n_members).astype(np.float64)
    window = int(round(recent_days * NS_PER_DAY))
    history = float(cutoff.value - ts.min()) if len(ts) else 0.0
    recent = ts >= cutoff.value - window
    recent_popularity = distinct_pair_counts(
        row[recent], member[recent], n_items, n_members
    ).astype(np.float64)
    recent_lines = np.bincount(row[recent], minlength=n_items)
    rate_recent = recent_lines / (min(window, history) / NS_PER_DAY or 1.0)
    rate_all = n_lines / (history / NS_PER_DAY or 1.0)
    trend = safe_divide(rate_recent, rate_all)

    priced = quantity > 0
    unit = np.divide(amount[priced], quantity[priced])
    ok = np.isfinite(unit) & (unit >= 0)
    price = group_median(row[priced][ok], n_items, unit[ok])
    if "price" in items.columns:
        catalogue = items["price"].to_numpy(dtype=np.float64, na_value=np.nan)
        price = np.where(np.isnan(price), catalogue, price)

    category = items["category"].astype("str")
    department = (
        items["department"].astype("str").fillna(category) if "department" in items else category
    )
    result = pd.DataFrame(
        {
            "category": category.array,
            "department": department.array,
            "popularity": popularity,
            "n_lines": n_lines,
            "revenue": revenue,
            "recent_popularity": recent_popularity,
            "trend": trend,
            "price": price,
        },
        index=index,
    )
    logger.info(
        "item features as of %s: %d items from %d lines in %.1fs",
        cutoff, n_items, len(row), time.perf_counter() - started,
    )
    return result

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
    group_sum,
    lines_before,
    positions,
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
    # Work on the transactions' item codes, then map them to the rows of items.
    item, member, ts = lines.item, lines.member, lines.timestamp
    amount, quantity = lines.values["amount"], lines.values["quantity"]
    n_codes, n_members = len(lines.item_labels), len(lines.member_labels)
    row_code = positions(items["item_id"], lines.item_labels)
    unknown = np.setdiff1d(np.arange(n_codes), row_code)
    if len(unknown) and np.isin(item, unknown).any():
        logger.warning("lines of %d item id(s) missing from items are ignored", len(unknown))

    n_lines = group_sum(item, n_codes).astype(np.float64)
    revenue = group_sum(item, n_codes, amount)
    popularity = distinct_pair_counts(item, member, n_codes, n_members).astype(np.float64)
    window = int(round(recent_days * NS_PER_DAY))
    history = float(cutoff.value - ts.min()) if len(ts) else 0.0
    recent = ts >= cutoff.value - window
    recent_item = item[recent]
    recent_popularity = distinct_pair_counts(
        recent_item, member[recent], n_codes, n_members
    ).astype(np.float64)
    rate_recent = group_sum(recent_item, n_codes) / (min(window, history) / NS_PER_DAY or 1.0)
    rate_all = n_lines / (history / NS_PER_DAY or 1.0)
    trend = safe_divide(rate_recent, rate_all)
    priced_item, unit_price = _unit_prices(item, amount, quantity)
    price = group_median(priced_item, n_codes, unit_price)

    def per_row(values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        return np.append(values, fill)[row_code]

    if "price" in items.columns:
        catalogue = items["price"].to_numpy(dtype=np.float64, na_value=np.nan)
        price = np.where(np.isnan(per_row(price, np.nan)), catalogue, per_row(price, np.nan))
    else:
        price = per_row(price, np.nan)
    category = items["category"].astype("str")
    department = (
        items["department"].astype("str").fillna(category) if "department" in items else category
    )
    result = pd.DataFrame(
        {
            "category": category.array,
            "department": department.array,
            "popularity": per_row(popularity),
            "n_lines": per_row(n_lines),
            "revenue": per_row(revenue),
            "recent_popularity": per_row(recent_popularity),
            "trend": per_row(trend, np.nan),
            "price": price,
        },
        index=pd.Index(items["item_id"], dtype="str", name="item_id"),
    )
    logger.info(
        "item features as of %s: %d items from %d lines in %.1fs",
        cutoff, len(result), len(item), time.perf_counter() - started,
    )
    return result


def _unit_prices(
    item: np.ndarray, amount: np.ndarray, quantity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(item code, amount / quantity)`` of the lines with a positive quantity."""
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = amount / quantity
    ok = (quantity > 0) & (unit >= 0) & np.isfinite(unit)
    if ok.all():
        return item, unit
    return item[ok], unit[ok]

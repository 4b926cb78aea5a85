"""Item features with the per-line work on the engine: the frame of
:func:`features.item_features.build_item_features`.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from features.code_groups import round_significant, safe_divide, to_cutoff
from features.errors import ConfigError, DataError
from features.relational import pairs as pair_module
from features.relational.pairs import PairCounts, pair_counts
from features.relational.portable import slices, to_frame
from features.relational.purchases import US_PER_DAY, lines_before

RECENT_DAYS = 28  # build_item_features' default


def item_features(lines, items: pd.DataFrame, as_of, *, recent_days: float = RECENT_DAYS,
                  pairs: PairCounts | None = None) -> pd.DataFrame:
    """Item popularity, revenue, trend and price; one row per row of ``items``.

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (:mod:`features.relational.tables`).
    items : DataFrame
        Canonical items.
    as_of, recent_days
        As in :func:`features.item_features.build_item_features`.
    pairs : PairCounts, optional
        The buyers per item, from the distinct (member, item) pairs counted once
        for the member and item features (:func:`.pairs.pair_counts`); counted
        here when None (or made for another cutoff or window).
    """
    cutoff = to_cutoff(as_of)
    if not recent_days > 0:
        raise ConfigError(f"recent_days={recent_days!r} should be > 0.")
    for col in ("item_id", "category"):
        if col not in items.columns:
            raise DataError(f"items lack column '{col}'; it is required.")
    cut = cutoff.value // 1000
    window = int(round(recent_days * US_PER_DAY))
    before = lines_before(lines, cutoff)
    span = to_frame(before.aggregate(first=before.ts_us.min(), n=before.count())).iloc[0]
    first, n_all = span["first"], span["n"]
    history = 0.0 if first is None or pd.isna(first) else float(cut - first)
    if pairs is None or (pairs.cut_us, pairs.recent_us) != (cut, cut - window):
        pairs = pair_counts(before, cut, cut - window, float(n_all or 0))
    parts = []
    # One query per slice of items above LINES_PER_PART lines: the median keeps every
    # priced line of its group in memory (over 100M lines it ran out of a 1 GB limit).
    for chosen in slices(before, "item_id", float(n_all or 0), pair_module.LINES_PER_PART):
        parts.append(_item_aggregates(chosen, cut, window))
    frame = pd.concat(parts)
    frame.index = frame.index.astype("str")
    frame = frame.join(pairs.items)
    rows = frame.reindex(items["item_id"].astype("str"))
    n_lines = rows["n_lines"].to_numpy(dtype=np.float64, na_value=0.0)
    rate_recent = rows["recent_lines"].to_numpy(dtype=np.float64, na_value=0.0) / (
        min(window, history) / US_PER_DAY or 1.0
    )
    rate_all = n_lines / (history / US_PER_DAY or 1.0)
    trend = np.where(
        np.isnan(rows["n_lines"].to_numpy(dtype=np.float64, na_value=np.nan)),
        np.nan,
        safe_divide(rate_recent, rate_all),
    )
    price = round_significant(rows["price"].to_numpy(dtype=np.float64, na_value=np.nan), 9)
    if "price" in items.columns:
        catalogue = items["price"].to_numpy(dtype=np.float64, na_value=np.nan)
        price = np.where(np.isnan(price), catalogue, price)
    category = items["category"].astype("str")
    department = (
        items["department"].astype("str").fillna(category) if "department" in items else category
    )
    return pd.DataFrame(
        {
            "category": category.array,
            "department": department.array,
            "popularity": rows["popularity"].to_numpy(dtype=np.float64, na_value=0.0),
            "n_lines": n_lines,
            "revenue": rows["revenue"].to_numpy(dtype=np.float64, na_value=0.0),
            "recent_popularity": rows["recent_popularity"].to_numpy(dtype=np.float64, na_value=0.0),
            "trend": trend,
            "price": price,
        },
        index=pd.Index(items["item_id"], dtype="str", name="item_id"),
    )


def _item_aggregates(before, cut: int, window: int) -> pd.DataFrame:
    """Per item of ``before``: lines, revenue, recent lines, price (buyers: :mod:`.pairs`)."""
    is_recent = before.ts_us >= cut - window
    # Divided only where quantity > 0: Spark (ANSI mode) refuses a division by zero.
    unit = ibis.ifelse(before.quantity > 0, before.amount / before.quantity, ibis.null("float64"))
    priced = (unit >= 0) & ~unit.isinf() & unit.notnull()
    per = before.group_by("item_id").aggregate(
        n_lines=before.count(),
        revenue=before.amount.sum(),
        recent_lines=ibis.ifelse(is_recent, 1, 0).sum(),
        # The median of the priced lines' nulled-out others, not median(where=): Ibis
        # compiles that for Spark into a percentile with a non-constant percentage.
        price=ibis.ifelse(priced, unit, ibis.null("float64")).median(),
    )
    return to_frame(per).set_index("item_id")

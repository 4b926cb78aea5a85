"""Item features with the per-line work on the engine: the frame of
:func:`features.item_features.build_item_features`.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from features.code_groups import round_significant, safe_divide, to_cutoff
from features.errors import ConfigError, DataError
from features.relational.pairs import PairCounts, pair_counts
from features.relational.portable import slices, to_frame
from features.relational.purchases import US_PER_DAY, lines_before

RECENT_DAYS = 28  # build_item_features' default
#: Most (item, unit price) rows :func:`_by_price` brings over from the engine (~100 MB).
MAX_PRICE_ROWS = 2_000_000
#: Lines per query of the engine's median (the fallback above ``MAX_PRICE_ROWS``).
MEDIAN_LINES = 30_000_000


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
    frame = _by_price(before, cut, window)
    if frame is None:  # too many distinct prices to bring over: the engine's median
        # One query per slice of items above MEDIAN_LINES lines: the median keeps every
        # priced line of its group in memory (over 100M lines it ran out of a 1 GB limit).
        frame = pd.concat([
            _item_aggregates(chosen, cut, window)
            for chosen in slices(before, "item_id", float(n_all or 0), MEDIAN_LINES)
        ])
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


def _unit_price(before):
    """Each line's unit price, null where it has none (quantity <= 0, negative, infinite)."""
    # Divided only where quantity > 0: Spark (ANSI mode) refuses a division by zero.
    unit = ibis.ifelse(before.quantity > 0, before.amount / before.quantity, ibis.null("float64"))
    priced = (unit >= 0) & ~unit.isinf() & unit.notnull()
    return unit, priced


def _by_price(before, cut: int, window: int) -> pd.DataFrame | None:
    """:func:`_item_aggregates` from one grouping of the lines by (item, unit price).

    Items have few distinct prices (60,000 (item, price) pairs among 20M synthetic
    lines), so the lines reduce in the engine to one row per pair with its lines,
    revenue and recent lines (a grouping the engine spills, in one scan), and the
    median price is the exact weighted median of those rows, computed here. None
    when there are more than :data:`MAX_PRICE_ROWS` pairs (prices by weight, say):
    then the engine's median, a slice of the items at a time.
    """
    unit, priced = _unit_price(before)
    lines = before.mutate(unit=ibis.ifelse(priced, unit, ibis.null("float64")))
    grouped = lines.group_by(["item_id", "unit"]).aggregate(
        n_lines=lines.count(),
        revenue=lines.amount.sum(),
        recent_lines=ibis.ifelse(lines.ts_us >= cut - window, 1, 0).sum(),
    )
    rows = to_frame(grouped.limit(MAX_PRICE_ROWS + 1))
    if len(rows) > MAX_PRICE_ROWS:
        return None
    codes, item_ids = pd.factorize(rows["item_id"].astype("str"), sort=True)
    n_items = len(item_ids)
    n_lines = rows["n_lines"].to_numpy(dtype=np.int64)
    out = pd.DataFrame({
        "n_lines": np.bincount(codes, n_lines, minlength=n_items).astype(np.int64),
        "revenue": np.bincount(codes, rows["revenue"].to_numpy(dtype=np.float64),
                               minlength=n_items),
        "recent_lines": np.bincount(codes, rows["recent_lines"].to_numpy(dtype=np.float64),
                                    minlength=n_items).astype(np.int64),
    }, index=pd.Index(item_ids, name="item_id"))
    units = rows["unit"].to_numpy(dtype=np.float64, na_value=np.nan)
    has = ~np.isnan(units)
    out["price"] = weighted_median(codes[has], n_items, units[has], n_lines[has])
    return out


def weighted_median(codes: np.ndarray, n_groups: int, values: np.ndarray,
                    weights: np.ndarray) -> np.ndarray:
    """Median per code of ``values`` each repeated ``weights`` times; NaN for empty groups.

    The middle value of the group's repeated values, or the mean of the two middle
    ones for an even count: the median of the lines themselves.

    >>> weighted_median(np.array([0, 0, 1, 1]), 3, np.array([1.0, 5.0, 2.0, 4.0]),
    ...                 np.array([3, 1, 1, 1]))
    array([1., 3., nan])
    """
    order = np.lexsort((values, codes))
    codes, values, weights = codes[order], values[order], weights[order]
    ends = np.cumsum(weights)  # one past each row's last position, over all groups
    counts = np.bincount(codes, weights, minlength=n_groups).astype(np.int64)
    start = np.cumsum(counts) - counts
    has = counts > 0
    # The value at a group's position p: the first row whose end is past start + p.
    lo = values[np.searchsorted(ends, start[has] + (counts[has] - 1) // 2, side="right")]
    hi = values[np.searchsorted(ends, start[has] + counts[has] // 2, side="right")]
    out = np.full(n_groups, np.nan)
    out[has] = (lo + hi) / 2
    return out


def _item_aggregates(before, cut: int, window: int) -> pd.DataFrame:
    """Per item of ``before``: lines, revenue, recent lines, price (buyers: :mod:`.pairs`)."""
    is_recent = before.ts_us >= cut - window
    unit, priced = _unit_price(before)
    per = before.group_by("item_id").aggregate(
        n_lines=before.count(),
        revenue=before.amount.sum(),
        recent_lines=ibis.ifelse(is_recent, 1, 0).sum(),
        # The median of the priced lines' nulled-out others, not median(where=): Ibis
        # compiles that for Spark into a percentile with a non-constant percentage.
        price=ibis.ifelse(priced, unit, ibis.null("float64")).median(),
    )
    return to_frame(per).set_index("item_id")

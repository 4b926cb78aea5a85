"""Item features with the per-line work on the engine: the frame of
:func:`features.item_features.build_item_features`.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from features.code_groups import round_significant, safe_divide, to_cutoff
from features.errors import ConfigError, DataError
from features.relational.purchases import US_PER_DAY, lines_before


def item_features(lines, items: pd.DataFrame, as_of, *, recent_days: float = 28) -> pd.DataFrame:
    """Item popularity, revenue, trend and price; one row per row of ``items``.

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (:mod:`features.relational.tables`).
    items : DataFrame
        Canonical items.
    as_of, recent_days
        As in :func:`features.item_features.build_item_features`.
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
    first = before.ts_us.min().to_pyarrow().as_py()
    history = 0.0 if first is None or pd.isna(first) else float(cut - first)
    is_recent = before.ts_us >= cut - window
    unit = before.amount / before.quantity
    priced = (before.quantity > 0) & (unit >= 0) & ~unit.isinf() & unit.notnull()
    per = before.group_by("item_id").aggregate(
        n_lines=before.count(),
        revenue=before.amount.sum(),
        popularity=before.member_id.nunique(),
        recent_popularity=before.member_id.nunique(where=is_recent),
        recent_lines=ibis.ifelse(is_recent, 1, 0).sum(),
        price=unit.median(where=priced),
    )
    frame = per.to_pyarrow().to_pandas().set_index("item_id")
    frame.index = frame.index.astype("str")
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

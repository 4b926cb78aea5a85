"""Coupon use at the till on the engine: the counts behind
:func:`features.coupon_features.coupon_features`, from lines that stay in the engine.

Only the lines with a coupon discount are grouped (a small share of all lines);
the member's distinct baskets are the purchases' ``frequency``, counted already
(:func:`features.relational.purchases.purchase_aggregates`). One row per member
who used a coupon comes back; the columns are then derived by
:func:`features.coupon_features.coupon_columns`, the definition pandas uses too.
"""

from __future__ import annotations

import pandas as pd

from features.code_groups import to_cutoff
from features.coupon_features import COUPON_COLUMN
from features.relational.portable import to_frame
from features.relational.purchases import US_PER_DAY, lines_before


def coupon_counts(lines, as_of, baskets: pd.Series) -> pd.DataFrame | None:
    """Per-member coupon counts before ``as_of`` for
    :func:`~features.coupon_features.coupon_columns`, or None when ``lines`` have no
    :data:`~features.coupon_features.COUPON_COLUMN` (data without it get no coupon columns).

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (:mod:`features.relational.tables`), with the optional
        ``coupon_discount``.
    baskets : Series
        Distinct baskets before ``as_of`` per member (the purchases' ``frequency``),
        indexed by member id: the rows of the result.
    """
    if COUPON_COLUMN not in lines.columns:
        return None
    cutoff = to_cutoff(as_of)
    used = coupon_lines(lines_before(lines, cutoff))
    per = used.group_by("member_id").aggregate(**coupon_aggregates(used))
    return coupon_frame(to_frame(per), baskets, cutoff.value // 1000)


def coupon_lines(lines):
    """The lines with a coupon discount."""
    value = lines[COUPON_COLUMN]
    # pandas counts abs(nan_to_num(x)) > 0: missing and NaN are no coupon (NaN compares
    # above every number on DuckDB and Spark, so it is excluded by name).
    return lines.filter((value.abs() > 0) & ~value.isnan())


def coupon_aggregates(used) -> dict:
    """The per-member aggregates of coupon lines ``used`` (by the caller's grouping)."""
    return {"coupon_lines": used.count(), "coupon_baskets": used.basket_id.nunique(),
            "last": used.ts_us.max()}


def coupon_frame(per: pd.DataFrame, baskets: pd.Series, cut: int) -> pd.DataFrame:
    """The result of :func:`coupon_counts` from the aggregates fetched (``member_id`` and
    :func:`coupon_aggregates`' columns), ``cut`` the cutoff in microseconds."""
    found = per.set_index("member_id")
    found.index = pd.Index(found.index, dtype="str", name="member_id")
    index = pd.Index(baskets.index, dtype="str", name="member_id")
    found = found.reindex(index)
    return pd.DataFrame({
        "coupon_lines": found["coupon_lines"].fillna(0).to_numpy(dtype="float64"),
        "coupon_baskets": found["coupon_baskets"].fillna(0).to_numpy(dtype="float64"),
        "baskets": baskets.to_numpy(dtype="float64", na_value=float("nan")),
        "days_since_coupon": (cut - found["last"].to_numpy(dtype="float64", na_value=float("nan")))
        / US_PER_DAY,
    }, index=index)

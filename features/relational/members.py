"""Member features with the per-line work on the engine.

The purchase aggregates come from :func:`features.relational.purchases.purchase_aggregates`;
the per-member assembly (members table order, tenure, profile columns, offer
history) is :func:`features.member_features.build_member_features`'s own, so
both engines share it; the coupon-use columns, when the lines have the optional
``coupon_discount``, from :func:`features.relational.coupons.coupon_counts`.
"""

from __future__ import annotations

import ibis
import pandas as pd

from features.code_groups import to_cutoff
from features.member_features import build_member_features
from features.relational.coupons import coupon_counts
from features.relational.events import offer_counts
from features.relational.purchases import purchase_aggregates


def member_features(
    lines,
    dataset,
    as_of,
    *,
    n_categories: int = 20,
    trend_days: float = 90,
    spend_mix: bool = True,
    pairs=None,
) -> pd.DataFrame:
    """The frame of :func:`features.member_features.build_member_features`, lines on the engine.

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (:mod:`features.relational.tables`).
    dataset : Dataset, RelationalData or mapping
        Gives ``items``, ``members`` and ``offer_events`` (its ``transactions``
        are not read); offer events as an Ibis table (``RelationalData``) are
        reduced to per-member counts on the engine.
    pairs : PairCounts, optional
        The distinct pairs counted once for the member and item features
        (:func:`features.relational.pairs.pairs_before`).
    """
    buys = purchase_aggregates(
        lines,
        _get(dataset, "items"),
        as_of,
        n_categories=n_categories,
        trend_days=trend_days,
        spend_mix=spend_mix,
        pairs=pairs,
    )
    events = _get(dataset, "offer_events")
    counts = None
    if isinstance(events, ibis.Table):  # offer events on the engine too
        counts, events = offer_counts(events, to_cutoff(as_of)), None
    tables = {
        "transactions": buys.iloc[:0],  # unused: the purchases are given
        "items": _get(dataset, "items"),
        "members": _get(dataset, "members"),
        "offer_events": events,
    }
    coupons = coupon_counts(lines, as_of, buys["frequency"])  # None without coupon_discount
    return build_member_features(tables, as_of, spend_mix=spend_mix, purchases=buys,
                                 offer_counts=counts, coupon_counts=coupons)


def _get(obj, name):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

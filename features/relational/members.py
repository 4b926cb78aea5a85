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
from features.relational.cutoffs import (
    coupon_counts_at,
    cutoff_list,
    offer_counts_at,
    purchase_aggregates_at,
)
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
    spend=None,
    baskets=None,
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
    spend : SpendPairs, optional
        The (member, department, category) spend staged for other steps too
        (:func:`features.relational.purchases.spend_pairs`).
    baskets : Ibis table, optional
        The lines' :func:`~features.relational.purchases.basket_rows`, made once for
        other queries too: the baskets are summed from them.
    """
    buys = purchase_aggregates(
        lines,
        _get(dataset, "items"),
        as_of,
        n_categories=n_categories,
        trend_days=trend_days,
        spend_mix=spend_mix,
        pairs=pairs,
        spend=spend,
        baskets=baskets,
    )
    events = _get(dataset, "offer_events")
    counts = None
    if isinstance(events, ibis.Table):  # offer events on the engine too
        counts, events = offer_counts(events, to_cutoff(as_of)), None
    coupons = coupon_counts(lines, as_of, buys["frequency"])  # None without coupon_discount
    return _assembled(dataset, as_of, buys, events, counts, coupons, spend_mix)


def member_features_at(
    lines,
    dataset,
    cutoffs,
    *,
    n_categories: int = 20,
    trend_days: float = 90,
    spend_mix: bool = True,
) -> dict[pd.Timestamp, pd.DataFrame]:
    """:func:`member_features` at each of ``cutoffs``, the per-line work of all of them in one
    set of queries (:mod:`features.relational.cutoffs`): ``{cutoff: frame}``, the cutoffs
    as :func:`features.code_groups.to_cutoff` gives them. Equal to one build per cutoff
    up to the order of float sums."""
    cuts = cutoff_list(cutoffs)
    buys = purchase_aggregates_at(lines, _get(dataset, "items"), cuts,
                                  n_categories=n_categories, trend_days=trend_days,
                                  spend_mix=spend_mix)
    events = _get(dataset, "offer_events")
    counts = dict.fromkeys(cuts)
    if isinstance(events, ibis.Table) and cuts:  # offer events on the engine too
        counts, events = offer_counts_at(events, cuts), None
    coupons = coupon_counts_at(lines, cuts, {c: buys[c]["frequency"] for c in cuts}) or {}
    return {c: _assembled(dataset, c, buys[c], events, counts[c], coupons.get(c), spend_mix)
            for c in cuts}


def _assembled(dataset, as_of, buys, events, counts, coupons, spend_mix) -> pd.DataFrame:
    """:func:`features.member_features.build_member_features` of the engine's counts."""
    tables = {
        "transactions": buys.iloc[:0],  # unused: the purchases are given
        "items": _get(dataset, "items"),
        "members": _get(dataset, "members"),
        "offer_events": events,
    }
    return build_member_features(tables, as_of, spend_mix=spend_mix, purchases=buys,
                                 offer_counts=counts, coupon_counts=coupons)


def _get(obj, name):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

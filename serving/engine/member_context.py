"""Per-member inputs of the offer engine, precomputed once per (bundle, catalog).

:class:`MemberContext` turns the bundle's member table into what scoring
reads per member: codes into the templates' masks, the member's basket,
responsiveness to offers, the tier ladder's position and the categories and
items personalised offers can target (the recommender's categories with the
catalog's excluded ones removed, the member's favourite item in each).
Everything is vectorised over members and chunked, so it also serves a
campaign over a million members.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from serving.engine.template_arrays import read_only
from serving.engine.tiers import TierLadder, annual_spend

logger = logging.getLogger(__name__)

#: Bounds of a member's responsiveness (P(redeem) multiplier relative to the average member).
RESPONSIVENESS_BOUNDS = (0.25, 4.0)
N_TARGETS = 3
_CHUNK = 50_000


@dataclass(frozen=True)
class MemberContext:
    """Arrays over the bundle's members (length n) plus the unknown-member defaults.

    Attributes
    ----------
    segment, cluster, tier, plan : ndarray of int64
        Column indexes into the templates' masks (the last column: unknown).
    basket : ndarray of float64
        Expected basket (mean basket, else the default basket).
    responsiveness : ndarray of float64
        P(redeem) multiplier (1: average member).
    annual_spend, tier_gap : ndarray of float64
    targets : ndarray of int64, shape (n, 3)
        Categories personalised offers target, best first.
    target_items : ndarray of int64, shape (n, 3)
        The member's favourite item in each (else the category's most popular).
    unknown_targets, unknown_items : ndarray of int64, shape (3,)
        The same for a member the version does not know: popular categories.
    default_basket : float

    Immutable: the fields cannot be reassigned and the arrays are read-only.
    """

    segment: np.ndarray
    cluster: np.ndarray
    cluster_ids: np.ndarray
    tier: np.ndarray
    plan: np.ndarray
    basket: np.ndarray
    responsiveness: np.ndarray
    annual_spend: np.ndarray
    tier_gap: np.ndarray
    targets: np.ndarray
    target_items: np.ndarray
    unknown_targets: np.ndarray
    unknown_items: np.ndarray
    default_basket: float
    n_tiers: int
    n_plans: int
    n_segments: int

    def __post_init__(self):
        read_only(self)


def build_member_context(bundle, ladder: TierLadder | None, excluded: frozenset[str],
                         default_basket: float | None = None) -> MemberContext:
    """Precompute :class:`MemberContext` for every member of ``bundle``.

    Parameters
    ----------
    bundle : ModelBundle
    ladder : TierLadder or None
        The catalog's tiers (None: no tiers).
    excluded : frozenset of str
        Categories personalised offers never target.
    default_basket : float, optional
        Basket of members without one; default the median of the known baskets.
    """
    m = bundle.members
    n = len(m)
    segment = np.where(m.codes["segment"] >= 0, m.codes["segment"], len(m.names["segment"]))
    cluster_ids = np.unique(m.cluster[m.cluster >= 0])
    cluster = np.searchsorted(cluster_ids, m.cluster)
    cluster = np.where((m.cluster >= 0) & (cluster < len(cluster_ids)), cluster, len(cluster_ids))
    plan = np.where(m.codes["plan_status"] >= 0, m.codes["plan_status"],
                    len(m.names["plan_status"]))
    if ladder is not None:
        tier, _, gap = ladder.levels(m)
        tier = np.where(tier >= 0, tier, len(ladder.tiers))
    else:
        tier, gap = np.zeros(n, dtype=np.int64), np.full(n, np.nan)
    baskets = m.numeric["monetary_mean_basket"]
    known = np.isfinite(baskets) & (baskets > 0)
    if default_basket is None:
        default_basket = float(np.median(baskets[known])) if known.any() else 10.0
    basket = np.where(known, baskets, default_basket)
    base = m.numeric["p_redeem_base"]
    mean = np.nanmean(base) if np.isfinite(base).any() else np.nan
    if np.isfinite(mean) and mean > 0:
        resp = np.clip(np.where(np.isfinite(base), base / mean, 1.0), *RESPONSIVENESS_BOUNDS)
    else:
        resp = np.ones(n)
    usable = ~np.isin(bundle.categories, np.array(sorted(excluded), dtype=str))
    usable &= bundle.category_top_item >= 0
    popular = bundle.popular_categories[usable[bundle.popular_categories]][:N_TARGETS]
    popular = np.pad(popular, (0, N_TARGETS - len(popular)), constant_values=-1)
    targets = _usable_targets(bundle.rec_categories, popular, usable)
    items = np.full((n, N_TARGETS), -1, dtype=np.int64)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        items[start:stop] = _favourite_items(bundle, np.arange(start, stop), targets[start:stop])
    unknown_items = np.where(popular >= 0, bundle.category_top_item[np.maximum(popular, 0)], -1)
    return MemberContext(
        segment=segment.astype(np.int64), cluster=cluster.astype(np.int64),
        cluster_ids=cluster_ids, tier=tier.astype(np.int64), plan=plan.astype(np.int64),
        basket=basket, responsiveness=resp, annual_spend=annual_spend(m), tier_gap=gap,
        targets=targets, target_items=items, unknown_targets=popular.astype(np.int64),
        unknown_items=unknown_items.astype(np.int64), default_basket=default_basket,
        n_tiers=len(ladder.tiers) if ladder is not None else 0,
        n_plans=len(m.names["plan_status"]), n_segments=len(m.names["segment"]),
    )


def _usable_targets(recommended: np.ndarray, popular: np.ndarray,
                    usable: np.ndarray) -> np.ndarray:
    """Recommended categories minus unusable ones, topped up with popular ones; (n, 3)."""
    n = len(recommended)
    candidates = np.concatenate(
        [recommended.astype(np.int64), np.broadcast_to(popular, (n, len(popular)))], axis=1
    )
    valid = candidates >= 0
    valid &= usable[np.maximum(candidates, 0)]
    for j in range(1, candidates.shape[1]):
        valid[:, j] &= ~(candidates[:, :j] == candidates[:, j:j + 1]).any(axis=1)
    order = np.argsort(~valid, axis=1, kind="stable")[:, :N_TARGETS]
    out = np.take_along_axis(candidates, order, axis=1)
    out[~np.take_along_axis(valid, order, axis=1)] = -1
    return out


def _favourite_items(bundle, rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each member's most bought item in each target category, else its most popular item."""
    out = np.where(targets >= 0, bundle.category_top_item[np.maximum(targets, 0)], -1)
    buy_again = bundle.recommender.components_.get("buy_again")
    rec_rows = bundle.table_to_rec[rows]
    if buy_again is None or not (rec_rows >= 0).any():
        return out
    from models.recommenders.base import csr_row_entries

    owner, cols, pos = csr_row_entries(buy_again.scores_indptr_, buy_again.scores_indices_,
                                       rec_rows)
    scores = np.asarray(buy_again.scores_data_)[pos]
    category = bundle.item_category[cols]
    for j in range(targets.shape[1]):
        hit = category == targets[owner, j]
        if hit.any():
            o, c = best_per_owner(owner[hit], cols[hit], scores[hit])
            out[o, j] = c
    return out


def best_per_owner(owner: np.ndarray, cols: np.ndarray,
                   scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each owner's column of highest score, the smallest column among ties.

    ``owner`` must be non-decreasing (entries grouped by owner, as
    :func:`~models.recommenders.base.csr_row_entries` gives them). One pass
    of group maxima and minima instead of a sort of every entry.
    """
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    sizes = np.diff(np.r_[starts, len(owner)])
    best = np.maximum.reduceat(scores, starts)
    ties = np.where(scores == np.repeat(best, sizes), cols, np.iinfo(np.int64).max)
    return owner[starts], np.minimum.reduceat(ties.astype(np.int64), starts)

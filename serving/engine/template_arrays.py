"""A catalog's templates as arrays over templates, resolved against one model bundle.

Built once per (bundle, catalog) by :class:`~serving.engine.engine.OfferEngine`:
names become codes of the bundle (segments, clusters, tiers, plan statuses,
categories, items), rules become bounds and masks, so scoring many members
for every template is array arithmetic (:mod:`serving.engine.scoring`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np

from models.offer_response.prior import OfferResponsePrior
from serving.engine.catalog.schema import (
    AUDIENCES,
    CHANNELS,
    NO_PLAN,
    OFFER_TYPES,
    RANGE_FIELDS,
    TARGET_KINDS,
    VALUE_KINDS,
    Catalog,
)

logger = logging.getLogger(__name__)

VALUE_CODE = {kind: i for i, kind in enumerate(VALUE_KINDS)}
TARGET_CODE = {kind: i for i, kind in enumerate(TARGET_KINDS)}
AUDIENCE_CODE = {kind: i for i, kind in enumerate(AUDIENCES)}
#: Offer types whose redemption involves no shopping trip: no incremental basket by default.
NO_TRIP_TYPES = ("referral", "donation", "free_trial")
#: Priors for types the offer-response priors do not list (assumptions, see docs/catalog.md).
EXTRA_PRIORS = {"free_trial": 0.04, "donation": 0.03, "welcome": 0.10}


@dataclass(frozen=True)
class TemplateArrays:
    """Per-template vectors (length T, or (T, k) masks); see the module docstring.

    Immutable: the fields cannot be reassigned and the arrays are read-only,
    so every request, thread and forked campaign worker shares one copy.
    """

    ids: tuple[str, ...]
    types: tuple[str, ...]
    audience: np.ndarray
    channel: np.ndarray            # (T, n_channels) bool
    segment_mask: np.ndarray       # (T, n_segments + 1) bool; last column: unknown
    cluster_mask: np.ndarray       # (T, n_clusters + 1)
    tier_mask: np.ndarray          # (T, n_tiers + 1)
    plan_mask: np.ndarray          # (T, n_plan_status + 1)
    range_lo: np.ndarray           # (T, n_range_fields)
    range_hi: np.ndarray
    bounded: np.ndarray            # (T, n_range_fields) bool
    birthday_within: np.ndarray    # NaN: no condition
    anniversary_within: np.ndarray
    start: np.ndarray              # datetime64[s], NaT: open
    end: np.ndarray
    season_from: np.ndarray        # month * 100 + day, -1: none
    season_to: np.ndarray
    target_kind: np.ndarray
    fixed_category: np.ndarray     # category code, -1 none
    fixed_item: np.ndarray         # item column, -1 none
    rank: np.ndarray               # 0-based rank of the recommended category
    item_level: np.ndarray         # bool: recommended item (not category)
    value_kind: np.ndarray
    amount: np.ndarray
    depths: np.ndarray             # (T, D) NaN padded; D >= 1
    points_price: np.ndarray
    free_item_price: np.ndarray
    cost_fixed: np.ndarray
    cost_override: np.ndarray      # NaN: derive from the value
    business_value: np.ndarray
    incremental_share: np.ndarray
    prior: np.ndarray
    retention: np.ndarray          # bool
    priority: np.ndarray
    expiry_days: np.ndarray

    def __post_init__(self):
        read_only(self)

    @property
    def n(self) -> int:
        return len(self.ids)


def read_only(arrays) -> None:
    """Flag every ndarray field of the dataclass instance ``arrays`` read-only."""
    for f in fields(arrays):
        value = getattr(arrays, f.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False


def build_template_arrays(catalog: Catalog, bundle, cluster_ids: np.ndarray,
                          n_tiers: int) -> TemplateArrays:
    """Resolve ``catalog`` against ``bundle`` (see :class:`TemplateArrays`).

    Parameters
    ----------
    catalog : Catalog
    bundle : ModelBundle
    cluster_ids : ndarray of int
        Sorted distinct cluster ids of the bundle's members.
    n_tiers : int
        Tiers of the catalog's ladder.
    """
    offers = catalog.offers
    m = bundle.members
    segments = m.names["segment"]
    plans = tuple(p.lower() for p in m.names["plan_status"])
    labels = _cluster_labels(bundle, cluster_ids)
    priors = OfferResponsePrior().fit()
    tier_names = [t.name.lower() for t in catalog.tiers]
    depth_width = max([len(t.value.depths) for t in offers] + [1])

    def mask(names, vocabulary, unknown_name=None):
        """(len(vocabulary) + 1,) bool: allowed codes, the last entry for unknown."""
        if names is None:
            return np.ones(len(vocabulary) + 1, dtype=bool)
        allowed = [v in names for v in vocabulary]
        return np.array(allowed + [unknown_name is not None and unknown_name in names])

    rows = []
    for t in offers:
        e = t.eligibility
        cluster_allowed = None if e.clusters is None else [
            str(c) in e.clusters or labels[i] in e.clusters for i, c in enumerate(cluster_ids)
        ]
        fixed_category = bundle.category_code(t.target.category) if t.target.category else -1
        item_id = t.target.item_id if t.target.kind == "item" else None
        fixed_item = _item_column(bundle, item_id)
        if t.target.kind == "item" and fixed_item >= 0:
            fixed_category = int(bundle.item_category[fixed_item])
        if (t.target.kind == "category" and fixed_category < 0) or (
                t.target.kind == "item" and fixed_item < 0):
            logger.warning("offer %r targets %s %r, which version %s has no item of; it will "
                           "never be offered", t.id, t.target.kind,
                           t.target.category or t.target.item_id, bundle.version)
        free_col = _item_column(bundle, t.value.item_id) if t.value.item_id else fixed_item
        depths = np.full(depth_width, np.nan)
        depths[:len(t.value.depths)] = t.value.depths
        incremental = t.incremental_share
        if incremental is None:
            incremental = 0.0 if t.type in NO_TRIP_TYPES else catalog.economics.incremental_share
        prior = t.p_redeem
        if prior is None:
            key = OFFER_TYPES[t.type][0]
            prior = EXTRA_PRIORS.get(key, priors.prior_for(key))
        rows.append(dict(
            audience=AUDIENCE_CODE[e.audience],
            channel=[c in e.channels for c in CHANNELS],
            segment_mask=mask(e.segments, segments),
            cluster_mask=(np.ones(len(cluster_ids) + 1, dtype=bool) if cluster_allowed is None
                          else np.array(cluster_allowed + [False])),
            tier_mask=mask(e.tiers, tier_names) if n_tiers else np.ones(1, dtype=bool),
            plan_mask=mask(e.plan_status, plans, NO_PLAN),
            range_lo=[e.ranges.get(f, (-np.inf, np.inf))[0] for f in RANGE_FIELDS],
            range_hi=[e.ranges.get(f, (-np.inf, np.inf))[1] for f in RANGE_FIELDS],
            bounded=[f in e.ranges for f in RANGE_FIELDS],
            birthday_within=_or_nan(e.birthday_within_days),
            anniversary_within=_or_nan(e.anniversary_within_days),
            start=e.start if e.start is not None else np.datetime64("NaT", "s"),
            end=e.end if e.end is not None else np.datetime64("NaT", "s"),
            season_from=e.season[0] if e.season else -1,
            season_to=e.season[1] if e.season else -1,
            target_kind=TARGET_CODE[t.target.kind],
            fixed_category=fixed_category, fixed_item=fixed_item, rank=t.target.rank - 1,
            item_level=t.target.kind == "recommended" and t.target.level == "item",
            value_kind=VALUE_CODE[t.value.kind], amount=t.value.amount, depths=depths,
            points_price=t.value.points_price,
            free_item_price=bundle.item_price[free_col] if free_col >= 0 else np.nan,
            cost_fixed=t.cost_fixed, cost_override=_or_nan(t.cost_per_redemption),
            business_value=t.business_value, incremental_share=incremental, prior=prior,
            retention=t.retention, priority=t.priority, expiry_days=t.expiry_days,
        ))

    def stack(key, dtype=None):
        return np.array([r[key] for r in rows], dtype=dtype)

    return TemplateArrays(
        ids=tuple(t.id for t in offers), types=tuple(t.type for t in offers),
        audience=stack("audience", np.int8), channel=stack("channel", bool),
        segment_mask=stack("segment_mask", bool), cluster_mask=stack("cluster_mask", bool),
        tier_mask=stack("tier_mask", bool), plan_mask=stack("plan_mask", bool),
        range_lo=stack("range_lo", float), range_hi=stack("range_hi", float),
        bounded=stack("bounded", bool), birthday_within=stack("birthday_within", float),
        anniversary_within=stack("anniversary_within", float),
        start=stack("start", "datetime64[s]"), end=stack("end", "datetime64[s]"),
        season_from=stack("season_from", np.int32), season_to=stack("season_to", np.int32),
        target_kind=stack("target_kind", np.int8), fixed_category=stack("fixed_category", np.int64),
        fixed_item=stack("fixed_item", np.int64), rank=stack("rank", np.int64),
        item_level=stack("item_level", bool), value_kind=stack("value_kind", np.int8),
        amount=stack("amount", float), depths=stack("depths", float),
        points_price=stack("points_price", float), free_item_price=stack("free_item_price", float),
        cost_fixed=stack("cost_fixed", float), cost_override=stack("cost_override", float),
        business_value=stack("business_value", float),
        incremental_share=stack("incremental_share", float), prior=stack("prior", float),
        retention=stack("retention", bool), priority=stack("priority", np.int64),
        expiry_days=stack("expiry_days", float),
    )


def _or_nan(value) -> float:
    return np.nan if value is None else float(value)


def _item_column(bundle, item_id: str | None) -> int:
    if item_id is None:
        return -1
    pos = int(np.searchsorted(bundle.item_ids, item_id))
    return pos if pos < len(bundle.item_ids) and bundle.item_ids[pos] == item_id else -1


def _cluster_labels(bundle, cluster_ids: np.ndarray) -> list[str]:
    """The label of each cluster id (first member's label)."""
    m = bundle.members
    labels = []
    for cid in cluster_ids:
        rows = np.flatnonzero(m.cluster == cid)
        labels.append(m.name("cluster_label", int(rows[0])) or "" if len(rows) else "")
    return labels

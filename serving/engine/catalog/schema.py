"""What a catalog holds once validated: plain frozen dataclasses and the closed vocabularies.

The file format, field by field, is documented in ``docs/catalog.md``;
:mod:`serving.engine.catalog.loading` reads a file into these classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Channels an offer can be decided for.
CHANNELS = ("app", "email", "sms")

#: Offer types: the prior P(redeem) key (see models/offer_response/prior.py), the default
#: reason shown to the member and its reason code.
OFFER_TYPES: dict[str, tuple[str, str, str]] = {
    "personalised_discount": ("percent_discount", "Picked for you", "RECOMMENDED"),
    "points_multiplier": ("points_multiplier", "You shop with us regularly", "POINTS_BOOST"),
    "cashback": ("cashback", "Money back on your usual shop", "CASHBACK"),
    "free_item": ("free_item", "You have {points_balance} points to use", "POINTS_TO_SPEND"),
    "tier_perk": ("tier_perk", "A thank-you for our {tier} members", "TIER_PERK"),
    "tier_upgrade": ("tier_perk", "You are {gap} away from {next_tier}", "NEAR_NEXT_TIER"),
    "referral": ("referral", "Friends of loyal members are welcome", "REFERRAL"),
    "seasonal": ("seasonal", "A limited-time seasonal offer", "SEASONAL"),
    "birthday": ("birthday", "Happy birthday!", "BIRTHDAY"),
    "anniversary": ("birthday", "Thank you for a year with us", "ANNIVERSARY"),
    "subscriber_perk": ("tier_perk", "Because you subscribe to {plan}", "SUBSCRIBER_PERK"),
    "free_trial": ("free_trial", "Try the paid plan before you decide", "FREE_TRIAL"),
    "donation": ("donation", "Your points can help a good cause", "CAUSE"),
    "win_back": ("win_back", "We have missed you", "CHURN_RISK"),
    "welcome": ("welcome", "Welcome to the program", "NEW_MEMBER"),
}
TARGET_KINDS = ("basket", "category", "item", "recommended")
#: Value kinds and what ``amount`` means for each (None: no amount).
VALUE_KINDS: dict[str, str | None] = {
    "percent_off": "percent off the target",
    "amount_off": "currency off",
    "cashback_percent": "percent of the target's spend paid back",
    "points_multiplier": "points multiplier (2 = double points)",
    "bonus_points": "points",
    "free_item": None,
    "perk": None,
    "free_trial": "days",
    "points_donation": "points the program adds to a member's donation",
}
#: Value kinds whose depth can be chosen per member by retention (``depths``).
DEPTH_KINDS = ("percent_off", "amount_off", "cashback_percent", "bonus_points")
AUDIENCES = ("known", "unknown", "all")
#: Numeric member fields an eligibility rule can bound with ``{min, max}``.
RANGE_FIELDS = (
    "churn_risk", "clv", "recency_days", "frequency", "tenure_days", "points_balance",
    "overdue_ratio", "monetary_mean_basket", "annual_spend", "next_tier_gap", "referrals",
)  # fmt: skip
#: Plan status of members whose plan is unknown (see docs/catalog.md).
NO_PLAN = "none"
TIER_BASES = ("annual_spend", "points_balance")


@dataclass(frozen=True)
class Target:
    kind: str
    category: str | None = None
    item_id: str | None = None
    level: str = "category"
    rank: int = 1


@dataclass(frozen=True)
class Value:
    kind: str
    amount: float = math.nan
    depths: tuple[float, ...] = ()
    points_price: float = math.nan
    item_id: str | None = None


@dataclass(frozen=True)
class Caps:
    per_member_max: int | None = None
    per_member_days: float = 30.0
    cooldown_days: float = 0.0
    budget: float | None = None
    redemptions: int | None = None


@dataclass(frozen=True)
class Eligibility:
    audience: str = "known"
    channels: frozenset[str] = frozenset(CHANNELS)
    segments: frozenset[str] | None = None
    clusters: frozenset[str] | None = None
    tiers: frozenset[str] | None = None
    plan_status: frozenset[str] | None = None
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    birthday_within_days: float | None = None
    anniversary_within_days: float | None = None
    start: np.datetime64 | None = None
    end: np.datetime64 | None = None
    season: tuple[int, int] | None = None  # (from, to) as month * 100 + day


@dataclass(frozen=True)
class OfferTemplate:
    """One validated catalog entry (see docs/catalog.md for each field)."""

    id: str
    type: str
    title: str
    message: dict[str, str]
    reason: str
    target: Target
    value: Value
    cost_fixed: float = 0.0
    cost_per_redemption: float | None = None
    business_value: float = 0.0
    incremental_share: float | None = None
    p_redeem: float | None = None
    #: The data's offer type whose learned P(redeem) and uplift this template takes (default:
    #: ``type``).
    response_type: str | None = None
    retention: bool = False
    eligibility: Eligibility = field(default_factory=Eligibility)
    caps: Caps = field(default_factory=Caps)
    priority: int = 0
    expiry_days: float = 14.0


@dataclass(frozen=True)
class Tier:
    name: str
    min: float


@dataclass(frozen=True)
class Economics:
    """Assumptions that turn a redemption into money (see docs/catalog.md)."""

    margin: float = 0.30
    incremental_share: float = 0.25
    point_value: float = 0.01
    points_per_unit: float = 1.0
    send_cost: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0.0))
    default_basket: float | None = None


@dataclass(frozen=True)
class Retention:
    """Churn-prevention assumptions: the effect of an incentive on churn and its ceiling.

    ``effect(x) = effect_max * x / (x + half_effect)`` is the share of a member's
    churn risk an incentive worth ``x`` percent of the member's basket averts;
    an incentive never costs more than ``max_clv_share`` of the member's CLV.
    """

    effect_max: float = 0.30
    half_effect: float = 10.0
    max_clv_share: float = 0.05


@dataclass(frozen=True)
class Catalog:
    """A validated catalog: templates plus the program-wide settings."""

    offers: tuple[OfferTemplate, ...]
    source: str = "<memory>"
    campaign: str = "always-on"
    currency: str = "$"
    economics: Economics = field(default_factory=Economics)
    retention: Retention = field(default_factory=Retention)
    tiers: tuple[Tier, ...] = ()
    tier_basis: str = "annual_spend"
    consent_unknown: str = "allow"
    consent_fields: dict[str, str | None] = field(
        default_factory=lambda: {"app": None, "email": "email_opt_in", "sms": "sms_opt_in"}
    )
    contact_max: int | None = 3
    contact_days: float = 7.0
    control_share: float = 0.05
    exclude_categories: frozenset[str] = frozenset()

    def offer(self, offer_id: str) -> OfferTemplate:
        for template in self.offers:
            if template.id == offer_id:
                return template
        raise KeyError(offer_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.offers)

"""The planted structure of the synthetic data generator, as constants.

Every number here is documented in ``docs/synthetic.md`` and copied into
``truth/segments.json`` of every generated directory, so that tests of later
models can check what a model recovers against what was planted.
"""

from __future__ import annotations

import datetime as dt
import numbers
from dataclasses import asdict, dataclass

from features.errors import ConfigError

#: Members are generated in chunks of this many; each chunk has its own random
#: stream seeded from ``(seed, chunk index)``, so the data depend on nothing else.
MEMBER_CHUNK = 20_000

DEFAULT_END = dt.date(2025, 12, 31)
DEFAULT_START = dt.date(2025, 1, 1)
MAX_WINDOW_DAYS = 10 * 366
MAX_MEMBERS = 99_999_999

#: department -> categories. Category order defines category indices.
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "fresh": ("produce", "dairy", "bakery", "meat", "seafood", "deli"),
    "grocery": ("pantry", "snacks", "breakfast", "frozen", "ready_meals"),
    "drinks": ("beverages", "coffee_tea", "wine_spirits"),
    "health_beauty": ("beauty", "personal_care", "health"),
    "home": ("household", "kitchen", "garden", "electronics"),
    "family": ("baby", "pet", "toys"),
}
CATEGORIES: tuple[str, ...] = tuple(c for cats in DEPARTMENTS.values() for c in cats)
CATEGORY_DEPARTMENT: dict[str, str] = {c: d for d, cats in DEPARTMENTS.items() for c in cats}

#: Median shelf price of an item per category (prices are lognormal around it).
CATEGORY_PRICE: dict[str, float] = {
    "produce": 2.5, "dairy": 3.0, "bakery": 3.5, "meat": 9.0, "seafood": 12.0, "deli": 6.0,
    "pantry": 3.5, "snacks": 3.0, "breakfast": 4.5, "frozen": 5.0, "ready_meals": 6.5,
    "beverages": 2.5, "coffee_tea": 7.0, "wine_spirits": 15.0,
    "beauty": 14.0, "personal_care": 6.0, "health": 9.0,
    "household": 6.0, "kitchen": 12.0, "garden": 15.0, "electronics": 35.0,
    "baby": 9.0, "pet": 8.0, "toys": 15.0,
}
ITEMS_PER_CATEGORY = 200
PRICE_SIGMA = 0.5
#: Item popularity inside a category is Zipf-like: weight = rank ** -ZIPF_EXPONENT.
ZIPF_EXPONENT = 0.9
#: Each segment tilts item popularity by a lognormal factor with this sigma, so
#: segments prefer different items inside a category (collaborative-filtering signal).
SEGMENT_ITEM_TILT_SIGMA = 0.8
BRANDS = ("Acme", "Northfield", "Greenway", "Bluebird", "Summit", "Harbor", "Maple",
          "Everyday", "Goldleaf", "Riverside")
STORE_BRAND = "OurOwn"
STORE_BRAND_SHARE = 0.2

#: Weight of a segment's preferred categories relative to the others (1.0).
PREFERRED_WEIGHT = 6.0
#: Member affinities are Dirichlet around the segment's category weights with
#: this total concentration (smaller = members differ more from their segment).
AFFINITY_CONCENTRATION = 40.0
#: Favourite items per member and category, and the weights they are bought with.
FAVOURITES_PER_CATEGORY = 3
FAVOURITE_WEIGHTS = (0.5, 0.3, 0.2)
#: Favourites are drawn from the segment's item weights raised to this power
#: (flatter than popularity, so favourites are personal, not just bestsellers).
FAVOURITE_TEMPER = 0.5
#: Share of lines bought from the member's favourites (Beta(a, b) per member).
REPEAT_BETA = (5.5, 4.5)
#: Member purchase rate = segment rate x Gamma(shape, 1/shape).
RATE_GAMMA_SHAPE = 2.0
BASKET_SIZE_SIGMA = 0.25


@dataclass(frozen=True)
class Segment:
    name: str
    share: float
    preferred: tuple[str, ...]
    baskets_per_month: float
    lines_per_basket: float
    extra_quantity: float  # quantity = 1 + Poisson(extra_quantity)
    price_exponent: float  # item weight x (price / category median) ** exponent
    discount_rate: float  # share of lines bought on a discount
    churn_probability: float  # over the window, before the paid-plan effect
    channels: tuple[float, float, float]  # P(store), P(online), P(app) per basket
    age_mean: float
    age_sd: float
    opt_in: tuple[float, float, float]  # P(email), P(sms), P(push)
    paid_plan: float  # P(plan == "plus")
    referrals: float  # Poisson mean


SEGMENTS: tuple[Segment, ...] = (
    Segment("young_urban", 0.20, ("snacks", "beverages", "coffee_tea", "ready_meals", "bakery"),
            3.0, 3.0, 0.2, 0.0, 0.12, 0.30, (0.55, 0.10, 0.35), 27, 6,
            (0.50, 0.30, 0.75), 0.10, 0.6),
    Segment("family", 0.22, ("produce", "dairy", "baby", "toys", "breakfast", "meat"),
            2.2, 7.0, 0.6, -0.3, 0.15, 0.15, (0.75, 0.15, 0.10), 38, 7,
            (0.70, 0.40, 0.50), 0.25, 0.3),
    Segment("health_beauty", 0.15, ("beauty", "personal_care", "health", "produce"),
            1.6, 3.5, 0.2, 0.4, 0.12, 0.22, (0.60, 0.25, 0.15), 34, 10,
            (0.75, 0.30, 0.50), 0.20, 0.3),
    Segment("home_pet", 0.15, ("pet", "household", "garden", "kitchen", "electronics"),
            1.4, 4.0, 0.3, 0.0, 0.10, 0.18, (0.70, 0.25, 0.05), 45, 12,
            (0.65, 0.35, 0.30), 0.15, 0.2),
    Segment("gourmet", 0.10, ("wine_spirits", "seafood", "deli", "meat", "coffee_tea"),
            1.8, 5.5, 0.3, 0.8, 0.06, 0.12, (0.85, 0.10, 0.05), 52, 10,
            (0.70, 0.20, 0.20), 0.35, 0.2),
    Segment("bargain", 0.18, ("pantry", "frozen", "snacks", "household", "beverages"),
            2.0, 4.5, 0.4, -1.0, 0.35, 0.30, (0.85, 0.10, 0.05), 48, 15,
            (0.60, 0.50, 0.20), 0.05, 0.2),
)

#: Purchase-rate multiplier per calendar month (Jan..Dec), mean 1: a December peak.
MONTH_MULTIPLIER = (0.85, 0.80, 0.90, 0.95, 1.00, 0.95, 0.95, 1.00, 0.95, 1.00, 1.15, 1.50)
#: Purchase-rate multiplier per weekday (Mon..Sun), mean 1.
WEEKDAY_MULTIPLIER = (0.85, 0.85, 0.90, 0.95, 1.10, 1.25, 1.10)
#: Relative weight of each hour of the day for basket times.
HOUR_WEIGHTS = (1, 0.5, 0.3, 0.2, 0.2, 0.5, 2, 4, 6, 8, 9, 10,
                11, 10, 9, 9, 10, 11, 11, 9, 6, 4, 2.5, 1.5)
#: Purchase rate is multiplied by (1 + BIRTHDAY_BOOST) from 3 days before to
#: 3 days after each birthday.
BIRTHDAY_BOOST = 1.0
BIRTHDAY_HALF_WIDTH = 3
BIRTHDAY_MISSING = 0.03

#: Paid ("plus") members buy more and churn less.
PLUS_RATE_MULTIPLIER = 1.2
PLUS_CHURN_MULTIPLIER = 0.6
TRIAL_SHARE = 0.04  # of members: plan "plus" with status "trial"
PLUS_CANCEL_IF_CHURNED = 0.7
#: Share of members who join during the window (the rest joined up to 5 years before).
NEW_MEMBER_SHARE = 0.15
MAX_TENURE_DAYS = 5 * 365
#: Churn dates fall uniformly between CHURN_MIN_DAYS after the start (or 14 days
#: after joining) and the window's end.
CHURN_MIN_DAYS = 30

N_STORES = 40
HOME_STORE_SHARE = 0.8
ONLINE_STORE = "ONLINE"
BASKET_CHANNELS = ("store", "online", "app")

#: Tier from spend (sum of amount) over the window: lowest threshold first.
TIERS = (("bronze", 0.0), ("silver", 400.0), ("gold", 1200.0), ("platinum", 2500.0))
DISCOUNT_DEPTHS = (0.10, 0.20, 0.30, 0.50)

# Offers and their events.
OFFER_CHANNELS = ("email", "sms", "push")
CAMPAIGNS_PER_MONTH = 2
OFFER_TYPES = ("percent_off", "cashback", "points_multiplier")
OFFER_DEPTHS = (0.10, 0.15, 0.20, 0.25, 0.30)
SEND_SHARE = 0.30  # of eligible (joined, opted-in) members per campaign
VIEW_PROBABILITY = (0.35, 0.55, 0.45)  # per offer channel
VIEW_DELAY_HOURS = 8.0  # exponential mean, capped at 72 h
#: P(redeemed | viewed) = sigmoid(b0 + b1 * log(C * affinity) + b2 * depth),
#: C = number of categories, so C * affinity is 1 for an average member.
REDEEM_COEF = (-3.0, 1.0, 6.0)
REDEEM_DELAY_DAYS = 2.0  # exponential mean
OFFER_VALID_DAYS = 14
DISMISS_PROBABILITY = 0.35  # of viewed, not redeemed

# Planted treatment effects (training.synth.uplift): who changes behaviour when sent an offer.
#: Share of a campaign's chosen members held out at random (``holdout`` events).
HOLDOUT_SHARE = 0.5
UPLIFT_GROUPS = ("persuadable", "sure_thing", "sleeping_dog", "lost_cause")
#: Per offer type, per segment (order of SEGMENTS): (P(persuadable), P(sleeping_dog)).
#: The rest are sure things (purchase rate above their segment's) or lost causes.
UPLIFT_GROUP_PROBABILITY: dict[str, tuple[tuple[float, float], ...]] = {
    "percent_off": ((0.30, 0.05), (0.60, 0.05), (0.15, 0.20), (0.30, 0.05), (0.05, 0.60),
                    (0.80, 0.02)),
    "cashback": ((0.70, 0.05), (0.40, 0.10), (0.20, 0.10), (0.20, 0.30), (0.10, 0.30),
                 (0.10, 0.50)),
    "points_multiplier": ((0.05, 0.60), (0.20, 0.10), (0.60, 0.05), (0.50, 0.05),
                          (0.70, 0.05), (0.20, 0.30)),
}
#: Measurement window of the planted effects, in days after the send.
UPLIFT_WINDOW_DAYS = 14
#: A sent persuadable member makes one extra basket in the offer's category with
#: this probability, of 1 + Poisson(UPLIFT_EXTRA_LINES) lines (percent_off: at the offer's depth).
PERSUADE_PROBABILITY = 0.7
UPLIFT_EXTRA_LINES = 2.0
#: A sent sleeping dog stays away for the whole window with this probability.
SLEEPING_DOG_PROBABILITY = 0.7


@dataclass(frozen=True)
class SynthConfig:
    """What to generate: validated by :meth:`validate`.

    ``end`` is the last day of the window, inclusive.
    """

    n_members: int
    seed: int = 0
    start: dt.date = DEFAULT_START
    end: dt.date = DEFAULT_END
    chunk_size: int = MEMBER_CHUNK

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    def validate(self, today: dt.date | None = None) -> SynthConfig:
        """Check every field; ``today`` (default: the current date) must be after ``end``."""
        for name in ("n_members", "seed", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ConfigError(f"{name}={value!r} should be an integer.")
        if not 1 <= self.n_members <= MAX_MEMBERS:
            raise ConfigError(f"members={self.n_members} should be between 1 and {MAX_MEMBERS}.")
        if self.seed < 0:
            raise ConfigError(f"seed={self.seed} should be a non-negative integer.")
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise ConfigError(f"{name}={value!r} should be a date such as 2025-12-31.")
        if self.end < self.start:
            raise ConfigError(f"end={self.end} is before start={self.start}; swap them.")
        today = today or dt.date.today()
        if self.end >= today:
            raise ConfigError(
                f"end={self.end} is not in the past (today is {today}); synthetic history "
                "must end before today, or loading would drop the future rows."
            )
        if self.n_days > MAX_WINDOW_DAYS:
            raise ConfigError(
                f"the window {self.start}..{self.end} is {self.n_days} days; "
                f"at most {MAX_WINDOW_DAYS} are supported."
            )
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size={self.chunk_size} should be >= 1.")
        return self


def spec_dict(config: SynthConfig) -> dict:
    """The planted structure and the generation parameters, JSON-ready."""
    return {
        "generator": "training.synth.generate",
        "config": {
            "n_members": config.n_members,
            "seed": config.seed,
            "start": config.start.isoformat(),
            "end": config.end.isoformat(),
            "chunk_size": config.chunk_size,
        },
        "categories": list(CATEGORIES),
        "departments": {d: list(c) for d, c in DEPARTMENTS.items()},
        "category_price": CATEGORY_PRICE,
        "segments": [
            {"id": i, **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(s).items()}}
            for i, s in enumerate(SEGMENTS)
        ],
        "preferred_weight": PREFERRED_WEIGHT,
        "affinity_concentration": AFFINITY_CONCENTRATION,
        "favourites_per_category": FAVOURITES_PER_CATEGORY,
        "favourite_weights": list(FAVOURITE_WEIGHTS),
        "repeat_beta": list(REPEAT_BETA),
        "rate_gamma_shape": RATE_GAMMA_SHAPE,
        "month_multiplier": list(MONTH_MULTIPLIER),
        "weekday_multiplier": list(WEEKDAY_MULTIPLIER),
        "birthday_boost": BIRTHDAY_BOOST,
        "birthday_half_width_days": BIRTHDAY_HALF_WIDTH,
        "plus_rate_multiplier": PLUS_RATE_MULTIPLIER,
        "plus_churn_multiplier": PLUS_CHURN_MULTIPLIER,
        "new_member_share": NEW_MEMBER_SHARE,
        "tiers": [{"tier": t, "min_spend": v} for t, v in TIERS],
        "offers": {
            "campaigns_per_month": CAMPAIGNS_PER_MONTH,
            "send_share": SEND_SHARE,
            "channels": list(OFFER_CHANNELS),
            "view_probability": list(VIEW_PROBABILITY),
            "redeem_logit": {"intercept": REDEEM_COEF[0], "log_relative_affinity": REDEEM_COEF[1],
                             "depth": REDEEM_COEF[2]},
            "valid_days": OFFER_VALID_DAYS,
            "dismiss_probability": DISMISS_PROBABILITY,
        },
        "uplift": {
            "holdout_share": HOLDOUT_SHARE,
            "groups": list(UPLIFT_GROUPS),
            "group_probability": {
                t: [{"segment": seg.name, "persuadable": p, "sleeping_dog": q}
                    for seg, (p, q) in zip(SEGMENTS, rows)]
                for t, rows in UPLIFT_GROUP_PROBABILITY.items()
            },
            "window_days": UPLIFT_WINDOW_DAYS,
            "persuade_probability": PERSUADE_PROBABILITY,
            "extra_lines": UPLIFT_EXTRA_LINES,
            "sleeping_dog_probability": SLEEPING_DOG_PROBABILITY,
        },
    }

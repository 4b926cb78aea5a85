"""The parts of a synthetic data set shared by all members.

The item catalogue, each segment's item and category weights, the calendar of
purchase-rate multipliers and the offer campaigns. All are drawn from the
"global" random stream of the seed, so they do not depend on the member count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from training.synth import spec


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """An independent random stream for ``(seed, *key)``.

    Streams: ``(0,)`` catalogue and campaigns, ``(1, chunk)`` members and
    their purchases, ``(2, chunk)`` offer events, ``(3, chunk)`` the planted
    uplift groups, holdouts and treatment effects (:mod:`training.synth.uplift`).
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class Catalog:
    """Items sorted by category, with per-segment sampling tables.

    Attributes
    ----------
    item_category : (n_items,) int
        Category index of each item; items are sorted by it.
    price : (n_items,) float
    brand : (n_items,) str array
    category_start : (n_categories + 1,) int
        Items of category ``c`` are ``category_start[c]:category_start[c + 1]``.
    segment_category_weight : (n_segments, n_categories) float
        Unnormalised Dirichlet means of member affinities.
    item_cum : (n_segments * n_items,) float
        For segment ``s`` and category ``c``, ``item_cum`` over that category's
        items is ``s * C + c + cumsum(weights)``; searching ``s * C + c + u``
        with ``u`` uniform picks an item (see :func:`pick_items`).
    favourite_cum : like ``item_cum``, with the flatter favourite weights.
    """

    item_category: np.ndarray
    price: np.ndarray
    brand: np.ndarray
    category_start: np.ndarray
    segment_category_weight: np.ndarray
    item_cum: np.ndarray
    favourite_cum: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.item_category)

    @property
    def item_ids(self) -> list[str]:
        return [f"I{i:05d}" for i in range(1, self.n_items + 1)]

    @property
    def names(self) -> list[str]:
        cats = [spec.CATEGORIES[c].replace("_", " ") for c in self.item_category]
        return [f"{b} {c} #{i - self.category_start[k] + 1}"
                for i, (b, c, k) in enumerate(zip(self.brand, cats, self.item_category))]


def _block_cumsum(weights: np.ndarray, category_start: np.ndarray, offset: int) -> np.ndarray:
    """Per-category cumulative shares of ``weights``, shifted by ``offset + c``."""
    out = np.empty(len(weights))
    n_cat = len(category_start) - 1
    for c in range(n_cat):
        lo, hi = category_start[c], category_start[c + 1]
        w = np.cumsum(weights[lo:hi])
        out[lo:hi] = offset + c + w / w[-1]
        out[hi - 1] = offset + c + 1.0  # exact end of the block, whatever the rounding
    return out


def build_catalog(seed: int) -> Catalog:
    rng = rng_for(seed, 0)
    n_cat, per_cat = len(spec.CATEGORIES), spec.ITEMS_PER_CATEGORY
    item_category = np.repeat(np.arange(n_cat), per_cat)
    category_start = np.arange(n_cat + 1) * per_cat
    median = np.array([spec.CATEGORY_PRICE[c] for c in spec.CATEGORIES])[item_category]
    price = np.round(median * rng.lognormal(0.0, spec.PRICE_SIGMA, len(item_category)), 1)
    price = np.maximum(price, 0.5) - 0.01
    brands = np.array(spec.BRANDS + (spec.STORE_BRAND,))
    n_b = len(spec.BRANDS)
    p_brand = np.r_[np.full(n_b, (1 - spec.STORE_BRAND_SHARE) / n_b), spec.STORE_BRAND_SHARE]
    brand = brands[rng.choice(len(brands), len(item_category), p=p_brand)]
    # Zipf popularity over a random ranking inside each category.
    rank = np.concatenate([rng.permutation(per_cat) + 1 for _ in range(n_cat)])
    popularity = rank.astype(float) ** -spec.ZIPF_EXPONENT
    relative_price = price / median

    n_seg = len(spec.SEGMENTS)
    seg_cat = np.ones((n_seg, n_cat))
    item_cum = np.empty(n_seg * len(item_category))
    favourite_cum = np.empty_like(item_cum)
    for s, segment in enumerate(spec.SEGMENTS):
        for name in segment.preferred:
            seg_cat[s, spec.CATEGORIES.index(name)] = spec.PREFERRED_WEIGHT
        tilt = rng.lognormal(0.0, spec.SEGMENT_ITEM_TILT_SIGMA, len(item_category))
        w = popularity * tilt * relative_price**segment.price_exponent
        sl = slice(s * len(item_category), (s + 1) * len(item_category))
        item_cum[sl] = _block_cumsum(w, category_start, s * n_cat)
        favourite_cum[sl] = _block_cumsum(w**spec.FAVOURITE_TEMPER, category_start, s * n_cat)
    return Catalog(item_category, price, brand, category_start, seg_cat, item_cum, favourite_cum)


def pick_items(cum: np.ndarray, segment: np.ndarray, category: np.ndarray,
               u: np.ndarray, n_items: int) -> np.ndarray:
    """Draw one item per row from segment ``segment``'s weights in ``category``.

    All arrays have one entry per draw; ``u`` is uniform in [0, 1).
    """
    block = segment.astype(np.int64) * len(spec.CATEGORIES) + category
    pos = np.searchsorted(cum, block + u, side="right")
    return (pos - segment.astype(np.int64) * n_items).astype(np.int32)


@dataclass(frozen=True)
class Calendar:
    """Day-level purchase-rate multipliers over the window.

    ``cum[d]`` is the summed multiplier of days ``0 .. d-1`` (``cum[0] == 0``),
    so the expected purchases of a member active on days ``[a, b)`` are
    ``rate * (cum[b] - cum[a])``.
    """

    start: dt.date
    n_days: int
    cum: np.ndarray
    start_ns: int


def build_calendar(start: dt.date, n_days: int) -> Calendar:
    days = np.datetime64(start, "D") + np.arange(n_days)
    month = days.astype("datetime64[M]").astype(int) % 12
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    w = np.asarray(spec.MONTH_MULTIPLIER)[month] * np.asarray(spec.WEEKDAY_MULTIPLIER)[weekday]
    cum = np.r_[0.0, np.cumsum(w)]
    start_ns = int(np.datetime64(start, "ns").astype(np.int64))
    return Calendar(start, n_days, cum, start_ns)


@dataclass(frozen=True)
class Campaigns:
    """Offer campaigns, one offer each, sorted by send day.

    ``offer_id`` encodes the targeted category: ``OF007-coffee_tea``.
    """

    campaign_id: list[str]
    offer_id: list[str]
    send_day: np.ndarray  # (K,) int, day index in the window
    category: np.ndarray  # (K,) int
    offer_type: list[str]
    depth: np.ndarray  # (K,) float, value of the offer as a share of the price


def build_campaigns(seed: int, calendar: Calendar) -> Campaigns:
    rng = rng_for(seed, 0, 1)
    first = np.datetime64(calendar.start, "M")
    last = np.datetime64(calendar.start, "D") + calendar.n_days - 1
    months = np.arange(first, last.astype("datetime64[M]") + 1)
    days = []
    for m in months:
        lo = max((m.astype("datetime64[D]") - np.datetime64(calendar.start, "D")).astype(int), 0)
        hi = min(((m + 1).astype("datetime64[D]") - np.datetime64(calendar.start, "D")).astype(int),
                 calendar.n_days)
        days.extend(sorted(rng.integers(lo, hi, spec.CAMPAIGNS_PER_MONTH).tolist()))
    send_day = np.asarray(days, dtype=np.int64)
    n = len(send_day)
    n_cat = len(spec.CATEGORIES)
    # Cycle through shuffled categories so that every category gets campaigns.
    category = np.concatenate([rng.permutation(n_cat) for _ in range(n // n_cat + 1)])[:n]
    type_idx = rng.integers(0, len(spec.OFFER_TYPES), n)
    depth = np.asarray(spec.OFFER_DEPTHS)[rng.integers(0, len(spec.OFFER_DEPTHS), n)]
    campaign_id = [f"C{k + 1:03d}" for k in range(n)]
    offer_id = [f"OF{k + 1:03d}-{spec.CATEGORIES[c]}" for k, c in enumerate(category)]
    return Campaigns(campaign_id, offer_id, send_day, category,
                     [spec.OFFER_TYPES[t] for t in type_idx], depth)

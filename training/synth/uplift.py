"""Planted treatment effects of the synthetic offers, and the control group that reveals them.

Private helpers of :mod:`training.synth.generate` (inputs are assumed valid),
drawing from their own random stream ``(seed, 3, chunk)`` so that the
purchases and offer events drawn before them are the same as without them.

Per member and offer type (:data:`spec.OFFER_TYPES`) a group
(:data:`spec.UPLIFT_GROUPS`) is drawn with probabilities that depend on the
member's segment (:data:`spec.UPLIFT_GROUP_PROBABILITY`):

- **persuadable**: a sent offer of that type makes them, with probability
  :data:`spec.PERSUADE_PROBABILITY`, buy one extra basket of the offer's
  category within :data:`spec.UPLIFT_WINDOW_DAYS` of the send;
- **sleeping dog**: a sent offer makes them, with probability
  :data:`spec.SLEEPING_DOG_PROBABILITY`, stay away for the whole window
  (their purchases in it are removed);
- **sure thing** (purchase rate above their segment's) and **lost cause**
  (below): no effect.

Campaigns get a randomised control group: eligible members not sent the
campaign are held out (``holdout`` events) at a rate that makes
:data:`spec.HOLDOUT_SHARE` of each campaign's chosen members the control.
Since sends are themselves a uniform draw among eligible members, sent and
held-out members of a campaign are exchangeable.

The true effects written to ``truth/uplift.parquet`` are expectations per
send of an offer of that type (averaged over this data set's campaigns of the
type), ignoring churn and the calendar: spend is the change in money spent in
the window, retention the change in the probability of buying at all in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.contract import EVENT_TYPES
from training.synth import spec
from training.synth.activity import (
    MAX_BASKETS_PER_MEMBER,
    NS,
    Lines,
    OfferEvents,
    campaign_eligibility,
)
from training.synth.catalog import Calendar, Campaigns, Catalog, pick_items
from training.synth.members import NS_PER_DAY, MemberChunk

SENT, HOLDOUT = EVENT_TYPES.index("sent"), EVENT_TYPES.index("holdout")
PERSUADABLE, SURE_THING, SLEEPING_DOG, LOST_CAUSE = range(len(spec.UPLIFT_GROUPS))
#: A persuaded member's extra basket is numbered ``EXTRA_BASKET_SEQ + campaign``
#: among the member's baskets (their ordinary baskets number far fewer).
EXTRA_BASKET_SEQ = 9_000


@dataclass
class PlantedUplift:
    """The chunk's lines and offer events with the effects and holdouts planted, and the truth.

    ``group``, ``effect_spend`` and ``effect_retention`` are (members, offer types),
    offer types in the order of :data:`spec.OFFER_TYPES`.
    """

    lines: Lines
    events: OfferEvents
    group: np.ndarray
    effect_spend: np.ndarray
    effect_retention: np.ndarray


def assign_groups(rng: np.random.Generator, members: MemberChunk) -> np.ndarray:
    """(members, offer types) int8 group index into :data:`spec.UPLIFT_GROUPS`."""
    n = len(members)
    typical = np.asarray([s.baskets_per_month for s in spec.SEGMENTS])[members.segment]
    busy = members.rate > typical / (365.25 / 12)
    group = np.empty((n, len(spec.OFFER_TYPES)), np.int8)
    for t, name in enumerate(spec.OFFER_TYPES):
        p = np.asarray(spec.UPLIFT_GROUP_PROBABILITY[name])[members.segment]
        u = rng.random(n)
        group[:, t] = np.where(u < p[:, 0], PERSUADABLE,
                               np.where(u < p[:, 0] + p[:, 1], SLEEPING_DOG,
                                        np.where(busy, SURE_THING, LOST_CAUSE)))
    return group


def expected_price(catalog: Catalog) -> np.ndarray:
    """(segments, categories): mean price of an item a segment picks in a category."""
    n_items, n_cat = catalog.n_items, len(spec.CATEGORIES)
    starts = catalog.category_start[:-1]
    out = np.empty((len(spec.SEGMENTS), n_cat))
    for s in range(len(spec.SEGMENTS)):
        frac = catalog.item_cum[s * n_items:(s + 1) * n_items] - (s * n_cat
                                                                   + catalog.item_category)
        weight = np.diff(frac, prepend=0.0)
        weight[starts] = frac[starts]
        out[s] = np.bincount(catalog.item_category, weight * catalog.price, minlength=n_cat)
    return out


def _paid_share(campaigns: Campaigns) -> np.ndarray:
    """(campaigns,) share of the shelf price paid on an extra basket (percent_off: less depth)."""
    percent = np.asarray([t == "percent_off" for t in campaigns.offer_type])
    return np.where(percent, 1.0 - campaigns.depth, 1.0)


def true_effects(members: MemberChunk, lines: Lines, catalog: Catalog,
                 campaigns: Campaigns, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected change in window spend and in P(any purchase in the window) per send."""
    n, window = len(members), spec.UPLIFT_WINDOW_DAYS
    price = expected_price(catalog)[members.segment]  # (n, categories)
    paid = _paid_share(campaigns)
    extra = np.empty((n, len(spec.OFFER_TYPES)))
    for t, name in enumerate(spec.OFFER_TYPES):
        of_type = np.asarray([x == name for x in campaigns.offer_type])
        if of_type.any():
            extra[:, t] = (price[:, campaigns.category[of_type]] * paid[of_type]).mean(axis=1)
        else:
            extra[:, t] = price.mean(axis=1)
    extra *= spec.PERSUADE_PROBABILITY * (1 + spec.UPLIFT_EXTRA_LINES)
    spend = np.bincount(lines.member, lines.amount, minlength=n)
    active = np.maximum(members.active_to - members.active_from, 1)
    lost = spec.SLEEPING_DOG_PROBABILITY * (spend / active * window)
    p_none = np.exp(-members.rate * window)
    effect_spend = np.where(group == PERSUADABLE, extra,
                            np.where(group == SLEEPING_DOG, -lost[:, None], 0.0))
    effect_retention = np.where(
        group == PERSUADABLE, spec.PERSUADE_PROBABILITY * p_none[:, None],
        np.where(group == SLEEPING_DOG, -spec.SLEEPING_DOG_PROBABILITY * (1 - p_none)[:, None],
                 0.0))
    return effect_spend, effect_retention


def _holdouts(rng: np.random.Generator, members: MemberChunk, campaigns: Campaigns,
              calendar: Calendar, events: OfferEvents) -> OfferEvents:
    """``events`` with each campaign's randomised holdout events added, re-sorted."""
    n, k = len(members), len(campaigns.send_day)
    day_ns, eligible = campaign_eligibility(members, campaigns, calendar)
    is_sent = events.event == SENT
    sent = np.zeros((k, n), bool)
    sent[events.campaign[is_sent], events.member[is_sent]] = True
    s, h = spec.SEND_SHARE, spec.HOLDOUT_SHARE
    held = eligible & ~sent & (rng.random((k, n)) < h * s / ((1 - h) * (1 - s)))
    hk, hm = np.nonzero(held)
    stamp = day_ns[hk] + rng.integers(0, 3 * 3600, len(hk)) * NS
    channel = np.argmax(rng.random((len(hk), 3)) * members.opt_in[hm], axis=1)
    member = np.r_[events.member, hm]
    campaign = np.r_[events.campaign, hk]
    event = np.r_[events.event, np.full(len(hk), HOLDOUT, np.int8)]
    timestamp = np.r_[events.timestamp, stamp]
    chan = np.r_[events.channel, channel]
    number = np.r_[events.event_number, (members.number[hm] * 1000 + hk) * 10 + HOLDOUT]
    order = np.lexsort((event, timestamp, member))
    return OfferEvents(member[order], campaign[order], event[order], timestamp[order],
                       chan[order], number[order])


def _treated_lines(rng: np.random.Generator, members: MemberChunk, lines: Lines,
                   events: OfferEvents, catalog: Catalog, campaigns: Campaigns,
                   calendar: Calendar, group: np.ndarray) -> Lines:
    """``lines`` with persuaded members' extra baskets added and sleeping dogs' removed."""
    is_sent = events.event == SENT
    ms, ks, ts = events.member[is_sent], events.campaign[is_sent], events.timestamp[is_sent]
    type_idx = np.asarray([spec.OFFER_TYPES.index(t) for t in campaigns.offer_type])
    g = group[ms, type_idx[ks]]
    window_s = spec.UPLIFT_WINDOW_DAYS * 86_400
    end_ns = calendar.start_ns + calendar.n_days * NS_PER_DAY
    churn_ns = np.where(members.churn_day >= 0,
                        calendar.start_ns + members.churn_day * NS_PER_DAY, end_ns)
    gone = np.minimum(churn_ns, end_ns)[ms]
    extra_ts = ts + (rng.random(len(ms)) * window_s).astype(np.int64) * NS
    persuaded = ((g == PERSUADABLE) & (rng.random(len(ms)) < spec.PERSUADE_PROBABILITY)
                 & (extra_ts < gone))
    sleeping = (g == SLEEPING_DOG) & (rng.random(len(ms)) < spec.SLEEPING_DOG_PROBABILITY)

    # Sleeping dogs: drop the member's lines in [send, send + window).
    span = (calendar.n_days + spec.UPLIFT_WINDOW_DAYS + 1) * 86_400
    key = lines.member.astype(np.int64) * span + (lines.timestamp - calendar.start_ns) // NS
    start = ms[sleeping].astype(np.int64) * span + (ts[sleeping] - calendar.start_ns) // NS
    lo = np.searchsorted(key, start, side="left")
    hi = np.searchsorted(key, start + window_s, side="left")
    cover = np.zeros(len(lines) + 1, np.int64)
    np.add.at(cover, lo, 1)
    np.add.at(cover, hi, -1)
    keep = np.cumsum(cover[:-1]) == 0

    # Persuaded members: one extra basket of the offer's category.
    pm, pk, pts = ms[persuaded], ks[persuaded], extra_ts[persuaded]
    n_lines = 1 + rng.poisson(spec.UPLIFT_EXTRA_LINES, len(pm))
    row = np.repeat(np.arange(len(pm)), n_lines)
    lm = pm[row]
    item = pick_items(catalog.item_cum, members.segment[lm], campaigns.category[pk[row]],
                      rng.random(len(row)), catalog.n_items)
    price = catalog.price[item]
    discount = np.round(price * (1.0 - _paid_share(campaigns)[pk[row]]), 2)
    extra = Lines(
        member=lm, timestamp=pts[row], item=item, quantity=np.ones(len(row)),
        amount=np.round(price - discount, 2),
        basket_id=members.number[lm] * MAX_BASKETS_PER_MEMBER + EXTRA_BASKET_SEQ + pk[row],
        discount=discount, store=members.home_store[lm],
        channel=np.zeros(len(row), lines.channel.dtype),
    )
    fields = ("member", "timestamp", "item", "quantity", "amount", "basket_id", "discount",
              "store", "channel")
    merged = {f: np.r_[getattr(lines, f)[keep], getattr(extra, f).astype(getattr(lines, f).dtype)]
              for f in fields}
    order = np.lexsort((merged["basket_id"], merged["timestamp"], merged["member"]))
    return Lines(**{f: v[order] for f, v in merged.items()})


def plant_uplift(rng: np.random.Generator, members: MemberChunk, lines: Lines,
                 events: OfferEvents, catalog: Catalog, campaigns: Campaigns,
                 calendar: Calendar) -> PlantedUplift:
    """Draw groups and holdouts, apply the effects of the sends, and compute the truth.

    ``rng`` is the chunk's own uplift stream; ``lines`` and ``events`` are the
    chunk's untreated purchases and its offer events.
    """
    group = assign_groups(rng, members)
    effect_spend, effect_retention = true_effects(members, lines, catalog, campaigns, group)
    events = _holdouts(rng, members, campaigns, calendar, events)
    lines = _treated_lines(rng, members, lines, events, catalog, campaigns, calendar, group)
    return PlantedUplift(lines, events, group, effect_spend, effect_retention)

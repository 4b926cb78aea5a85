"""Purchases and offer events of one chunk of synthetic members (vectorised).

Private helpers of :mod:`training.synth.generate`: inputs are assumed valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synth import spec
from training.synth.catalog import Calendar, Campaigns, Catalog, pick_items
from training.synth.members import NS_PER_DAY, MemberChunk, birthday_windows

NS = 10**9
MAX_BASKETS_PER_MEMBER = 10_000  # basket_id = member number * 10_000 + sequence


@dataclass
class Lines:
    """Transaction lines of a chunk, sorted by member and time.

    ``member`` indexes the chunk's members, ``item`` the catalogue, ``store``
    is 0 for online baskets and the store number otherwise, ``channel``
    indexes :data:`spec.BASKET_CHANNELS`.
    """

    member: np.ndarray
    timestamp: np.ndarray  # int64 ns
    item: np.ndarray
    quantity: np.ndarray
    amount: np.ndarray
    basket_id: np.ndarray
    discount: np.ndarray
    store: np.ndarray
    channel: np.ndarray

    def __len__(self) -> int:
        return len(self.member)


def _segment_column(attr: str, segment: np.ndarray) -> np.ndarray:
    return np.asarray([getattr(s, attr) for s in spec.SEGMENTS])[segment]


def _draw_baskets(rng: np.random.Generator, members: MemberChunk,
                  calendar: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Basket days and members: a Poisson process whose rate follows the calendar.

    Returns ``(member row, day index)`` per basket, unsorted.
    """
    n = len(members)
    b_rows, b_lo, b_hi = birthday_windows(members, calendar)
    rows = np.r_[np.arange(n), b_rows]
    lo = np.r_[members.active_from, b_lo]
    hi = np.r_[np.maximum(members.active_to, members.active_from), b_hi]
    mult = np.r_[np.ones(n), np.full(len(b_rows), spec.BIRTHDAY_BOOST)]
    cum = calendar.cum
    mass = cum[hi] - cum[lo]
    counts = rng.poisson(members.rate[rows] * mult * mass)
    idx = np.repeat(np.arange(len(rows)), counts)
    u = cum[lo[idx]] + rng.random(len(idx)) * mass[idx]
    day = np.clip(np.searchsorted(cum, u, side="right") - 1, lo[idx], hi[idx] - 1)
    return rows[idx], day


def make_lines(rng: np.random.Generator, members: MemberChunk, catalog: Catalog,
               calendar: Calendar) -> Lines:
    n_cat = len(spec.CATEGORIES)
    member, day = _draw_baskets(rng, members, calendar)
    hour_p = np.asarray(spec.HOUR_WEIGHTS) / np.sum(spec.HOUR_WEIGHTS)
    second = rng.choice(24, len(day), p=hour_p) * 3600 + rng.integers(0, 3600, len(day))
    # Sort baskets by member, then time; number them per member.
    key = (member * calendar.n_days + day) * 86_400 + second
    order = np.argsort(key, kind="stable")
    member, day, second = member[order], day[order], second[order]
    per_member = np.bincount(member, minlength=len(members))
    seq = np.arange(len(member)) - (np.cumsum(per_member) - per_member)[member]
    keep = seq < MAX_BASKETS_PER_MEMBER
    member, day, second, seq = member[keep], day[keep], second[keep], seq[keep]
    n_baskets = len(member)
    basket_id = members.number[member] * MAX_BASKETS_PER_MEMBER + seq
    basket_ts = calendar.start_ns + day * NS_PER_DAY + second * NS
    segment = members.segment[member]

    # Channel and store of each basket.
    p = np.cumsum(_segment_column("channels", segment), axis=1)
    u = rng.random(n_baskets)
    channel = (u >= p[:, 0]).astype(np.int8) + (u >= p[:, 1])
    at_home = rng.random(n_baskets) < spec.HOME_STORE_SHARE
    store = np.where(at_home, members.home_store[member],
                     rng.integers(1, spec.N_STORES + 1, n_baskets))
    store = np.where(channel == 0, store, 0)

    n_lines = 1 + rng.poisson(np.maximum(members.basket_size[member] - 1, 0))
    line_basket = np.repeat(np.arange(n_baskets), n_lines)
    lm = member[line_basket]
    n = len(lm)

    # Category from the member's affinities: rows of the cumulative affinity,
    # offset by the row number, are one increasing array.
    cum_aff = np.cumsum(members.affinity, axis=1)
    cum_aff[:, -1] = 1.0
    cum_aff += np.arange(len(members))[:, None]
    category = np.searchsorted(cum_aff.ravel(), lm + rng.random(n), side="right") - lm * n_cat
    category = np.clip(category, 0, n_cat - 1)

    # Item: a personal favourite or a draw from the segment's item weights.
    favourite = rng.random(n) < members.repeat_share[lm]
    item = np.empty(n, dtype=np.int32)
    f = np.flatnonzero(favourite)
    rank = np.searchsorted(np.cumsum(spec.FAVOURITE_WEIGHTS)[:-1], rng.random(len(f)),
                           side="right")
    item[f] = members.favourites[lm[f], category[f], rank]
    o = np.flatnonzero(~favourite)
    item[o] = pick_items(catalog.item_cum, members.segment[lm[o]], category[o],
                         rng.random(len(o)), catalog.n_items)

    line_segment = members.segment[lm]
    quantity = (1 + rng.poisson(_segment_column("extra_quantity", line_segment))).astype(float)
    gross = quantity * catalog.price[item]
    on_discount = rng.random(n) < _segment_column("discount_rate", line_segment)
    depth = np.asarray(spec.DISCOUNT_DEPTHS)[rng.integers(0, len(spec.DISCOUNT_DEPTHS), n)]
    discount = np.round(np.where(on_discount, gross * depth, 0.0), 2)
    amount = np.round(gross - discount, 2)
    return Lines(member=lm, timestamp=basket_ts[line_basket], item=item, quantity=quantity,
                 amount=amount, basket_id=basket_id[line_basket], discount=discount,
                 store=store[line_basket], channel=channel[line_basket])


@dataclass
class OfferEvents:
    """Offer events of a chunk, sorted by member and time.

    ``event`` indexes :data:`features.contract.EVENT_TYPES`, ``channel``
    :data:`spec.OFFER_CHANNELS`, ``campaign`` the campaigns.
    """

    member: np.ndarray
    campaign: np.ndarray
    event: np.ndarray
    timestamp: np.ndarray  # int64 ns
    channel: np.ndarray
    event_number: np.ndarray  # int64, unique in the data set

    def __len__(self) -> int:
        return len(self.member)


def campaign_eligibility(members: MemberChunk, campaigns: Campaigns,
                         calendar: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """``(day_ns, eligible)``: each campaign's send time (9:00 of its day, int64 ns) and
    the (campaigns, members) bool matrix of members it may go to (joined, opted in)."""
    day_ns = calendar.start_ns + campaigns.send_day * NS_PER_DAY + 9 * 3600 * NS
    eligible = (members.joined_ns[None, :] < day_ns[:, None]) & members.opt_in.any(axis=1)
    return day_ns, eligible


def make_offer_events(rng: np.random.Generator, members: MemberChunk, campaigns: Campaigns,
                      calendar: Calendar) -> OfferEvents:
    n, k = len(members), len(campaigns.send_day)
    day_ns, eligible = campaign_eligibility(members, campaigns, calendar)
    sent = eligible & (rng.random((k, n)) < spec.SEND_SHARE)
    ks, ms = np.nonzero(sent)
    m = len(ks)
    # A channel the member opted in to, uniformly.
    channel = np.argmax(rng.random((m, 3)) * members.opt_in[ms], axis=1)
    sent_ts = day_ns[ks] + rng.integers(0, 3 * 3600, m) * NS

    end_ns = calendar.start_ns + calendar.n_days * NS_PER_DAY
    churn_ns = np.where(members.churn_day >= 0,
                        calendar.start_ns + members.churn_day * NS_PER_DAY, end_ns)
    gone = np.minimum(churn_ns, end_ns)[ms]  # no reaction once churned or past the window
    view_delay = np.minimum(rng.exponential(spec.VIEW_DELAY_HOURS * 3600, m), 72 * 3600)
    view_ts = sent_ts + view_delay.astype(np.int64) * NS
    viewed = (rng.random(m) < np.asarray(spec.VIEW_PROBABILITY)[channel]) & (view_ts < gone)

    category = campaigns.category[ks]
    relative = np.maximum(members.affinity[ms, category] * len(spec.CATEGORIES), 1e-12)
    b0, b1, b2 = spec.REDEEM_COEF
    p_redeem = 1 / (1 + np.exp(-(b0 + b1 * np.log(relative) + b2 * campaigns.depth[ks])))
    redeem_ts = view_ts + rng.exponential(spec.REDEEM_DELAY_DAYS * 86_400, m).astype(np.int64) * NS
    redeemed = (viewed & (rng.random(m) < p_redeem) & (redeem_ts < gone)
                & (redeem_ts < sent_ts + spec.OFFER_VALID_DAYS * NS_PER_DAY))
    dismiss_ts = view_ts + rng.integers(5, 300, m) * NS
    dismissed = (viewed & ~redeemed & (rng.random(m) < spec.DISMISS_PROBABILITY)
                 & (dismiss_ts < gone))

    picks = [np.ones(m, bool), viewed, redeemed, dismissed]
    stamps = [sent_ts, view_ts, redeem_ts, dismiss_ts]
    sel = [np.flatnonzero(p) for p in picks]
    member = np.concatenate([ms[s] for s in sel])
    campaign = np.concatenate([ks[s] for s in sel])
    event = np.concatenate([np.full(len(s), e, np.int8) for e, s in enumerate(sel)])
    timestamp = np.concatenate([t[s] for t, s in zip(stamps, sel)])
    chan = np.concatenate([channel[s] for s in sel])
    order = np.lexsort((event, timestamp, member))
    member, campaign, event = member[order], campaign[order], event[order]
    event_number = (members.number[member] * 1000 + campaign) * 10 + event
    return OfferEvents(member, campaign, event, timestamp[order], chan[order], event_number)

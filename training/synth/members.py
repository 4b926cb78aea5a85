"""Latent and observed attributes of one chunk of synthetic members."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synth import spec
from training.synth.catalog import Calendar, Catalog, pick_items

NS_PER_DAY = 86_400 * 10**9


@dataclass
class MemberChunk:
    """One chunk of members; arrays have one row per member.

    Day indices count from the window's first day; ``active_to`` and
    ``churn_day`` are exclusive: a member who churns on day ``d`` buys on no
    day ``>= d``.
    """

    number: np.ndarray  # (M,) int64, global 1-based member number
    segment: np.ndarray  # (M,) int
    affinity: np.ndarray  # (M, C) float, rows sum to 1
    favourites: np.ndarray  # (M, C, FAVOURITES_PER_CATEGORY) int32 item indices
    repeat_share: np.ndarray  # (M,) share of lines bought from favourites
    rate: np.ndarray  # (M,) baskets per day at multiplier 1
    basket_size: np.ndarray  # (M,) mean lines per basket
    joined_ns: np.ndarray  # (M,) int64 ns since the epoch
    active_from: np.ndarray  # (M,) first day index with purchases
    active_to: np.ndarray  # (M,) exclusive end day index
    churn_day: np.ndarray  # (M,) day index of churn, -1 if the member stays
    birth: np.ndarray  # (M,) datetime64[D], the true birthday
    birthday_known: np.ndarray  # (M,) bool, False: missing from members.parquet
    opt_in: np.ndarray  # (M, 3) bool: email, sms, push
    plus: np.ndarray  # (M,) bool, paid plan
    trial: np.ndarray  # (M,) bool, plus on a free trial
    home_store: np.ndarray  # (M,) int, 1-based store number
    referrals: np.ndarray  # (M,) int

    def __len__(self) -> int:
        return len(self.number)


def _column(attr: str, segment: np.ndarray) -> np.ndarray:
    return np.asarray([getattr(s, attr) for s in spec.SEGMENTS])[segment]


def make_members(rng: np.random.Generator, first_number: int, n: int,
                 catalog: Catalog, calendar: Calendar) -> MemberChunk:
    """Draw ``n`` members numbered from ``first_number`` (vectorised)."""
    n_cat, n_days = len(spec.CATEGORIES), calendar.n_days
    shares = np.asarray([s.share for s in spec.SEGMENTS])
    segment = rng.choice(len(shares), n, p=shares / shares.sum())

    # Category affinities: Dirichlet around the segment's category weights.
    mean = catalog.segment_category_weight[segment]
    alpha = spec.AFFINITY_CONCENTRATION * mean / mean.sum(axis=1, keepdims=True)
    g = rng.standard_gamma(alpha)
    affinity = g / g.sum(axis=1, keepdims=True)

    k = spec.FAVOURITES_PER_CATEGORY
    seg_rep = np.repeat(segment, n_cat * k)
    cat_rep = np.tile(np.repeat(np.arange(n_cat), k), n)
    favourites = pick_items(catalog.favourite_cum, seg_rep, cat_rep,
                            rng.random(n * n_cat * k), catalog.n_items).reshape(n, n_cat, k)
    repeat_share = rng.beta(*spec.REPEAT_BETA, n)

    plus = rng.random(n) < _column("paid_plan", segment)
    trial = ~plus & (rng.random(n) < spec.TRIAL_SHARE)
    plus |= trial
    rate = (_column("baskets_per_month", segment) / (365.25 / 12)
            * rng.gamma(spec.RATE_GAMMA_SHAPE, 1 / spec.RATE_GAMMA_SHAPE, n)
            * np.where(plus & ~trial, spec.PLUS_RATE_MULTIPLIER, 1.0))
    basket_size = _column("lines_per_basket", segment) * rng.lognormal(
        -spec.BASKET_SIZE_SIGMA**2 / 2, spec.BASKET_SIZE_SIGMA, n)

    # Joining: most before the window, some during it (never in its last week).
    new = rng.random(n) < spec.NEW_MEMBER_SHARE
    joined_days = np.where(new, rng.random(n) * max(n_days - 7, 1),
                           -rng.random(n) * spec.MAX_TENURE_DAYS)
    joined_ns = calendar.start_ns + np.floor(joined_days * 86_400).astype(np.int64) * 10**9
    active_from = np.where(new, np.floor(joined_days).astype(np.int64) + 1, 0)

    # Churn: a uniform day between CHURN_MIN_DAYS (or 14 days after joining) and the end.
    p_churn = _column("churn_probability", segment) * np.where(
        plus & ~trial, spec.PLUS_CHURN_MULTIPLIER, 1.0)
    lo = np.maximum(active_from + 14, spec.CHURN_MIN_DAYS)
    churns = (rng.random(n) < p_churn) & (lo < n_days)
    churn_day = np.where(churns, lo + np.floor(rng.random(n) * (n_days - lo)).astype(np.int64), -1)
    active_to = np.where(churns, churn_day, n_days)

    end = np.datetime64(calendar.start, "D") + n_days - 1
    age_days = np.clip(rng.normal(_column("age_mean", segment), _column("age_sd", segment)),
                       18, 90) * 365.25
    birth = end - np.floor(age_days).astype("timedelta64[D]")
    birthday_known = rng.random(n) >= spec.BIRTHDAY_MISSING

    opt_in = rng.random((n, 3)) < _column("opt_in", segment)
    return MemberChunk(
        number=np.arange(first_number, first_number + n, dtype=np.int64),
        segment=segment, affinity=affinity, favourites=favourites,
        repeat_share=repeat_share, rate=rate, basket_size=basket_size,
        joined_ns=joined_ns, active_from=active_from, active_to=active_to,
        churn_day=churn_day, birth=birth, birthday_known=birthday_known, opt_in=opt_in,
        plus=plus, trial=trial, home_store=rng.integers(1, spec.N_STORES + 1, n),
        referrals=rng.poisson(_column("referrals", segment)),
    )


def birthday_windows(members: MemberChunk, calendar: Calendar) -> tuple[np.ndarray, ...]:
    """Active day ranges around each birthday: ``(member row, first day, end day)``.

    Only non-empty ranges are returned; a window of several years has one per year.
    """
    start = np.datetime64(calendar.start, "D")
    # From the year before the start: a birthday on 31 December bumps early January.
    years = np.arange(start.astype("datetime64[Y]") - 1,
                      (start + calendar.n_days).astype("datetime64[Y]") + 1)
    birth_month = members.birth.astype("datetime64[M]")
    day_in_month = (members.birth - birth_month.astype("datetime64[D]")).astype(np.int64)
    month_in_year = (birth_month - members.birth.astype("datetime64[Y]")).astype(np.int64)
    rows, los, his = [], [], []
    for y in years:
        bday = ((y.astype("datetime64[M]") + month_in_year).astype("datetime64[D]")
                + day_in_month - start).astype(np.int64)
        lo = np.maximum(bday - spec.BIRTHDAY_HALF_WIDTH, members.active_from)
        hi = np.minimum(bday + spec.BIRTHDAY_HALF_WIDTH + 1, members.active_to)
        keep = lo < hi
        rows.append(np.flatnonzero(keep))
        los.append(lo[keep])
        his.append(hi[keep])
    return np.concatenate(rows), np.concatenate(los), np.concatenate(his)

"""Eligibility and expected value of every template for a batch of members, as arrays.

For members ``m`` (rows of the bundle's member table, -1 for a member the
version does not know) and templates ``t``::

    p(m, t)     = clip(model(m, t), 0, p_max)   (the trained offer-response model)
                  or, for a type the model never saw or a version without one,
                  clip(prior(t) * responsiveness(m) * (0.5 + 0.5 * lift(m, t)), 0, p_max)
    cost(m, t)  = what one redemption costs (from the value kind, see docs/catalog.md)
    value(m, t) = margin * incremental_share(t) * trip(m, t) + business_value(t)
    EV(m, t)    = p * (value - cost) - send_cost(channel)

and for retention offers, whose incentive is costed in full (the member it
keeps is one who uses it)::

    saved(m, t) = churn_risk(m) * margin * clv(m) * effect(100 * cost / basket(m))
    EV(m, t)    = p * value + saved - cost - send_cost(channel)

and, for templates of an offer type whose uplift model validated better than
random (:mod:`serving.engine.uplift`), the expected *incremental* profit::

    EV(m, t)    = margin * uplift_spend(m, type(t)) + p * (business_value(t) - cost)
                  - send_cost(channel)

with ``effect(x) = effect_max * x / (x + half_effect)`` from the catalog's
retention section. ``lift`` is the member's purchase share in the target
category over everyone's (1 for whole-basket offers and members without
purchases), capped at ``lift_cap``. A retention offer with ``depths`` takes,
per member, the depth with the highest EV among those costing at most
``max_clv_share * clv``.

The work is split in two: :func:`static_scores` (everything that depends on
the member and the catalog only; :func:`with_static_scores` precomputes it for
every member when that fits in memory) and :func:`moment_mask` (channel,
consent, dates, birthdays and anniversaries at ``now``). :func:`score_members`
combines them; the same code scores one member for the app and a million for
a campaign.

Every function reads a :class:`~serving.engine.scoring_context.ScoringContext`
(built once by the engine) and writes nothing but its results; the one memo,
of :func:`channel_dates`, is owned by the context's
:class:`~serving.engine.scoring_context.LastAnswer`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from serving.engine.catalog.schema import CHANNELS, RANGE_FIELDS
from serving.engine.response_model import model_p
from serving.engine.scoring_context import Scored, ScoringContext
from serving.engine.template_arrays import AUDIENCE_CODE, TARGET_CODE, VALUE_CODE

_DAY = np.timedelta64(1, "D")
_KNOWN_ONLY, _UNKNOWN_ONLY = AUDIENCE_CODE["known"], AUDIENCE_CODE["unknown"]
_BASKET, _RECOMMENDED = TARGET_CODE["basket"], TARGET_CODE["recommended"]
_PERCENT = (VALUE_CODE["percent_off"], VALUE_CODE["cashback_percent"])
_POINTS = (VALUE_CODE["bonus_points"], VALUE_CODE["points_donation"])


def score_members(ctx: ScoringContext, rows: np.ndarray, now: np.datetime64, channel: str,
                  min_ev: float = 0.0) -> Scored:
    """Score ``rows`` (member table rows, -1 unknown) for every template at ``now`` on ``channel``.

    Assumes valid inputs (the engine validates the channel and ``now``).
    """
    rows = np.asarray(rows, dtype=np.int64)
    static = static_for(ctx, rows)
    ev = static.ev - ctx.catalog.economics.send_cost[channel]
    eligible = static.eligible & moment_mask(ctx, rows, now, channel) & (ev > min_ev)
    return Scored(eligible, static.p, static.cost, np.where(eligible, ev, -np.inf),
                  static.amount, static.category, static.item, static.share)


def static_for(ctx: ScoringContext, rows: np.ndarray) -> Scored:
    """Member-only scores of member table ``rows`` (-1: unknown): the precomputed ones
    (``ctx.static``) when there are, else :func:`static_scores`."""
    static = ctx.static
    if static is None:
        return static_scores(ctx, rows)
    last = len(static.p) - 1
    if len(rows) == 1:  # one request: read-only views of the row, no copies
        row = int(rows[0])
        return static.rows(row if row >= 0 else last)
    return static.take(np.where(rows >= 0, rows, last))


def with_static_scores(ctx: ScoringContext, chunk: int = 20_000) -> ScoringContext:
    """``ctx`` with ``static``: member-only scores of every member, then one row for unknown
    members, in compact dtypes and read-only (shared by every request and forked worker)."""
    rows = np.append(np.arange(len(ctx.bundle.members), dtype=np.int64), -1)
    parts = [static_scores(ctx, rows[i:i + chunk]) for i in range(0, len(rows), chunk)]
    dtypes = {"eligible": bool, "p": np.float32, "cost": np.float32, "ev": np.float32,
              "amount": np.float32, "category": np.int32, "item": np.int32,
              "share": np.float32}
    static = Scored(**{f: np.concatenate([getattr(p, f) for p in parts]).astype(d)
                       for f, d in dtypes.items()})
    for name in dtypes:
        getattr(static, name).flags.writeable = False
    return dataclasses.replace(ctx, static=static)


def moment_mask(ctx: ScoringContext, rows: np.ndarray, now: np.datetime64,
                channel: str) -> np.ndarray:
    """(n, T) bool: the channel, consent, date, season, birthday and anniversary rules.

    One row (a request) takes :func:`moment_mask_one`, the same rules on scalars.
    """
    if len(rows) == 1:
        return moment_mask_one(ctx, int(rows[0]), now, channel)[None, :]
    T, bundle, catalog = ctx.templates, ctx.bundle, ctx.catalog
    known = rows >= 0
    safe = np.maximum(rows, 0)
    num = bundle.members.numeric
    ok = np.broadcast_to(T.channel[:, CHANNELS.index(channel)] & in_dates(T, now),
                         (len(rows), T.n)).copy()
    field = catalog.consent_fields[channel]
    if field is not None:
        consent = np.where(known, bundle.members.consent[field][safe], -1)
        allowed = (consent == 1) | ((consent == -1) & (catalog.consent_unknown == "allow"))
        ok &= allowed[:, None]
    if ctx.has_calendar_rules:
        elapsed = float((now - ctx.as_of_day) // _DAY)
        birthday = np.where(known, (num["days_to_next_birthday"][safe] - elapsed) % 365, np.nan)
        rule = np.isfinite(T.birthday_within)[None, :]
        ok &= ~rule | (birthday[:, None] <= T.birthday_within[None, :])
        tenure = np.where(known, num["tenure_days"][safe] + elapsed, np.nan)
        to_anniversary = (-np.floor(tenure)) % 365
        rule = np.isfinite(T.anniversary_within)[None, :]
        ok &= ~rule | ((to_anniversary[:, None] <= T.anniversary_within[None, :])
                       & ((tenure + to_anniversary)[:, None] >= 365))
    return ok


def moment_mask_one(ctx: ScoringContext, row: int, now: np.datetime64,
                    channel: str) -> np.ndarray:
    """(T,) bool: :func:`moment_mask` of one member table ``row`` (-1: unknown), on scalars.

    The channel and date rules of every template depend on ``now`` and the
    channel only: they are computed once per second and channel
    (:func:`channel_dates`); the member's consent, birthday and anniversary
    are then a few scalar operations instead of (1, T) array ones.
    """
    T, bundle, catalog = ctx.templates, ctx.bundle, ctx.catalog
    known = row >= 0
    ok = channel_dates(ctx, now, channel)
    field = catalog.consent_fields[channel]
    if field is not None:
        consent = int(bundle.members.consent[field][row]) if known else -1
        if not (consent == 1 or (consent == -1 and catalog.consent_unknown == "allow")):
            return np.zeros(T.n, dtype=bool)
    if not ctx.has_calendar_rules:
        return ok.copy()
    return ok & calendar_mask(ctx, row, float((now - ctx.as_of_day) // _DAY))


def calendar_mask(ctx: ScoringContext, row: int, elapsed: float) -> np.ndarray:
    """(T,) bool: the birthday and anniversary rules of member table ``row`` (-1: unknown)
    ``elapsed`` days after the version's ``as_of`` day (templates without a rule: True)."""
    T, num = ctx.templates, ctx.bundle.members.numeric
    known = row >= 0
    birthday = (num["days_to_next_birthday"][row] - elapsed) % 365 if known else np.nan
    ok = ~np.isfinite(T.birthday_within) | (birthday <= T.birthday_within)
    tenure = num["tenure_days"][row] + elapsed if known else np.nan
    to_anniversary = (-np.floor(tenure)) % 365
    if not (tenure + to_anniversary >= 365):
        return ok & ~np.isfinite(T.anniversary_within)
    return ok & (~np.isfinite(T.anniversary_within) | (to_anniversary <= T.anniversary_within))


def channel_dates(ctx: ScoringContext, now: np.datetime64, channel: str) -> np.ndarray:
    """(T,) bool, read-only: templates on ``channel`` and inside their dates and season at
    ``now``; the last answer is kept in ``ctx.channel_dates_memo`` (requests within a second
    share it; see :class:`~serving.engine.scoring_context.LastAnswer` for threads)."""
    key = (now, channel)
    ok = ctx.channel_dates_memo.get(key)
    if ok is not None:
        return ok
    T = ctx.templates
    ok = T.channel[:, CHANNELS.index(channel)] & in_dates(T, now)
    ok.flags.writeable = False
    ctx.channel_dates_memo.put(key, ok)
    return ok


def static_scores(ctx: ScoringContext, rows: np.ndarray) -> Scored:
    """Eligibility and EV (before send costs) of ``rows`` from member and catalog facts only.

    Computed from scratch (never from ``ctx.static``).
    """
    T, bundle, catalog = ctx.templates, ctx.bundle, ctx.catalog
    mc, econ = ctx.member_context, catalog.economics
    rows = np.asarray(rows, dtype=np.int64)
    known = rows >= 0
    safe = np.maximum(rows, 0)
    num = bundle.members.numeric

    aud = T.audience[None, :]
    eligible = np.where(known[:, None], aud != _UNKNOWN_ONLY, aud != _KNOWN_ONLY)
    eligible &= T.segment_mask[:, np.where(known, mc.segment[safe], mc.n_segments)].T
    eligible &= T.cluster_mask[:, np.where(known, mc.cluster[safe], len(mc.cluster_ids))].T
    if mc.n_tiers:
        eligible &= T.tier_mask[:, np.where(known, mc.tier[safe], mc.n_tiers)].T
    eligible &= T.plan_mask[:, np.where(known, mc.plan[safe], mc.n_plans)].T
    fields = range_matrix(bundle, mc, safe)
    fields[~known] = np.nan
    inside = (fields[:, None, :] >= T.range_lo[None]) & (fields[:, None, :] <= T.range_hi[None])
    eligible &= (inside | ~T.bounded[None]).all(axis=2)

    targets = np.where(known[:, None], mc.targets[safe], mc.unknown_targets[None, :])
    items = np.where(known[:, None], mc.target_items[safe], mc.unknown_items[None, :])
    recommended = T.target_kind == _RECOMMENDED
    category = np.where(recommended[None, :], targets[:, T.rank], T.fixed_category[None, :])
    item = np.where((recommended & T.item_level)[None, :], items[:, T.rank],
                    T.fixed_item[None, :])
    eligible &= (T.target_kind == _BASKET)[None, :] | (category >= 0)
    eligible &= ~(recommended & T.item_level)[None, :] | (item >= 0)

    has_cat = category >= 0
    population = np.where(has_cat, bundle.affinity.population[np.maximum(category, 0)], np.nan)
    share = _shares(bundle, rows, known, category, has_cat)
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(np.isfinite(share) & (population > 0), share / population, 1.0)
    lift = np.minimum(lift, ctx.lift_cap)
    responsiveness = np.where(known, mc.responsiveness[safe], 1.0)
    p = T.prior[None, :] * responsiveness[:, None] * (0.5 + 0.5 * lift)
    if ctx.response is not None:  # the trained model, where it knows the template's type
        bought = bundle.affinity.has_purchases(np.where(known, rows, -1))
        learned = model_p(ctx.response, rows, bought, category, item, share, population)
        p = np.where(ctx.response.learned[None, :], learned, p)
    p = np.clip(p, 0.0, ctx.p_max)

    basket = np.where(known, mc.basket[safe], mc.default_basket)
    spend = np.where(has_cat, basket[:, None] * np.fmax(np.where(np.isnan(share), 0.0, share),
                                                        population), basket[:, None])
    spend = np.where(item >= 0, bundle.item_price[np.maximum(item, 0)], spend)
    gap = np.where(known, mc.tier_gap[safe], np.nan)
    trip = np.where(ctx.upgrade_types[None, :], np.fmax(basket, gap)[:, None], basket[:, None])
    value = econ.margin * T.incremental_share[None, :] * trip + T.business_value[None, :]

    points = np.where(known, num["points_balance"][safe], np.nan)
    needs_points = np.isfinite(T.points_price)[None, :]
    eligible &= ~needs_points | (points[:, None] >= T.points_price[None, :])

    risk = np.where(known, num["churn_risk"][safe], np.nan)[:, None, None]
    clv = np.where(known, num["clv"][safe], np.nan)[:, None, None]
    retention = T.retention[None, :, None]
    eligible &= ~T.retention[None, :] | (np.isfinite(risk[..., 0]) & np.isfinite(clv[..., 0]))
    # Every depth option at once: (n, T, D); templates without depths use their amount.
    cost = _cost(T, econ, ctx.options[None], spend[..., None])
    x = 100.0 * cost / basket[:, None, None]
    r = catalog.retention
    saved = np.where(retention, risk * econ.margin * clv * r.effect_max * x / (x + r.half_effect),
                     0.0)
    ev = np.where(retention, p[..., None] * value[..., None] + saved - cost,
                  p[..., None] * (value[..., None] - cost))
    if ctx.uplift is not None:  # validated uplift: the profit the offer changes
        uplift = ctx.uplift.spend(rows)[..., None]
        incremental = econ.margin * uplift + p[..., None] * (
            T.business_value[None, :, None] - cost)
        ev = np.where(np.isfinite(uplift), incremental, ev)
    capped = ~retention | (cost <= r.max_clv_share * clv)
    ev = np.where(ctx.option_valid[None] & capped & np.isfinite(ev), ev, -np.inf)
    best = np.argmax(ev, axis=2)[..., None]
    ev = np.take_along_axis(ev, best, axis=2)[..., 0]
    cost = np.take_along_axis(cost, best, axis=2)[..., 0]
    amount = np.take_along_axis(np.broadcast_to(ctx.options[None], cost.shape + (
        ctx.options.shape[1],)), best, axis=2)[..., 0]
    eligible &= np.isfinite(ev)
    return Scored(eligible, p, cost, np.where(eligible, ev, -np.inf), amount, category, item,
                  share)


def _shares(bundle, rows, known, category, has_cat) -> np.ndarray:
    """The member's purchase share in each template's category (NaN: none or unknown)."""
    share = np.full(category.shape, np.nan)
    if not (has_cat.any() and known.any()):
        return share
    if len(rows) == 1:
        codes, values = bundle.affinity.row(int(rows[0]))
        if len(codes) == 0:
            return share
        dense = np.zeros(len(bundle.categories))
        dense[codes] = values
        return np.where(has_cat, dense[np.maximum(category, 0)], np.nan)
    dense = bundle.affinity.dense(np.where(known, rows, -1))
    share = np.where(has_cat, np.take_along_axis(dense, np.maximum(category, 0), axis=1), np.nan)
    share[~bundle.affinity.has_purchases(np.where(known, rows, -1))] = np.nan
    return share


def _cost(T, econ, amount: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """Cost of one redemption: ``amount`` (1, T, D) and ``spend`` (n, T, 1) to (n, T, D)."""
    kind = T.value_kind[None, :, None]
    a = np.where(np.isnan(amount), 0.0, amount)
    cost = np.where(np.isin(kind, _PERCENT), a / 100.0 * spend, 0.0)
    cost = np.where(kind == VALUE_CODE["amount_off"], a, cost)
    cost = np.where(kind == VALUE_CODE["points_multiplier"],
                    (a - 1.0) * econ.points_per_unit * spend * econ.point_value, cost)
    cost = np.where(np.isin(kind, _POINTS), a * econ.point_value, cost)
    # A free item costs its goods (price x (1 - margin)), less the points liability it settles.
    price = np.where(np.isfinite(T.free_item_price)[None, :, None],
                     T.free_item_price[None, :, None], spend)
    points = np.where(np.isnan(T.points_price), 0.0, T.points_price)[None, :, None]
    goods = np.maximum(price * (1.0 - econ.margin) - points * econ.point_value, 0.0)
    cost = np.where(kind == VALUE_CODE["free_item"], goods, cost)
    cost = cost + T.cost_fixed[None, :, None]
    override = T.cost_override[None, :, None]
    return np.where(np.isfinite(override), override, cost)


def in_dates(T, now: np.datetime64) -> np.ndarray:
    """(T,) bool: ``now`` inside each template's dates and season."""
    ok = (np.isnat(T.start) | (T.start <= now)) & (np.isnat(T.end) | (now <= T.end))
    stamp = now.astype("datetime64[D]").item()
    md = stamp.month * 100 + stamp.day
    wraps = T.season_from > T.season_to
    in_season = np.where(wraps, (md >= T.season_from) | (md <= T.season_to),
                         (md >= T.season_from) & (md <= T.season_to))
    return ok & ((T.season_from < 0) | in_season)


def range_matrix(bundle, context, rows: np.ndarray) -> np.ndarray:
    """Values of :data:`RANGE_FIELDS` for ``rows`` (valid rows), shape (n, n_fields)."""
    num = bundle.members.numeric
    columns = []
    for name in RANGE_FIELDS:
        if name == "annual_spend":
            columns.append(context.annual_spend[rows])
        elif name == "next_tier_gap":
            columns.append(context.tier_gap[rows])
        else:
            columns.append(num[name][rows])
    return np.column_stack(columns)

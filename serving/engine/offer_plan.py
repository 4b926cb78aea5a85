"""One member's offers on one channel, precomputed as plain Python: the request's fast path.

With the member-only scores precomputed (:func:`~serving.engine.scoring.with_static_scores`),
what a one-member decision still computed per request was small-array NumPy work on one
row of about twenty templates (a view of eight arrays, masks, a ``lexsort``, scalar reads
of each chosen offer), each call's overhead larger than its arithmetic (issue 14). Nearly
all of it depends only on the member's row and the channel. :class:`OfferPlan` holds, for
one (row, channel):

- the templates the member may get there before the moment's rules, in the greedy order
  of :func:`~serving.engine.engine.choose` (best EV after the channel's send cost, then
  priority, then template), with each one's category and retention flag: a request keeps
  those inside their dates and, when the catalog has any, birthday and anniversary rules
  (:func:`~serving.engine.scoring.calendar_mask`, kept per day), minus the ones its
  history blocks, and walks the order;
- per offer shown: its rendered answer (texts, target, value, rounded scores, reason codes,
  redemption code) for the last expiry day, rendered by the engine's own code on first
  use and kept as tuples; a request gets fresh dicts (an unknown member's redemption
  code is its own);
- the decision log's JSON entry of each template it may get.

The values are the same NumPy scalars the array path reads (float32 scores converted
exactly), so decisions are identical (tests compare both paths over every member,
channel and several moments). :class:`PlanCache` keeps the plans of one engine, bounded.

Imports: numpy, orjson and :mod:`serving.engine` siblings below the engine.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import orjson

from serving.engine.catalog.schema import CHANNELS
from serving.engine.scoring import calendar_mask
from serving.engine.scoring_context import ScoringContext

_DAY = np.timedelta64(1, "D")


def packed_offer(offer: dict[str, Any]) -> tuple:
    """A rendered offer as tuples (a plan keeps many: a third of a dict's memory), its texts
    interned (members share most of them); :func:`unpacked_offer` gives it back."""
    values, fresh = [], []
    for key, value in offer.items():
        if isinstance(value, dict):
            value = tuple(value.items())
            fresh.append((key, dict))
        elif isinstance(value, list):
            value = tuple(value)
            fresh.append((key, list))
        elif isinstance(value, str) and key != "code":
            value = sys.intern(value)
        values.append(value)
    keys = tuple(offer)
    return _KEYS.setdefault(keys, keys), tuple(values), tuple(fresh)


def unpacked_offer(packed: tuple) -> dict[str, Any]:
    """The offer of :func:`packed_offer` as fresh dicts and lists (a caller may change it)."""
    keys, values, fresh = packed
    offer = dict(zip(keys, values))
    for key, kind in fresh:
        offer[key] = kind(offer[key])
    return offer


_KEYS: dict[tuple, tuple] = {}  # the offers' key tuples, one object each


class OfferPlan:
    """The precomputed decision inputs of one member table ``row`` (-1: unknown) on a channel.

    Attributes
    ----------
    row : int
    order : tuple of (template, category, retention)
        Templates the member may get on the channel before the moment's rules, in greedy
        order.
    ev_row, p_row, cost_row : ndarray, shape (T,)
        The row's EV after the channel's send cost, P(redeem) and cost (read-only).
    candidate_json : dict
        Template of ``order`` -> its decision-log candidate entry as JSON text (offer id, EV
        and P(redeem) rounded as :class:`~serving.engine.pending_record.PendingRecord`
        rounds them).
    shown_json : list of str
        Per template, the entry of an offer shown with propensity 1 (the engine's list,
        shared by its plans).
    calendar : bool
        Whether a template of ``order`` has a birthday or anniversary rule.
    in_control : bool or None
        Whether the row's member is in the control group (None for unknown members: their
        ids differ).
    segment, churn_risk
        The decision's fields of a known member.
    parts : dict
        Template -> ``(expiry, packed offer)``, the last rendered (:func:`packed_offer`; one
        tuple, replaced by a single assignment: threads see the old pair or the new one).
    """

    __slots__ = ("row", "order", "ev_row", "p_row", "cost_row", "candidate_json", "shown_json",
                 "calendar", "in_control", "segment", "churn_risk", "parts", "_calendar_memo")

    def __init__(self, row, order, ev_row, p_row, cost_row, candidate_json, shown_json,
                 calendar, in_control, segment, churn_risk) -> None:
        self.row, self.order = row, order
        self.ev_row, self.p_row, self.cost_row = ev_row, p_row, cost_row
        self.candidate_json, self.shown_json = candidate_json, shown_json
        self.calendar, self.in_control = calendar, in_control
        self.segment, self.churn_risk = segment, churn_risk
        self.parts: dict[int, tuple] = {}
        self._calendar_memo: tuple | None = None  # (elapsed days, allowed templates)

    def allowed_on(self, ctx: ScoringContext, elapsed: int) -> tuple[bool, ...] | None:
        """Per template, whether the calendar rules allow it ``elapsed`` days after ``as_of``
        (None: the plan has no template with such a rule)."""
        if not self.calendar:
            return None
        memo = self._calendar_memo
        if memo is not None and memo[0] == elapsed:
            return memo[1]
        allowed = tuple(calendar_mask(ctx, self.row, float(elapsed)).tolist())
        self._calendar_memo = (elapsed, allowed)
        return allowed


def build_plan(ctx: ScoringContext, row: int, channel: str, min_ev: float,
               control: bool | None, segment, churn_risk, shown_json: list[str]) -> OfferPlan:
    """The :class:`OfferPlan` of member table ``row`` (-1: unknown) on ``channel``.

    The eligibility is :func:`~serving.engine.scoring.score_members`' without the rules that
    depend on the moment: the precomputed member-only eligibility, the channel, the
    member's consent and ``EV > min_ev``.
    """
    T, static = ctx.templates, ctx.static
    last = len(static.p) - 1
    r = row if row >= 0 else last
    ev_row = static.ev[r] - ctx.catalog.economics.send_cost[channel]
    ev_row.flags.writeable = False
    ok = static.eligible[r] & T.channel[:, CHANNELS.index(channel)] & (ev_row > min_ev)
    if not _consents(ctx, row, channel):
        ok[:] = False
    candidates = np.flatnonzero(ok)
    order = candidates[np.lexsort((candidates, -T.priority[candidates], -ev_row[candidates]))]
    category, retention = static.category[r], T.retention
    entries = tuple((t, int(category[t]), bool(retention[t])) for t in order.tolist())
    rules = np.isfinite(T.birthday_within) | np.isfinite(T.anniversary_within)
    calendar = bool(ctx.has_calendar_rules and rules[order].any())
    p_row = static.p[r]
    scores, ps = np.round(ev_row[order], 4).tolist(), np.round(p_row[order], 4).tolist()
    candidate_json = {t: orjson.dumps({"offer_id": T.ids[t], "score": s, "p_redeem": p}).decode()
                      for t, s, p in zip(order.tolist(), scores, ps)}
    return OfferPlan(row, entries, ev_row, p_row, static.cost[r], candidate_json, shown_json,
                     calendar, control, segment, churn_risk)


def shown_entries(offer_ids) -> list[str]:
    """Per template, the decision log's JSON entry of an offer shown with propensity 1."""
    return [orjson.dumps({"offer_id": o, "propensity": 1.0}).decode() for o in offer_ids]


def _consents(ctx: ScoringContext, row: int, channel: str) -> bool:
    """The consent rule of :func:`~serving.engine.scoring.moment_mask_one` (known or not)."""
    field = ctx.catalog.consent_fields[channel]
    if field is None:
        return True
    consent = int(ctx.bundle.members.consent[field][row]) if row >= 0 else -1
    return consent == 1 or (consent == -1 and ctx.catalog.consent_unknown == "allow")


class Moment:
    """What a decision reads of ``now``: templates inside their dates and season, the days
    since the version's ``as_of`` (the calendar rules' input), and the engine's texts of the
    moment kept by the engine (``decided_at``, each template's ``expiries``)."""

    __slots__ = ("in_dates", "elapsed", "decided_at", "expiries")

    def __init__(self, ctx: ScoringContext, now: np.datetime64) -> None:
        from serving.engine.scoring import in_dates

        self.in_dates = frozenset(np.flatnonzero(in_dates(ctx.templates, now)).tolist())
        self.elapsed = int((now - ctx.as_of_day) // _DAY)
        self.decided_at: str | None = None
        self.expiries: dict[int, str] = {}


class PlanCache:
    """The plans of one engine by (row, channel), and its moments by second; both bounded
    (when full they start again empty: no bookkeeping on hits). A plan holds about 5 KB
    (Complete Journey: 13 MiB a worker for every member on one channel, 55 MiB at most)."""

    def __init__(self, size: int = 10_000, moments: int = 64) -> None:
        self.size, self.moments_size = size, moments
        self.plans: dict[tuple[int, str], OfferPlan] = {}
        self.moments: dict[np.datetime64, Moment] = {}
        self._lock = threading.Lock()  # only around clearing: gets and puts are atomic

    def plan(self, key: tuple[int, str]) -> OfferPlan | None:
        return self.plans.get(key)

    def put(self, key: tuple[int, str], plan: OfferPlan) -> None:
        if len(self.plans) >= self.size:
            with self._lock:
                self.plans.clear()
        self.plans[key] = plan

    def moment(self, ctx: ScoringContext, now: np.datetime64) -> Moment:
        found = self.moments.get(now)
        if found is None:
            found = Moment(ctx, now)
            if len(self.moments) >= self.moments_size:
                with self._lock:
                    self.moments.clear()
            self.moments[now] = found
        return found

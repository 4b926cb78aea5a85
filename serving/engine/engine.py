"""The offer engine: for one member, a channel and a moment, the few offers worth the most.

>>> engine = OfferEngine(load_bundle("artifacts/cj"), load_catalog())   # doctest: +SKIP
>>> engine.decide("1", "app", limit=3).to_dict()["offers"][0]["title"]  # doctest: +SKIP
'15% off baked bread/buns/rolls'

A decision: the deterministic control group first (held-out members get no
offer), then the contact policy over every channel, then every template
scored at once (:mod:`serving.engine.scoring`), caps counted from the
member's offer history, and the best offers by expected value taken greedily
with no two on the same category and at most one retention offer.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError
from serving.engine.catalog.schema import CHANNELS, Catalog
from serving.engine.control import in_control
from serving.engine.exploration import DecisionRecord, check_epsilon, explore_first
from serving.engine.history import OfferHistory
from serving.engine.member_context import build_member_context
from serving.engine.messages import (
    OfferFacts,
    placeholder_names,
    placeholders_for,
    reason,
    render,
)
from serving.engine.offer_plan import (
    Moment,
    OfferPlan,
    PlanCache,
    build_plan,
    packed_offer,
    shown_entries,
    unpacked_offer,
)
from serving.engine.pending_record import PendingRecord
from serving.engine.render_cache import RenderCache
from serving.engine.response_model import TYPE_PRIOR_CODE
from serving.engine.scoring import score_members, with_static_scores
from serving.engine.scoring_context import Scored, build_scoring_context
from serving.engine.template_arrays import build_template_arrays
from serving.engine.tiers import TierLadder
from serving.engine.uplift import INCREMENTAL_CODE

logger = logging.getLogger(__name__)


def new_id() -> str:
    """A 128-bit id as 32 hex digits (decision and request ids): the time in milliseconds
    (48 bits) then 80 random bits, as UUIDv7 lays them out, at a tenth of ``uuid``'s cost.

    Ids made later sort later, so the decision log's primary key grows at its end: with
    random ids every insert touched a random page of an index larger than SQLite's cache
    (21 -> 34 us of CPU per logged decision as the table grew from 60,000 to 240,000 rows;
    9 us flat with these; issue 14, bench/RESULTS.md).
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"

_DAY_S = 86_400
_MEMO_SIZE = 4096  # moments (or template x moment) whose texts the engine keeps


@dataclass(frozen=True)
class EngineConfig:
    """Run-time settings of the engine (the catalog holds the business assumptions).

    Parameters
    ----------
    campaign : str, optional
        Campaign id of one-by-one decisions (control-group hash); default the catalog's.
    control_share : float, optional
        Share of members held out; default the catalog's ``control_group.share``.
    p_max : float
        Upper clip of P(redeem).
    lift_cap : float
        Upper clip of a member's category lift.
    min_expected_value : float
        Offers must be worth more than this (currency) to be made.
    max_offers : int
        Largest ``limit`` a caller may ask for.
    precompute_cells : int
        Precompute the member-only part of the scores for every member when
        members x templates is at most this (about 30 bytes a cell); larger
        programs score each request from scratch (about a millisecond more).
    epsilon : float
        Share of decisions whose first offer is drawn uniformly among the eligible
        ones (exploration for policy replay, :mod:`serving.engine.exploration`); 0: never.
    exploration_seed : int
        Seed of the exploration draws (a decision is reproducible from its id and this).
    """

    campaign: str | None = None
    control_share: float | None = None
    p_max: float = 0.95
    lift_cap: float = 4.0
    min_expected_value: float = 0.0
    max_offers: int = 10
    precompute_cells: int = 5_000_000
    epsilon: float = 0.0
    exploration_seed: int = 0


@dataclass
class Decision:
    """The engine's answer for one member; :meth:`to_dict` is JSON-ready."""

    decision_id: str
    member_id: str
    known: bool
    channel: str
    campaign_id: str
    control_group: bool
    model_version: str
    decided_at: str
    segment: str | None
    churn_risk: float | None
    offers: list[dict[str, Any]] = field(default_factory=list)
    suppressed: str | None = None
    #: Models this version skipped (too little data), ``{step: reason}``: offers that need
    #: them are not made (retention incentives need churn and value, offers on recommended
    #: items or categories the recommender).
    skipped_models: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (shallow: ``offers`` is this decision's own list of fresh
        dicts, so a deep copy would only cost time)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class OfferEngine:
    """Chooses offers from ``catalog`` for the members of ``bundle``.

    Construction resolves the catalog against the bundle and precomputes
    per-member inputs (vectorised); :meth:`decide` then costs well under a
    millisecond of Python per member.

    Parameters
    ----------
    bundle : ModelBundle
    catalog : Catalog
    config : EngineConfig, optional

    Attributes
    ----------
    templates : TemplateArrays
        The catalog resolved against the bundle.
    context : MemberContext
        Per-member inputs of scoring and rendering.
    scoring : ScoringContext
        Everything :mod:`serving.engine.scoring` reads, frozen (with the
        member-only scores of every member when they fit); campaigns score
        from it too.
    """

    def __init__(self, bundle, catalog: Catalog, config: EngineConfig | None = None):
        self.bundle = bundle
        if "recommendations" in (getattr(bundle, "skipped", None) or {}):
            # No recommender was trained (too little item variety): no offer on its picks.
            catalog = replace(catalog, offers=tuple(
                t for t in catalog.offers if t.target.kind != "recommended"))
        self.catalog = catalog
        self.config = config or EngineConfig()
        self.campaign = self.config.campaign or catalog.campaign
        share = self.config.control_share
        self.control_share = catalog.control_share if share is None else float(share)
        if not 0 <= self.control_share <= 0.5:
            raise ConfigError(f"control_share={self.control_share} should be in [0, 0.5].")
        self.epsilon = check_epsilon(self.config.epsilon)
        self.ladder = TierLadder(catalog.tiers, catalog.tier_basis) if catalog.tiers else None
        self.context = build_member_context(bundle, self.ladder, catalog.exclude_categories,
                                            catalog.economics.default_basket)
        self.templates = build_template_arrays(catalog, bundle, self.context.cluster_ids,
                                               self.context.n_tiers)
        self._capped = [i for i, t in enumerate(catalog.offers)
                        if t.caps.budget is not None or t.caps.redemptions is not None]
        self._placeholders = [placeholder_names(t) for t in catalog.offers]  # used ones
        self._offer_ids = np.array([t.id for t in catalog.offers], dtype=object)
        scoring = build_scoring_context(bundle, catalog, self.context, self.templates,
                                        p_max=self.config.p_max, lift_cap=self.config.lift_cap)
        if (len(bundle.members) + 1) * self.templates.n <= self.config.precompute_cells:
            scoring = with_static_scores(scoring)
        self.scoring = scoring
        self._rendered = RenderCache()  # decisions' texts per member, template and day
        self._expiries: dict[tuple, str] = {}  # (template, moment) -> expiry day
        self._stamps: dict[np.datetime64, str] = {}  # moment -> decided_at text
        self._skipped = dict(getattr(bundle, "skipped", None) or {})
        # One-member decisions from per-(member, channel) plans (serving/engine/offer_plan.py)
        # when the member-only scores are precomputed and nothing is explored.
        self._plans = PlanCache() if scoring.static is not None and self.epsilon == 0 else None
        self._shown_json = shown_entries(self._offer_ids.tolist())

    # ------------------------------------------------------------ public
    def profile(self, member_id) -> dict[str, Any] | None:
        """:meth:`ModelBundle.profile` with the catalog's tier ladder."""
        return self.bundle.profile(member_id, tiers=self.ladder)

    def score(self, rows: np.ndarray, now=None, channel: str = "email") -> Scored:
        """Every template scored for member table ``rows`` (-1: unknown member)."""
        return score_members(self.scoring, rows, to_datetime64(now), check_channel(channel),
                             self.config.min_expected_value)

    def decide(self, member_id, channel: str, limit: int = 3, now=None,
               history: OfferHistory | None = None) -> Decision:
        """Choose at most ``limit`` offers for ``member_id`` on ``channel`` at ``now``.

        Raises
        ------
        ConfigError
            For an unknown channel or a bad ``limit``.
        DataError
            When ``now`` is not a date.
        """
        return self._decide(member_id, channel, limit, now, history, False)[0]

    def decide_with_record(self, member_id, channel: str, limit: int = 3, now=None,
                           history: OfferHistory | None = None,
                           ) -> tuple[Decision, DecisionRecord]:
        """:meth:`decide` and its :class:`DecisionRecord` (candidates, scores, propensities)."""
        decision, pending = self._decide(member_id, channel, limit, now, history, True)
        return decision, pending.record()

    def decide_pending(self, member_id, channel: str, limit: int = 3, now=None,
                       history: OfferHistory | None = None,
                       ) -> tuple[Decision, PendingRecord]:
        """:meth:`decide_with_record` with the record left to build: a :class:`PendingRecord`
        (the decision-log writer builds it in its own thread; the request does not wait)."""
        return self._decide(member_id, channel, limit, now, history, True)

    def _decide(self, member_id, channel: str, limit: int, now, history,
                want_record: bool) -> tuple[Decision, PendingRecord | None]:
        channel = check_channel(channel)
        if not isinstance(limit, int) or isinstance(limit, bool) or \
                not 1 <= limit <= self.config.max_offers:
            raise ConfigError(f"limit={limit!r} should be an integer from 1 to "
                              f"{self.config.max_offers}.")
        stamp = to_datetime64(now)
        member_id = str(member_id)
        row = self.bundle.row(member_id)
        if self._plans is not None:
            return self._decide_planned(member_id, row, channel, limit, stamp, history,
                                        want_record)
        known = row >= 0
        num = self.bundle.members.numeric
        decision = Decision(
            decision_id=new_id(), member_id=member_id, known=known, channel=channel,
            campaign_id=self.campaign, control_group=False, model_version=self.bundle.version,
            decided_at=self._decided_at(stamp),
            segment=self.bundle.members.name("segment", row) if known else None,
            churn_risk=_opt(num["churn_risk"][row]) if known else None,
            skipped_models=dict(getattr(self.bundle, "skipped", None) or {}),
        )
        if in_control(member_id, self.campaign, self.control_share):
            decision.control_group, decision.suppressed = True, "control_group"
            return decision, self._record(decision, want_record)
        events = history.member_events(member_id) if history is not None else []
        blocked, contacts = self._history_caps(events, stamp)
        room = limit if self.catalog.contact_max is None else min(
            limit, self.catalog.contact_max - contacts)
        if room <= 0:
            decision.suppressed = "contact_policy"
            return decision, self._record(decision, want_record)
        scored = score_members(self.scoring, np.array([row]), stamp, channel,
                               self.config.min_expected_value)
        if self._capped and history is not None:
            blocked |= self._total_caps(history.offer_totals(), scored.cost[0])
        chosen = choose(scored, 0, self.templates, room, blocked)
        propensity = 1.0
        if self.epsilon > 0 or want_record:
            eligible = np.flatnonzero(np.isfinite(scored.ev[0]) & ~blocked)
            if self.epsilon > 0:
                chosen, propensity = self._explore(scored, chosen, eligible, blocked, room,
                                                   decision.decision_id)
        decision.offers = self.render_offers(member_id, row, scored, 0, chosen, stamp, channel)
        if not want_record:
            return decision, None
        # The record's parts as they are (copies of the eligible scores): sorted, rounded and
        # made dicts when the record is built, in the decision-log writer's thread.
        return decision, PendingRecord(decision, self.epsilon, self._offer_ids,
                                       self.templates.priority, eligible, scored.ev[0, eligible],
                                       scored.p[0, eligible], chosen, propensity)

    def _decide_planned(self, member_id: str, row: int, channel: str, limit: int,
                        stamp: np.datetime64, history, want_record: bool,
                        ) -> tuple[Decision, PendingRecord | None]:
        """:meth:`_decide` from the member's :class:`OfferPlan` (the same decision)."""
        plan = self._plan(member_id, row, channel)
        moment = self._plans.moment(self.scoring, stamp)
        if moment.decided_at is None:
            moment.decided_at = self._decided_at(stamp)
        known = row >= 0
        decision = Decision(
            decision_id=new_id(), member_id=member_id, known=known, channel=channel,
            campaign_id=self.campaign, control_group=False, model_version=self.bundle.version,
            decided_at=moment.decided_at, segment=plan.segment,
            churn_risk=plan.churn_risk, skipped_models=dict(self._skipped),
        )
        control = plan.in_control if known else in_control(member_id, self.campaign,
                                                           self.control_share)
        if control:
            decision.control_group, decision.suppressed = True, "control_group"
            return decision, self._record(decision, want_record)
        events = history.member_events(member_id) if history is not None else []
        blocked_mask, contacts = self._history_caps(events, stamp) if events else (None, 0)
        room = limit if self.catalog.contact_max is None else min(
            limit, self.catalog.contact_max - contacts)
        if room <= 0:
            decision.suppressed = "contact_policy"
            return decision, self._record(decision, want_record)
        if self._capped and history is not None:
            totals = self._total_caps(history.offer_totals(), plan.cost_row)
            blocked_mask = totals if blocked_mask is None else blocked_mask | totals
        blocked = () if blocked_mask is None else frozenset(
            np.flatnonzero(blocked_mask).tolist())
        dates, allowed = moment.in_dates, plan.allowed_on(self.scoring, moment.elapsed)
        available = [entry for entry in plan.order if entry[0] in dates and entry[0] not in
                     blocked and (allowed is None or allowed[entry[0]])]
        chosen, categories, retention = [], set(), False  # choose(), on the greedy order
        for t, category, is_retention in available:
            if category >= 0 and category in categories:
                continue
            if is_retention and retention:
                continue
            chosen.append(t)
            categories.add(category)
            retention |= is_retention
            if len(chosen) == room:
                break
        decision.offers = [self._planned_offer(plan, member_id, t, stamp, moment, channel)
                           for t in chosen]
        if not want_record:
            return decision, None
        return decision, PendingRecord.of_plan(
            decision, self.epsilon, self._offer_ids, self.templates.priority,
            [entry[0] for entry in available], plan, chosen)

    def _plan(self, member_id: str, row: int, channel: str) -> OfferPlan:
        """The member's plan on ``channel`` (built and kept on first use)."""
        key = (row, channel)
        plan = self._plans.plan(key)
        if plan is None:
            known = row >= 0
            plan = build_plan(
                self.scoring, row, channel, self.config.min_expected_value,
                in_control(member_id, self.campaign, self.control_share) if known else None,
                self.bundle.members.name("segment", row) if known else None,
                _opt(self.bundle.members.numeric["churn_risk"][row]) if known else None,
                self._shown_json)
            self._plans.put(key, plan)
        return plan

    def _planned_offer(self, plan: OfferPlan, member_id: str, t: int, now: np.datetime64,
                       moment: Moment, channel: str) -> dict[str, Any]:
        """Offer ``t`` of ``plan`` as :meth:`render` gives it, rendered once per expiry day."""
        expiry = moment.expiries.get(t)
        if expiry is None:
            expiry = moment.expiries[t] = self._expiry(t, now)
        found = plan.parts.get(t)
        if found is None or found[0] != expiry:
            static, row = self.scoring.static, plan.row
            r = row if row >= 0 else len(static.p) - 1
            scored = Scored(static.eligible[r:r + 1], static.p[r:r + 1],
                            static.cost[r:r + 1], plan.ev_row[None, :],
                            static.amount[r:r + 1], static.category[r:r + 1],
                            static.item[r:r + 1], static.share[r:r + 1])
            found = (expiry, packed_offer(self.render(member_id, row, scored, 0, t, now,
                                                      channel)))
            plan.parts[t] = found
        offer = unpacked_offer(found[1])
        if plan.row < 0:  # unknown members share the plan, not the redemption code
            offer["code"] = offer_code(member_id, offer["offer_id"], self.campaign)
        return offer

    def _explore(self, scored: Scored, greedy: list[int], eligible: np.ndarray,
                 blocked: np.ndarray, room: int, decision_id: str) -> tuple[list[int], float]:
        """The offers with the first one explored, and the first one's propensity."""
        first, propensity = explore_first(greedy, eligible, self.epsilon, decision_id,
                                          self.config.exploration_seed)
        if first is None or (greedy and first == greedy[0]):
            return greedy, propensity
        rest = blocked.copy()
        rest[first] = True
        category = int(scored.category[0, first])
        if category >= 0:
            rest |= scored.category[0] == category
        if self.templates.retention[first]:
            rest |= self.templates.retention.astype(bool)
        others = choose(scored, 0, self.templates, room - 1, rest) if room > 1 else []
        return [first, *others], propensity

    def _record(self, decision: Decision, wanted: bool) -> PendingRecord | None:
        """The record of a decision that shows nothing (suppressed): no candidates."""
        if not wanted:
            return None
        return PendingRecord(decision, self.epsilon, self._offer_ids, self.templates.priority)

    # ------------------------------------------------------------ parts
    def render_offers(self, member_id: str, row: int, scored: Scored, i: int, chosen,
                      now: np.datetime64, channel: str) -> list[dict[str, Any]]:
        """:meth:`render` of each template in ``chosen``, the member's facts read once."""
        member = self.member_facts(row)
        return [self._render(member_id, row, scored, i, t, now, channel, member, cached=True)
                for t in chosen]

    def render(self, member_id: str, row: int, scored: Scored, i: int, t: int,
               now: np.datetime64, channel: str) -> dict[str, Any]:
        """One chosen offer (scored row ``i``, template ``t``) as a JSON-ready dict."""
        return self._render(member_id, row, scored, i, t, now, channel, self.member_facts(row))

    def _render(self, member_id: str, row: int, scored: Scored, i: int, t: int,
                now: np.datetime64, channel: str, member: dict[str, Any],
                cached: bool = False) -> dict[str, Any]:
        template = self.catalog.offers[t]
        facts = self._facts(scored, i, t, now, member)
        # The texts depend only on these (the member's facts: on the row): render them once.
        key = (row, t, channel, facts.expiry, facts.category, facts.item,
               _key_number(facts.amount), _key_number(facts.share))
        found = self._rendered.get(key) if cached else None
        if found is None:
            values = placeholders_for(template, facts, self.catalog.currency,
                                      self._placeholders[t])
            why, codes = reason(template, facts, values)
            title, message = render(template.title, values), render(template.message[channel],
                                                                    values)
            if cached:
                self._rendered.put(key, title, message, why, codes)
        else:
            title, message, why, codes = found
            codes = list(codes)
        response = self.scoring.response
        if response is not None and not response.learned[t]:  # P(redeem) is the type's prior
            codes = [*codes, TYPE_PRIOR_CODE]
        uplift = self.scoring.uplift
        if uplift is not None and uplift.used(row, t):  # ranked by incremental profit
            codes = [*codes, INCREMENTAL_CODE]
        category, item = int(scored.category[i, t]), int(scored.item[i, t])
        if item >= 0:
            target = {"kind": "item", "item_id": str(self.bundle.item_ids[item]),
                      "item": str(self.bundle.item_names[item]),
                      "category": str(self.bundle.categories[self.bundle.item_category[item]])}
        elif category >= 0:
            target = {"kind": "category", "category": str(self.bundle.categories[category])}
        else:
            target = {"kind": "basket"}
        value = {"kind": template.value.kind, "amount": _opt(scored.amount[i, t])}
        if math.isfinite(template.value.points_price):
            value["points_price"] = template.value.points_price
        return {
            "offer_id": template.id, "type": template.type,
            "title": title, "message": message,
            "target": target, "value": value, "expiry": facts.expiry,
            "code": offer_code(member_id, template.id, self.campaign),
            "score": round(float(scored.ev[i, t]), 4),
            "p_redeem": round(float(scored.p[i, t]), 4),
            "cost": round(float(scored.cost[i, t]), 4),
            "reason": why, "reason_codes": codes,
        }

    def facts(self, row: int, scored: Scored, i: int, t: int, now: np.datetime64) -> OfferFacts:
        """What the message and reason of template ``t`` may say about member ``row``."""
        return self._facts(scored, i, t, now, self.member_facts(row))

    def member_facts(self, row: int) -> dict[str, Any]:
        """The member's part of :class:`OfferFacts` (the same for every offer), as keywords.

        Empty for an unknown member (``row`` -1): the facts keep their defaults.
        """
        if row < 0:
            return {}
        b = self.bundle
        m, num = b.members, b.members.numeric
        top = self.context.targets[row, 0]
        out = {
            "points_balance": float(num["points_balance"][row]),
            "plan": m.name("plan", row),
            "recency_days": float(num["recency_days"][row]),
            "churn_risk": float(num["churn_risk"][row]),
            "churn_codes": list(m.lists["churn_reason_codes"][row]),
            "churn_texts": list(m.lists["churn_reasons"][row]),
            "favourite_category": str(b.categories[top]) if top >= 0 else None,
        }
        if self.ladder is not None:
            tier = int(self.context.tier[row])
            tiers = self.ladder.tiers
            out["tier"] = tiers[tier].name if tier < len(tiers) else None
            out["next_tier"] = tiers[tier + 1].name if tier + 1 < len(tiers) else None
            out["gap"] = float(self.context.tier_gap[row])
            out["gap_in_points"] = self.ladder.basis == "points_balance"
        return out

    def _facts(self, scored: Scored, i: int, t: int, now: np.datetime64,
               member: dict[str, Any]) -> OfferFacts:
        """The offer's facts plus the ``member`` ones (:meth:`member_facts`)."""
        b, template = self.bundle, self.catalog.offers[t]
        category, item = int(scored.category[i, t]), int(scored.item[i, t])
        facts = OfferFacts(
            amount=float(scored.amount[i, t]),
            category=str(b.categories[category]) if category >= 0 else None,
            item=str(b.item_names[item]) if item >= 0 else (
                str(b.item_names[self.templates.fixed_item[t]])
                if self.templates.fixed_item[t] >= 0 else None),
            share=float(scored.share[i, t]), expiry=self._expiry(t, now),
            **member,
        )
        if member:  # lists of its own, as when each offer read them
            facts.churn_codes, facts.churn_texts = list(facts.churn_codes), list(facts.churn_texts)
        if template.value.item_id is not None and item < 0:
            facts.item = template.value.item_id
            col = self._item(template.value.item_id)
            if col >= 0:
                facts.item = str(b.item_names[col])
        return facts

    def _expiry(self, t: int, now: np.datetime64) -> str:
        """The day template ``t``'s offer made at ``now`` expires, ``YYYY-MM-DD``.

        Kept per template and moment (numpy's date arithmetic and text cost about 5 us an
        offer; requests of the same second share it); forgotten when many.
        """
        key = (t, now)
        found = self._expiries.get(key)
        if found is None:
            template = self.catalog.offers[t]
            expiry = now + np.timedelta64(int(round(template.expiry_days * _DAY_S)), "s")
            end = template.eligibility.end
            if end is not None and end < expiry:
                expiry = end
            found = str(expiry.astype("datetime64[D]"))
            if len(self._expiries) >= _MEMO_SIZE:
                self._expiries.clear()
            self._expiries[key] = found
        return found

    def _decided_at(self, stamp: np.datetime64) -> str:
        """``stamp`` as ISO 8601 UTC text (``...Z``), kept per moment like :meth:`_expiry`."""
        found = self._stamps.get(stamp)
        if found is None:
            found = str(stamp.astype("datetime64[s]")) + "Z"
            if len(self._stamps) >= _MEMO_SIZE:
                self._stamps.clear()
            self._stamps[stamp] = found
        return found

    def _item(self, item_id: str) -> int:
        pos = int(np.searchsorted(self.bundle.item_ids, item_id))
        ok = pos < len(self.bundle.item_ids) and self.bundle.item_ids[pos] == item_id
        return pos if ok else -1

    def _history_caps(self, events, now: np.datetime64) -> tuple[np.ndarray, int]:
        """Templates blocked by per-member caps and cooldowns, and recent contacts."""
        blocked = np.zeros(self.templates.n, dtype=bool)
        if not events:
            return blocked, 0
        position = {t.id: i for i, t in enumerate(self.catalog.offers)}
        now_s = now.astype("datetime64[s]").astype(np.int64)
        contacts = 0
        sends: dict[int, list[float]] = {}
        for event in events:
            offer_id, kind, when = event[0], event[1], event[2]
            if kind != "sent":
                continue
            age = (now_s - _epoch_seconds(when)) / _DAY_S
            if age < 0:
                continue
            if age < self.catalog.contact_days:
                contacts += 1
            i = position.get(str(offer_id))
            if i is not None:
                sends.setdefault(i, []).append(age)
        for i, ages in sends.items():
            caps = self.catalog.offers[i].caps
            if caps.per_member_max is not None and \
                    sum(a < caps.per_member_days for a in ages) >= caps.per_member_max:
                blocked[i] = True
            if min(ages) < caps.cooldown_days:
                blocked[i] = True
        return blocked, contacts

    def _total_caps(self, totals: dict, cost: np.ndarray) -> np.ndarray:
        """Templates whose total budget or redemption limit is used up."""
        blocked = np.zeros(self.templates.n, dtype=bool)
        for i in self._capped:
            t = self.catalog.offers[i]
            used = totals.get(t.id, {})
            if t.caps.budget is not None and \
                    float(used.get("cost", 0.0)) + float(cost[i]) > t.caps.budget:
                blocked[i] = True
            if t.caps.redemptions is not None and \
                    int(used.get("redeemed", 0)) >= t.caps.redemptions:
                blocked[i] = True
        return blocked


def choose(scored: Scored, i: int, templates, limit: int, blocked: np.ndarray) -> list[int]:
    """Templates for scored row ``i``: best EV first (priority breaks ties), no category twice,
    at most one retention offer, at most ``limit``."""
    ev = scored.ev[i]
    candidates = np.flatnonzero(np.isfinite(ev) & ~blocked)
    if len(candidates) == 0:
        return []
    order = candidates[np.lexsort((candidates, -templates.priority[candidates],
                                   -ev[candidates]))]
    chosen, categories, retention = [], set(), False
    for t in order.tolist():
        category = int(scored.category[i, t])
        if category >= 0 and category in categories:
            continue
        if templates.retention[t] and retention:
            continue
        chosen.append(t)
        categories.add(category)
        retention |= bool(templates.retention[t])
        if len(chosen) == limit:
            break
    return chosen


def check_channel(channel: str) -> str:
    """``channel`` if known, else a ConfigError naming the channels."""
    if channel not in CHANNELS:
        raise ConfigError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}.")
    return channel


def to_datetime64(now) -> np.datetime64:
    """``now`` as naive UTC ``datetime64[s]``; None is the current time."""
    if now is None:
        return np.datetime64(datetime.now(timezone.utc).replace(tzinfo=None), "s")
    if isinstance(now, np.datetime64):
        return now.astype("datetime64[s]")
    try:
        stamp = pd.Timestamp(now)
    except (TypeError, ValueError):
        raise DataError(f"now={now!r} is not a date; use ISO 8601 like 2026-11-20T10:00.") \
            from None
    if stamp is pd.NaT:
        raise DataError("now is NaT; give a date.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.to_datetime64(), "s")


def offer_code(member_id: str, offer_id: str, campaign: str) -> str:
    """A redemption code, stable for a (member, offer, campaign) triple."""
    return _code(_code_prefix(offer_id), member_id, offer_id, campaign)


@functools.lru_cache(maxsize=1024)
def _code_prefix(offer_id: str) -> str:
    return "".join(ch for ch in offer_id.upper() if ch.isalnum())[:6]


def _code(prefix: str, member_id: str, offer_id: str, campaign: str) -> str:
    digest = hashlib.blake2b(f"{campaign}\x1f{offer_id}\x1f{member_id}".encode(),
                             digest_size=5).hexdigest().upper()
    return f"{prefix}-{digest}"


def _epoch_seconds(when) -> int:
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc).replace(tzinfo=None)
        return int((when - datetime(1970, 1, 1)).total_seconds())
    return int(to_datetime64(when).astype(np.int64))


def _key_number(value: float) -> float | None:
    """``value`` usable in a dict key (NaN is not equal to itself: None instead)."""
    return value if value == value else None


def _opt(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None

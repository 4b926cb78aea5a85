"""``/v1/members/<id>``: one member's profile, offers and recommendations (scope ``read``).

A member the model does not know is no error: the answers are the cold-start
ones (popular items; welcome and referral offers) marked ``known: false``.
"""

from __future__ import annotations

import time
from dataclasses import fields

import numpy as np
from flask import Blueprint, current_app, g, request

from features.errors import ApiError
from serving.api.auth import require
from serving.api.params import bool_arg, channel_arg, check_id, int_arg, known_args
from training.artifacts.horizons import MAX_HORIZON_DAYS


def horizon_answer(bundle, member_id: str, days: int) -> dict:
    """``profile.horizon``; a 422 when the served version has no purchase-cycle model."""
    if bundle.horizon is None:
        raise ApiError(f"horizon_days: version {bundle.version} has no purchase-cycle model "
                       "(BG/NBD); retrain it to answer at other horizons.", 422)
    found = bundle.horizon.member(member_id, days)
    # A member without a purchase before as_of: no risk to give, no spend expected.
    return found or {"horizon_days": days, "churn_risk": None, "expected_spend": 0.0,
                     "mean_spend": 0.0, "answered_by": bundle.horizon.answered_by(days)}


bp = Blueprint("members", __name__, url_prefix="/v1/members")

MAX_OFFERS = 10  # the engine's default max_offers (documented in /openapi.json)
MAX_ITEMS = 100
MAX_CATEGORIES = 20


@bp.get("/<member_id>")
@require("read")
def profile(member_id: str):
    """Segment, cluster, RFM, churn risk and its drivers, CLV, tier and points to the next tier.

    ``?horizon_days=N`` adds ``profile.horizon``: churn risk and expected spend over the
    ``N`` days after the version's as-of date (BG/NBD + Gamma-Gamma).
    """
    member_id = check_id(member_id)
    known_args("horizon_days")
    days = int_arg("horizon_days", 0, 1, MAX_HORIZON_DAYS)
    found = g.served.engine.profile(member_id)
    if days and found is not None:
        found["horizon"] = horizon_answer(g.served.bundle, member_id, days)
    return {"member_id": member_id, "known": found is not None,
            "model_version": g.served.version, "profile": found}


@bp.get("/<member_id>/offers")
@require("read")
def offers(member_id: str):
    """The offer engine's choice for this member now, on ``channel``."""
    member_id = check_id(member_id)
    known_args("channel", "limit")
    channel = channel_arg()
    limit = int_arg("limit", 3, 1, g.served.engine.config.max_offers)
    ext = current_app.extensions
    return offers_document(g.served, ext["offers_store"], member_id, channel, limit,
                           g.request_id, ext.get("offers_decisions"), ext.get("offers_arms"))


def offers_document(served, store, member_id: str, channel: str, limit: int,
                    request_id: str, writer=None, arms=None) -> dict:
    """The offers answer (checked arguments); also used by :mod:`serving.api.fast_path`.

    ``writer`` (a decision-log writer) gets the decision's record; ``arms`` (an A/B
    test's engines) picks the member's arm's engine, named in the record.
    """
    history = store.snapshot([member_id])  # read now: events posted before are counted
    engine, arm = served.engine, None
    if arms is not None:  # an A/B test: the member's arm decides (serving/engine/arms.py)
        arm, engine = arms.route(member_id, engine)
    try:
        if writer is None:
            decision = engine.decide(member_id, channel, limit=limit, now=utc_now(),
                                     history=history)
        else:
            decision, record = engine.decide_pending(
                member_id, channel, limit=limit, now=utc_now(), history=history)
            writer.submit(record if arm is None else record.with_arm(arm))
    except ValueError as exc:  # the engine's input errors (an unknown channel, ...)
        raise ApiError(str(exc)) from exc
    return {"request_id": request_id, **decision_fields(decision)}


def utc_now() -> np.datetime64:
    """The current time as the engine takes it cheapest: naive UTC ``datetime64[s]``.

    (An aware ``datetime`` costs the engine a pandas conversion on every request.)
    """
    return np.datetime64(int(time.time()), "s")  # seconds since the epoch, UTC, truncated


def decision_fields(decision) -> dict:
    """A decision's fields, JSON-ready: its offers are fresh dicts and lists already.

    Same content as ``Decision.to_dict`` (``dataclasses.asdict``), which deep-copies
    every offer: a third of an offers request's time (issue 6).
    """
    names = _FIELD_NAMES.get(type(decision))
    if names is None:
        names = _FIELD_NAMES[type(decision)] = tuple(f.name for f in fields(decision))
    return {name: getattr(decision, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # decision class -> its field names


@bp.get("/<member_id>/recommendations")
@require("read")
def recommendations(member_id: str):
    """Top items (optionally of one category) and top categories, with scores."""
    member_id = check_id(member_id)
    known_args("limit", "exclude_purchased", "category", "categories")
    limit = int_arg("limit", 10, 1, MAX_ITEMS)
    exclude = bool_arg("exclude_purchased", False)
    category = request.args.get("category") or None
    categories = int_arg("categories", 3, 0, MAX_CATEGORIES)
    return recommendations_document(g.served, member_id, limit, exclude, category, categories)


def recommendations_document(served, member_id: str, limit: int, exclude: bool,
                             category: str | None, categories: int) -> dict:
    """The recommendations answer (checked arguments); also used by the fast path."""
    bundle = served.bundle
    if category is not None and bundle.category_code(category) < 0:
        raise ApiError(f"unknown category {category[:80]!r}; categories are the item "
                       "categories of the training data (see a profile's top_categories).", 422)
    items, top = bundle.recommend_with_categories(member_id, k=limit, exclude_purchased=exclude,
                                                  category=category, n_categories=categories)
    return {"member_id": member_id, "known": bundle.has_member(member_id),
            "model_version": served.version, "items": items, "categories": top}

"""A campaign's offers rendered template by template: the engine's strings, cheaper.

:meth:`OfferEngine.render <serving.engine.engine.OfferEngine.render>` builds
one offer from scratch: the member's facts, every placeholder of
docs/catalog.md, the texts, the reason and the code. For a campaign of many
thousands of offers that is most of the time. Here the same strings come
from the same functions (:func:`~serving.engine.messages.placeholders`,
:func:`~serving.engine.messages.render`, :func:`~serving.engine.messages.reason`),
with the work shared:

- the member's facts are read as columns, once per member;
- the facts that depend on the template only (the expiry, a free item's
  name) once per template, by the engine's own
  :meth:`~serving.engine.engine.OfferEngine.facts`;
- each placeholder a template's texts use is computed once per distinct
  value of the facts it depends on (:data:`PLACEHOLDER_FACTS`), and each
  title and message once per distinct set of values.

A template using a placeholder this module does not know is filled with
every placeholder per offer (slower, the same result).
``tests/test_campaign_render.py`` checks that the strings are exactly those
of the engine's per-offer rendering.
"""

from __future__ import annotations

import dataclasses
import math
import string

import numpy as np
import pandas as pd

from serving.engine.engine import offer_code
from serving.engine.messages import (
    OfferFacts,
    placeholders,
    placeholders_for,
    reason,
    render,
)
from serving.engine.scoring_context import Scored

#: The facts each placeholder of :func:`~serving.engine.messages.placeholders` reads.
PLACEHOLDER_FACTS = {
    "category": ("category",), "item": ("item",), "percent": ("amount",),
    "amount": ("amount",), "money": ("amount",), "points": ("amount",),
    "multiplier": ("amount",), "points_balance": ("points_balance",), "tier": ("tier",),
    "next_tier": ("next_tier",), "gap": ("gap", "gap_in_points"), "plan": ("plan",),
    "expiry": ("expiry",), "days": ("amount",), "currency": (),
    "favourite_category": ("favourite_category",), "recency_days": ("recency_days",),
}  # fmt: skip
#: Facts about the member (the rest are about the offer).
MEMBER_FACTS = ("points_balance", "plan", "recency_days", "churn_risk", "churn_codes",
                "churn_texts", "favourite_category", "tier", "next_tier", "gap",
                "gap_in_points")
_FORMATTER = string.Formatter()


def render_columns(engine, member_ids: np.ndarray, rows: np.ndarray, offers: dict,
                   stamp: np.datetime64, channel: str, campaign: str) -> dict[str, list]:
    """The campaign file's columns for ``n`` offers, as the engine renders them one by one.

    Parameters
    ----------
    engine : OfferEngine
    member_ids : ndarray of str, shape (n,)
        Member id of each offer.
    rows : ndarray of int, shape (n,)
        Member table row of each offer (-1: unknown member).
    offers : dict of str to ndarray, each of shape (n,)
        ``template``, ``amount``, ``category``, ``item``, ``share``, ``p``, ``cost``
        (the scores of each offer) and ``ev`` (its expected value).
    stamp : datetime64[s]
    channel, campaign : str

    Returns
    -------
    dict of str to list
        The columns of ``campaign.OFFER_COLUMNS``, each of length n (offers in order).

    Assumes clean input (the campaign validated it).
    """
    n = len(rows)
    out = {name: [None] * n for name in
           ("title", "message", "code", "target", "reason", "reason_codes")}
    member = _member_facts(engine, rows)
    template = np.asarray(offers["template"], dtype=np.int64)
    names = _names(engine, offers)
    for t in np.unique(template).tolist():
        where = np.flatnonzero(template == t)
        part = _render_template(engine, t, where, member_ids, member, names, offers, stamp,
                                channel, campaign)
        for name, values in part.items():
            column = out[name]
            for i, value in zip(where.tolist(), values):
                column[i] = value
    offer = engine.catalog.offers
    lookups = {"offer_id": [x.id for x in offer], "type": [x.type for x in offer],
               "value_kind": [x.value.kind for x in offer],
               "expiry": [_template_facts(engine, t, stamp).expiry
                          for t in range(len(offer))] if n else []}
    tpl = template.tolist()
    out |= {name: [lut[t] for t in tpl] for name, lut in lookups.items()}
    out["member_id"] = [str(x) for x in member_ids.tolist()]
    out["campaign_id"] = [campaign] * n
    out["channel"] = [channel] * n
    out["value_amount"] = [a if math.isfinite(a) else None
                           for a in offers["amount"].astype(np.float64).tolist()]
    for name, key in (("p_redeem", "p"), ("cost", "cost"), ("expected_value", "ev")):
        out[name] = [round(x, 4) for x in offers[key].astype(np.float64).tolist()]
    return out


def to_frame(parts: list[dict[str, list]], n: int, columns: list[str]) -> pd.DataFrame:
    """One DataFrame of the column dicts ``parts`` (in order, ``n`` rows in all)."""
    if n == 0:
        return pd.DataFrame.from_records([], columns=columns)
    return pd.DataFrame({c: [x for part in parts for x in part[c]] for c in columns},
                        columns=columns)


def _render_template(engine, t: int, where: np.ndarray, member_ids, member: dict, names: dict,
                     offers: dict, stamp, channel: str, campaign: str) -> dict[str, list]:
    """Title, message, code, target and reason of the offers ``where`` of template ``t``."""
    template = engine.catalog.offers[t]
    currency = engine.catalog.currency
    title, message = template.title, template.message[channel]
    fields = sorted(_fields(title) | _fields(message) | _fields(template.reason))
    fixed = _template_facts(engine, t, stamp)
    index = where.tolist()
    m_index = member["index"][where].tolist()
    # One column per OfferFacts field, in the dataclass's order.
    facts_columns = {
        "amount": _canonical(offers["amount"][where].astype(np.float64).tolist()),
        "category": [names["category"][i] for i in index],
        "item": [names["item"][i] if names["item"][i] is not None else fixed.item
                 for i in index],
        "share": offers["share"][where].astype(np.float64).tolist(),
        "expiry": [fixed.expiry] * len(index),
    } | {f: [member[f][i] for i in m_index] for f in MEMBER_FACTS}
    facts = [OfferFacts(*args) for args in zip(*(facts_columns[f] for f in _FACT_FIELDS))]
    if all(f in PLACEHOLDER_FACTS for f in fields):
        value_columns = [_placeholder_column(template, f, facts_columns, currency)
                         for f in fields]
        values = [dict(zip(fields, row)) for row in zip(*value_columns)] if fields else \
            [{} for _ in index]
    else:  # a placeholder this module does not know: every placeholder, offer by offer
        values = [placeholders(template, x, currency) for x in facts]
    texts: dict = {}
    titles, messages = [], []
    for v in values:
        key = tuple(v[f] for f in fields)
        pair = texts.get(key)
        if pair is None:
            pair = texts[key] = (render(title, v), render(message, v))
        titles.append(pair[0])
        messages.append(pair[1])
    reasons, reason_codes = [], []
    for x, v in zip(facts, values):
        why, why_codes = reason(template, x, v)
        reasons.append(why)
        reason_codes.append(",".join(why_codes))
    codes = [offer_code(m, template.id, campaign) for m in member_ids[where].tolist()]
    return {"title": titles, "message": messages, "code": codes, "reason": reasons,
            "reason_codes": reason_codes, "target": [names["target"][i] for i in index]}


_FACT_FIELDS = tuple(f.name for f in dataclasses.fields(OfferFacts))
_NAN = float("nan")


def _canonical(values: list) -> list:
    """NaN as one object, so that dicts find it (they compare keys by identity first)."""
    return [_NAN if x != x else x for x in values]


def _placeholder_column(template, name: str, facts_columns: dict, currency: str) -> list[str]:
    """Placeholder ``name`` for every offer, computed once per value of the facts it reads."""
    deps = PLACEHOLDER_FACTS[name]
    if not deps:
        return [placeholders_for(template, OfferFacts(), currency, (name,))[name]] * len(
            facts_columns["amount"])
    keys = zip(*(facts_columns[f] for f in deps)) if len(deps) > 1 else \
        ((x,) for x in _canonical(facts_columns[deps[0]]))
    memo: dict = {}
    column = []
    for key in keys:
        value = memo.get(key)
        if value is None:
            alone = OfferFacts(**dict(zip(deps, key)))
            value = memo[key] = placeholders_for(template, alone, currency, (name,))[name]
        column.append(value)
    return column


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in _FORMATTER.parse(text) if f is not None}


def _template_facts(engine, t: int, stamp) -> OfferFacts:
    """Facts of template ``t`` that no member changes (expiry, its fixed or free item)."""
    T = engine.templates.n
    one = Scored(np.ones((1, T), bool), np.zeros((1, T)), np.zeros((1, T)), np.zeros((1, T)),
                 np.full((1, T), np.nan), np.full((1, T), -1), np.full((1, T), -1),
                 np.full((1, T), np.nan))
    return engine.facts(-1, one, 0, t, stamp)


def _names(engine, offers: dict) -> dict[str, list]:
    """Per offer: category name, item name (None: none) and the target column's value."""
    b = engine.bundle
    category, item = offers["category"].astype(np.int64), offers["item"].astype(np.int64)
    cat_names = [str(c) for c in b.categories] + [None]
    cat = [cat_names[c] for c in np.where(category >= 0, category, len(b.categories)).tolist()]
    used = np.unique(item[item >= 0])
    item_name = {int(i): str(b.item_names[i]) for i in used.tolist()}
    item_target = {int(i): str(b.item_ids[i]) or str(b.categories[b.item_category[i]])
                   or "basket" for i in used.tolist()}
    items = item.tolist()
    names = [item_name.get(i) for i in items]
    target = [item_target[i] if i >= 0 else (c or "basket") for i, c in zip(items, cat)]
    return {"category": cat, "item": names, "target": target}


def _member_facts(engine, rows: np.ndarray) -> dict:
    """The member's part of :meth:`OfferEngine.facts`, once per distinct row.

    Returns a dict of lists over the distinct rows (:data:`MEMBER_FACTS`) and
    ``index``, the position of each offer's row among them.
    """
    b, ctx = engine.bundle, engine.context
    m, num = b.members, b.members.numeric
    unique, index = np.unique(rows, return_inverse=True)
    known = unique >= 0
    safe = np.maximum(unique, 0)
    nan = float("nan")

    def numeric(values):
        return np.where(known, values[safe], np.nan).astype(np.float64).tolist()

    def coded(field):
        lut = list(m.names[field]) + [None]
        code = m.codes[field][safe]
        return [lut[c] for c in np.where(known & (code >= 0), code, len(lut) - 1).tolist()]

    def listed(field):
        return [list(v) if k else [] for v, k in zip(m.lists[field][safe].tolist(),
                                                     known.tolist())]

    n = len(unique)
    cat_names = [str(c) for c in b.categories] + [None]
    top = ctx.targets[safe, 0] if n else np.empty(0, dtype=np.int64)
    facts = {
        "points_balance": numeric(num["points_balance"]), "plan": coded("plan"),
        "recency_days": numeric(num["recency_days"]), "churn_risk": numeric(num["churn_risk"]),
        "churn_codes": listed("churn_reason_codes"),
        "churn_texts": listed("churn_reasons"),
        "favourite_category": [cat_names[c] for c in
                               np.where(known & (top >= 0), top, len(cat_names) - 1).tolist()],
        "tier": [None] * n, "next_tier": [None] * n, "gap": [nan] * n,
        "gap_in_points": [False] * n, "index": index.reshape(-1),
    }
    ladder = engine.ladder
    if ladder is not None and n:
        tiers = ladder.tiers
        levels = [int(x) for x in ctx.tier[safe].tolist()]
        facts["tier"] = [tiers[x].name if k and x < len(tiers) else None
                         for x, k in zip(levels, known.tolist())]
        facts["next_tier"] = [tiers[x + 1].name if k and x + 1 < len(tiers) else None
                              for x, k in zip(levels, known.tolist())]
        facts["gap"] = numeric(ctx.tier_gap)
        facts["gap_in_points"] = [bool(k) and ladder.basis == "points_balance"
                                  for k in known.tolist()]
    return facts

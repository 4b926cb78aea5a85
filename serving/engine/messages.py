"""Titles, messages and reasons of a chosen offer: placeholders filled, reasons explained.

A reason is data-driven where the data says something specific (a retention
offer names the member's churn risk and its first driver; a category offer
says how much of the member's shopping the category is) and the template's
own ``reason`` otherwise. Reason codes are machine-readable: the offer
type's code, then the evidence (``FAVOURITE_CATEGORY``, ``POPULAR_CHOICE``,
the churn model's driver codes, ...).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field

from serving.engine.catalog_schema import OFFER_TYPES

#: A category at least this share of a member's recent purchases is a favourite.
FAVOURITE_SHARE = 0.05
_FORMATTER = string.Formatter()


@dataclass
class OfferFacts:
    """What is known about one (member, offer) pair when rendering it."""

    amount: float = math.nan
    category: str | None = None
    item: str | None = None
    share: float = math.nan
    points_balance: float = math.nan
    tier: str | None = None
    next_tier: str | None = None
    gap: float = math.nan
    gap_in_points: bool = False
    plan: str | None = None
    expiry: str = ""
    favourite_category: str | None = None
    recency_days: float = math.nan
    churn_risk: float = math.nan
    churn_codes: list[str] = field(default_factory=list)
    churn_texts: list[str] = field(default_factory=list)


def display_name(name: str | None) -> str | None:
    """A category or item name for a sentence.

    >>> display_name("BAKED BREAD/BUNS/ROLLS"), display_name("coffee_tea")
    ('baked bread/buns/rolls', 'coffee tea')
    """
    if not name:
        return name
    if name.isupper() or "_" in name:
        return name.replace("_", " ").lower()
    return name


def _capital(name: str | None) -> str | None:
    """``"gold"`` -> ``"Gold"`` (tier and plan names in a sentence)."""
    return name[:1].upper() + name[1:] if name else name


def _number(x: float, digits: int = 0) -> str:
    if not math.isfinite(x):
        return ""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.{max(digits, 2)}f}"


def placeholders(template, facts: OfferFacts, currency: str) -> dict[str, str]:
    """Values of every placeholder of docs/catalog.md for one offer."""
    amount = facts.amount
    return {
        "category": display_name(facts.category) or "your favourites",
        "item": display_name(facts.item) or "a favourite of yours",
        "percent": _number(amount),
        "amount": _number(amount),
        "money": f"{currency}{amount:,.2f}" if math.isfinite(amount) else "",
        "points": _number(amount if template.value.kind != "free_item"
                          else template.value.points_price),
        "multiplier": _number(amount),
        "points_balance": _number(facts.points_balance) or "your",
        "tier": _capital(facts.tier) or "member",
        "next_tier": _capital(facts.next_tier) or "the next tier",
        "gap": (f"{_number(math.ceil(facts.gap))} points" if facts.gap_in_points
                else f"{currency}{math.ceil(facts.gap):,}") if math.isfinite(facts.gap) else "",
        "plan": _capital(facts.plan) or "our membership",
        "expiry": facts.expiry,
        "days": _number(amount if template.value.kind == "free_trial"
                        else template.expiry_days),
        "currency": currency,
        "favourite_category": display_name(facts.favourite_category) or "your favourites",
        "recency_days": _number(round(facts.recency_days)) if math.isfinite(
            facts.recency_days) else "",
    }


def render(text: str, values: dict[str, str]) -> str:
    """Fill ``{placeholders}`` of a validated text: doubled spaces collapsed, first letter
    upper case (a sentence may start with a category)."""
    out = " ".join(text.format_map(values).split())
    return out[:1].upper() + out[1:]


def reason(template, facts: OfferFacts, values: dict[str, str]) -> tuple[str, list[str]]:
    """The readable reason and the reason codes of one offer."""
    codes = [OFFER_TYPES[template.type][2]]
    if template.retention and math.isfinite(facts.churn_risk):
        driver = f": {facts.churn_texts[0]}" if facts.churn_texts else ""
        codes += [c for c in facts.churn_codes if c not in codes]
        return f"At risk of lapsing ({facts.churn_risk:.0%} churn risk){driver}", codes
    if facts.category is not None and template.target.kind != "basket":
        name = display_name(facts.category)
        if math.isfinite(facts.share) and facts.share >= FAVOURITE_SHARE:
            codes.append("FAVOURITE_CATEGORY")
            return (f"You buy {name} often ({facts.share:.0%} of your recent shopping)", codes)
        if math.isfinite(facts.share) and facts.share > 0:
            codes.append("BOUGHT_BEFORE")
            return f"You buy {name} now and then", codes
        if template.target.kind == "recommended":
            codes.append("POPULAR_CHOICE")
            return f"Popular with members like you: {name}", codes
    return render(template.reason, values), codes

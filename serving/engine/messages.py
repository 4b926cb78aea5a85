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

from serving.engine.catalog.schema import OFFER_TYPES

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
    """A category or item name for a sentence: words in capitals in lower case, a code (one
    word with a digit: an item id such as a SKU standing in for a name) as it is.

    >>> display_name("BAKED BREAD/BUNS/ROLLS"), display_name("coffee_tea")
    ('baked bread/buns/rolls', 'coffee tea')
    >>> display_name("85123A"), display_name("SKU-0042")
    ('85123A', 'SKU-0042')
    """
    if not name:
        return name
    if " " not in name and any(c.isdigit() for c in name):
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
    return {name: value(template, facts, currency) for name, value in _VALUES.items()}


def placeholders_for(template, facts: OfferFacts, currency: str,
                     names) -> dict[str, str]:
    """:func:`placeholders`, only ``names`` of them (see :func:`placeholder_names`)."""
    return {name: _VALUES[name](template, facts, currency) for name in names}


def placeholder_names(template) -> tuple[str, ...]:
    """The placeholders the template's title, messages and reason use."""
    texts = [template.title, template.reason, *template.message.values()]
    found = {name for text in texts for _, name, _, _ in _FORMATTER.parse(text) if name}
    return tuple(name for name in _VALUES if name in found)


def _gap(template, facts: OfferFacts, currency: str) -> str:
    if not math.isfinite(facts.gap):
        return ""
    if facts.gap_in_points:
        return f"{_number(math.ceil(facts.gap))} points"
    return f"{currency}{math.ceil(facts.gap):,}"


#: Each placeholder's value from (template, facts, currency), in docs/catalog.md's order.
_VALUES = {
    "category": lambda t, f, c: display_name(f.category) or "your favourites",
    "item": lambda t, f, c: display_name(f.item) or "a favourite of yours",
    "percent": lambda t, f, c: _number(f.amount),
    "amount": lambda t, f, c: _number(f.amount),
    "money": lambda t, f, c: f"{c}{f.amount:,.2f}" if math.isfinite(f.amount) else "",
    "points": lambda t, f, c: _number(f.amount if t.value.kind != "free_item"
                                      else t.value.points_price),
    "multiplier": lambda t, f, c: _number(f.amount),
    "points_balance": lambda t, f, c: _number(f.points_balance) or "your",
    "tier": lambda t, f, c: _capital(f.tier) or "member",
    "next_tier": lambda t, f, c: _capital(f.next_tier) or "the next tier",
    "gap": _gap,
    "plan": lambda t, f, c: _capital(f.plan) or "our membership",
    "expiry": lambda t, f, c: f.expiry,
    "days": lambda t, f, c: _number(f.amount if t.value.kind == "free_trial"
                                    else t.expiry_days),
    "currency": lambda t, f, c: c,
    "favourite_category": lambda t, f, c: display_name(f.favourite_category)
    or "your favourites",
    "recency_days": lambda t, f, c: _number(round(f.recency_days)) if math.isfinite(
        f.recency_days) else "",
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

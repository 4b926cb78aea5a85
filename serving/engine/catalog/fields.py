"""Field-level checks of a catalog, each failing with a located :class:`ConfigError`.

:class:`Where` names the file, the offer and the field path of a value, so
every message reads ``file: offer 'id': field 'path': expected ..., got ...``.
"""

from __future__ import annotations

import math
import re
import string
from typing import Any

import numpy as np

from features.errors import ConfigError
from serving.engine.catalog.schema import Target

#: Placeholders a title, message or reason may use (see docs/catalog.md).
PLACEHOLDERS = frozenset({
    "category", "item", "percent", "amount", "money", "points", "multiplier", "points_balance",
    "tier", "next_tier", "gap", "plan", "expiry", "days", "currency", "favourite_category",
    "recency_days",
})
NEEDS_TARGET = frozenset({"category", "item"})
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SEASON = re.compile(r"^(\d{2})-(\d{2})$")


class Where:
    """Where a value sits, for error messages: file, offer and field path."""

    def __init__(self, source: str, offer: str | None = None, path: str = ""):
        self.source, self.offer, self.path = source, offer, path

    def __truediv__(self, key: str) -> Where:
        return Where(self.source, self.offer, f"{self.path}.{key}" if self.path else key)

    def fail(self, expected: str, got: Any = None, *, show_got: bool = True) -> ConfigError:
        who = f" offer '{self.offer}':" if self.offer else ""
        what = f" field '{self.path}':" if self.path else ""
        tail = f", got {got!r}" if show_got else ""
        return ConfigError(f"{self.source}:{who}{what} expected {expected}{tail}.")


def mapping(raw, where: Where, allowed: set[str]) -> dict:
    """``raw`` if it is a mapping with only ``allowed`` keys."""
    if not isinstance(raw, dict):
        raise where.fail("a mapping of fields" if where.path else "a catalog mapping with "
                         "an 'offers' list", type(raw).__name__)
    unknown = sorted(set(map(str, raw)) - allowed)
    if unknown:
        raise where.fail(f"only the fields {', '.join(sorted(allowed))}",
                         f"unknown field(s) {', '.join(unknown)}", show_got=True)
    return raw


def number(value, where: Where, lo: float = -math.inf, hi: float = math.inf, *,
            lo_open: bool = False, integer: bool = False) -> float:
    """``value`` as a float if it is a number in the range (``lo`` excluded if ``lo_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))
    if ok:
        ok = (value > lo if lo_open else value >= lo) and value <= hi
        ok = ok and (not integer or float(value).is_integer())
    if not ok:
        left = "(" if lo_open else "["
        span = "" if (lo, hi) == (-math.inf, math.inf) else \
            f" in {left}{_fmt(lo)}, {_fmt(hi)}]" if hi < math.inf else \
            f" {'>' if lo_open else '>='} {_fmt(lo)}"
        raise where.fail(f"{'an integer' if integer else 'a number'}{span}", value)
    return float(value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def date(value, where: Where) -> np.datetime64 | None:
    """An ISO date or timestamp as ``datetime64[s]`` (None stays None)."""
    if value is None:
        return None
    try:
        return np.datetime64(str(value), "s")
    except ValueError:
        raise where.fail("an ISO date like 2026-12-24", value) from None


def month_day(value, where: Where) -> int:
    """``"11-15"`` -> 1115."""
    match = SEASON.match(str(value)) if isinstance(value, str) else None
    if not match or not (1 <= int(match[1]) <= 12 and 1 <= int(match[2]) <= 31):
        raise where.fail("a month and day like '11-15' (quoted in YAML)", value)
    return int(match[1]) * 100 + int(match[2])


def check_placeholders(text: str, where: Where, target: Target, has_tiers: bool,
                        has_item: bool) -> None:
    """Only known placeholders, and only those the offer can fill."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise where.fail(f"a text with well-formed {{placeholders}} ({exc})", text) from None
    unknown = sorted(n for n in names if n not in PLACEHOLDERS)
    if unknown:
        raise where.fail(f"placeholders from {{{', '.join(sorted(PLACEHOLDERS))}}}",
                         f"{{{unknown[0]}}} in {text!r}")
    if names & NEEDS_TARGET and target.kind == "basket" and not has_item:
        raise where.fail("no {category} or {item} on a whole-basket offer", text)
    if names & {"next_tier", "gap"} and not has_tiers:
        raise where.fail("a 'tiers' section for {next_tier} and {gap}", text)

"""Checking request input: ids, query parameters and JSON bodies, with messages that say the fix.

Every helper raises :class:`~serving.api.errors.ApiError` (400, or 415 for a body
that is not JSON) naming the parameter, the value received and what is allowed.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from flask import request

from features.errors import ApiError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$")
ID_RULE = "1-64 characters: letters, digits and _ . : @ - (starting with a letter or digit)"
CHANNELS = ("app", "email", "sms")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def check_id(value: Any, name: str = "member_id") -> str:
    """``value`` as an id string, or a 400 saying what an id may contain."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ApiError(f"{name} must be a string id, got {type(value).__name__}.")
    text = str(value)
    if not ID_PATTERN.match(text):
        raise ApiError(f"malformed {name} {shown(text)}: ids are {ID_RULE}.")
    return text


def known_args(*names: str) -> None:
    """A 400 naming any query parameter other than ``names`` (a typo is not ignored)."""
    args = request.args
    if args and not all(name in names for name in args):
        unknown = sorted(set(args) - set(names))
        taken = ", ".join(names) if names else "none"
        raise ApiError(f"unknown query parameter(s) {shown(', '.join(unknown))}; this endpoint "
                       f"takes: {taken}.")


def int_arg(name: str, default: int, low: int, high: int, value: Any = None) -> int:
    """An integer query parameter (or JSON ``value``) in ``[low, high]``."""
    raw = request.args.get(name) if value is None else value
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise ApiError(f"{name} must be an integer from {low} to {high}, got {raw!r}.")
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise ApiError(f"{name} must be an integer from {low} to {high}, "
                       f"got {shown(raw)}.") from None
    if isinstance(raw, float) and raw != number:
        raise ApiError(f"{name} must be an integer from {low} to {high}, got {raw!r}.")
    if not low <= number <= high:
        raise ApiError(f"{name}={number} is out of range; use {low} to {high}.")
    return number


def bool_arg(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise ApiError(f"{name} must be true or false, got {shown(raw)}.")


_QUERY = object()  # "read the query string" (a JSON value may be null)


def channel_arg(value: Any = _QUERY) -> str:
    """The ``channel`` query parameter, or the JSON ``value`` given."""
    raw = request.args.get("channel", "app") if value is _QUERY else value
    if not isinstance(raw, str) or raw not in CHANNELS:
        raise ApiError(f"unknown channel {shown(raw)}; use one of {', '.join(CHANNELS)}.")
    return raw


MAX_NUMBER_DIGITS = 1000  # longer integer literals are refused before int() runs (it is
# quadratic in the digits); shorter ones reach the field checks, which name the field


def json_body() -> Any:
    """The parsed JSON body; 415 when not sent as JSON, 400 when it does not parse.

    Stricter than :func:`json.loads`: ``NaN``, ``Infinity`` and numbers that
    overflow a float (``1e400``) are refused (they are not JSON, and would
    reach the engine and the store as non-finite values), so are integers of
    more than :data:`MAX_NUMBER_DIGITS` digits, and a body nested too deeply
    for the parser is a 400, not a ``RecursionError``.
    """
    if not request.is_json:
        raise ApiError("send the body as JSON with 'Content-Type: application/json'.", 415)
    return parse_json(request.get_data(cache=True))


def parse_json(raw: bytes | str) -> Any:
    """``raw`` parsed as strict JSON, or a 400 :class:`ApiError` saying what is wrong.

    >>> parse_json(b'{"limit": 3}')
    {'limit': 3}
    """
    if not raw:
        raise ApiError("the body is empty; send a JSON document.")
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except ApiError:
        raise
    except RecursionError:
        raise ApiError("the body is nested too deeply; the API's bodies are objects and "
                       "lists at most a few levels deep.") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise ApiError("the body is not valid JSON; check quotes, commas and brackets.") from None


def _no_constant(name: str) -> Any:
    raise ApiError(f"{name} is not a JSON number; send a finite number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ApiError(f"the number {shown(text)} is out of range; send a finite number.")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ApiError(f"an integer of {len(text)} digits is out of range; "
                       f"send at most {MAX_NUMBER_DIGITS} digits.")
    return int(text)


def json_object(data: Any, what: str) -> dict:
    if not isinstance(data, dict):
        raise ApiError(f"{what} must be a JSON object, got {type(data).__name__}.")
    return data


def shown(value: Any, limit: int = 40) -> str:
    """``value`` quoted and cut to ``limit`` characters, for error messages."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time (``Z`` allowed, no zone meaning UTC) as an aware UTC datetime.

    Raises ValueError when ``text`` is not ISO 8601, OverflowError when it falls
    outside the calendar in UTC (``0001-01-01T00:00:00+01:00``); callers say which
    times they accept.
    """
    ts = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)

"""Checking request input: ids, query parameters and JSON bodies, with messages that say the fix.

Every helper raises :class:`~serving.api.errors.ApiError` (400, or 415 for a body
that is not JSON) naming the parameter, the value received and what is allowed.
"""

from __future__ import annotations

import re
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
        raise ApiError(f"malformed {name} {_shown(text)}: ids are {ID_RULE}.")
    return text


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
                       f"got {_shown(raw)}.") from None
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
    raise ApiError(f"{name} must be true or false, got {_shown(raw)}.")


def channel_arg(value: Any = None) -> str:
    raw = request.args.get("channel", "app") if value is None else value
    if raw not in CHANNELS:
        raise ApiError(f"unknown channel {_shown(raw)}; use one of {', '.join(CHANNELS)}.")
    return raw


def json_body() -> Any:
    """The parsed JSON body; 415 when not sent as JSON, 400 when it does not parse."""
    if not request.is_json:
        raise ApiError("send the body as JSON with 'Content-Type: application/json'.", 415)
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError("the body is not valid JSON; check quotes, commas and brackets.")
    return data


def json_object(data: Any, what: str) -> dict:
    if not isinstance(data, dict):
        raise ApiError(f"{what} must be a JSON object, got {type(data).__name__}.")
    return data


def _shown(value: Any, limit: int = 40) -> str:
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")

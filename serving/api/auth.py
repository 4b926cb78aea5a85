"""API keys with scopes, sent as ``Authorization: Bearer KEY``.

Scopes: ``read`` (offers, recommendations, profiles, the model), ``events``
(post offer events) and ``admin`` (reload the model); a key holds any of them
and nothing implies anything else. A missing, malformed or unknown key is a
401 with ``WWW-Authenticate``; a known key without the scope is a 403.

Keys are kept only as SHA-256 digests and every check compares the presented
key's digest with every configured digest using :func:`hmac.compare_digest`,
so the time taken says nothing about which key or how much of it matched.
Keys are never logged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence

from flask import current_app, g, request

from features.errors import ApiError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="offers"'}


def new_api_key() -> str:
    """A random key of 32 URL-safe characters (192 bits)."""
    return secrets.token_urlsafe(24)


class KeyRing:
    """The configured keys as digests, each with its scopes.

    >>> ring = KeyRing({"a-long-enough-key-1": ["read"]})
    >>> sorted(ring.scopes("a-long-enough-key-1")), ring.scopes("wrong")
    (['read'], None)
    """

    def __init__(self, keys: Mapping[str, Sequence[str]]):
        self._entries = [(_digest(key), frozenset(scopes)) for key, scopes in keys.items()]

    def __len__(self) -> int:
        return len(self._entries)

    def scopes(self, presented: str) -> frozenset[str] | None:
        """The scopes of ``presented``, or None when it is no configured key."""
        digest = _digest(presented)
        found = None
        for known, scopes in self._entries:  # no early exit: constant time in the key count
            if hmac.compare_digest(digest, known):
                found = scopes
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def authorize(scope: str) -> None:
    """Raise a 401 or 403 :class:`ApiError` unless the request's key holds ``scope``."""
    if current_app.config["AUTH_OPEN"]:
        g.key_scopes = frozenset(("read", "events", "admin"))
        return
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if not header:
        raise ApiError("missing API key; send 'Authorization: Bearer KEY'.", 401,
                       headers=CHALLENGE)
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError("malformed Authorization header; send 'Authorization: Bearer KEY'.", 401,
                       headers=CHALLENGE)
    scopes = current_app.extensions["offers_keys"].scopes(key.strip())
    if scopes is None:
        raise ApiError("unknown API key.", 401, headers=CHALLENGE)
    if scope not in scopes:
        raise ApiError(f"this API key lacks the '{scope}' scope needed here; "
                       f"it has: {', '.join(sorted(scopes))}.", 403)
    g.key_scopes = scopes


def require(scope: str) -> Callable:
    """Decorate a view so that it runs only for keys holding ``scope``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            authorize(scope)
            return view(*args, **kwargs)

        wrapped.required_scope = scope
        return wrapped

    return decorator

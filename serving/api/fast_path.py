"""A thin WSGI route for the two hot GETs: member offers and member recommendations.

Flask's routing, request context and hooks cost an offers request more than the
engine's decision (issue 14). :class:`FastPath` wraps the app's ``wsgi_app``
and answers, without Flask, only the requests Flask would answer ``200``:

- ``GET /v1/members/<id>/offers`` and ``.../recommendations`` with an id that
  passes :data:`~serving.api.params.ID_PATTERN`;
- a plain query string (letters, digits, ``_ . -`` in ``name=value`` pairs, no
  escapes, each name once, only the endpoint's names) with values in range;
- a Bearer key holding the ``read`` scope (or a server run ``--open``).

It does the same work in the same order as the Flask views (the same functions
build the documents: :func:`~serving.api.members.offers_document`,
:func:`~serving.api.members.recommendations_document`), with the same request
id, model snapshot, headers, metrics series and access-log line. Everything
else (a bad id or parameter, a missing or wrong key, an error of the engine,
a body that is not pure ASCII JSON, any other path or method) goes to Flask,
which answers exactly as before: the fast path never answers an error itself.

Imports: :mod:`serving.api` siblings, ``orjson``.
"""

from __future__ import annotations

import re
import time

import orjson

from serving.api.hooks import REQUEST_ID, log_access
from serving.api.json_response import _OPTIONS, _refuse
from serving.api.members import (
    MAX_CATEGORIES,
    MAX_ITEMS,
    offers_document,
    recommendations_document,
)
from serving.api.params import CHANNELS, FALSE, ID_PATTERN, TRUE
from serving.engine.engine import new_id

_PATH = re.compile(r"^/v1/members/([^/]{1,64})/(offers|recommendations)$")
_PLAIN = re.compile(r"^[A-Za-z0-9_.=&-]*$")  # nothing to unescape: parsed as written
_DIGITS = re.compile(r"^[0-9]{1,4}$")
ROUTES = {"offers": "/v1/members/<member_id>/offers",
          "recommendations": "/v1/members/<member_id>/recommendations"}


class FastPath:
    """WSGI middleware: the 200 answers of the two hot GETs; everything else to ``flask_wsgi``."""

    def __init__(self, app, flask_wsgi):
        self.app = app
        self.flask_wsgi = flask_wsgi
        ext = app.extensions
        self.keys, self.holder = ext["offers_keys"], ext["offers_model"]
        self.store, self.metrics = ext["offers_store"], ext["offers_metrics"]
        # The decision log and an A/B test's arms, as the Flask view uses them.
        self.decisions, self.arms = ext.get("offers_decisions"), ext.get("offers_arms")
        self.open = bool(app.config["AUTH_OPEN"])

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET":
            found = _PATH.match(environ.get("PATH_INFO", ""))
            if found is not None and ID_PATTERN.match(found.group(1)):
                answer = self._answer(environ, found.group(1), found.group(2))
                if answer is not None:
                    start_response("200 OK", answer)
                    return [answer.body]
        return self.flask_wsgi(environ, start_response)

    def _answer(self, environ, member_id: str, endpoint: str):
        started = time.perf_counter()
        args = _plain_args(environ.get("QUERY_STRING", ""))
        if args is None or not self._authorized(environ):
            return None
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if REQUEST_ID.match(incoming) else new_id()
        self.holder.poll()
        served = self.holder.served
        try:
            if endpoint == "offers":
                document = self._offers(served, member_id, args, request_id)
            else:
                document = _recommendations(served, member_id, args)
            if document is None:
                return None
            body = orjson.dumps(document, default=_refuse, option=_OPTIONS)
        except Exception:  # ApiError, or a failure: Flask answers it (4xx, or a logged 500)
            return None
        if not body.isascii():
            return None
        headers = _Headers([("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))), ("X-Request-ID", request_id),
                            ("X-Model-Version", served.version)])
        headers.body = body
        route = ROUTES[endpoint]
        self.metrics.count(route, "GET", 200, started)
        log_access("GET", route, route, 200, (time.perf_counter() - started) * 1000,
                   request_id, member_id)
        return headers

    def _authorized(self, environ) -> bool:
        if self.open:
            return True
        scheme, _, key = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return False
        scopes = self.keys.scopes(key)
        return scopes is not None and "read" in scopes

    def _offers(self, served, member_id: str, args: dict, request_id: str) -> dict | None:
        if not args.keys() <= {"channel", "limit"}:
            return None
        channel = args.get("channel", "app")
        limit = _int(args.get("limit"), 3, 1, served.engine.config.max_offers)
        if channel not in CHANNELS or limit is None:
            return None
        return offers_document(served, self.store, member_id, channel, limit, request_id,
                               self.decisions, self.arms)


class _Headers(list):
    """The response headers, carrying the body along."""

    body = b""


def _recommendations(served, member_id: str, args: dict) -> dict | None:
    if not args.keys() <= {"limit", "exclude_purchased", "category", "categories"}:
        return None
    limit = _int(args.get("limit"), 10, 1, MAX_ITEMS)
    categories = _int(args.get("categories"), 3, 0, MAX_CATEGORIES)
    raw = args.get("exclude_purchased", "").lower()
    if limit is None or categories is None or raw not in ("", *TRUE, *FALSE):
        return None
    return recommendations_document(served, member_id, limit, raw in TRUE,
                                    args.get("category") or None, categories)


def _plain_args(query: str) -> dict[str, str] | None:
    """``name=value`` pairs of a query string with nothing to unescape; None otherwise."""
    if not query:
        return {}
    if not _PLAIN.match(query):
        return None
    args = {}
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if not eq or not name or name in args or "=" in value:
            return None
        args[name] = value
    return args


def _int(raw: str | None, default: int, low: int, high: int) -> int | None:
    """``raw`` as an integer in ``[low, high]`` (``default`` when absent); None otherwise."""
    if raw is None or raw == "":
        return default
    if not _DIGITS.match(raw):
        return None
    number = int(raw)
    return number if low <= number <= high else None

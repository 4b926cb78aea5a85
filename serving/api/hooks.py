"""What runs around every request: a request id, the model snapshot, metrics, an access log.

* ``X-Request-ID``: taken from the request when it is a short plain token,
  otherwise made up; echoed in the response and in every error body.
* ``g.served``: the model this request uses from start to end (see
  :mod:`serving.model_state`); the worker first checks, cheaply, whether the
  server switched versions.
* One access-log line per request: method, route (or, for a 404, the path
  itself), status, time, request id and the member id in the path (never
  headers, keys, query strings or bodies); as fields of a JSON line too with
  ``offers serve --log-format json`` (:mod:`serving.log_format`).
"""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, current_app, g, request

from serving.api.params import ID_PATTERN
from serving.engine.engine import new_id

logger = logging.getLogger("serving.access")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _before() -> None:
    ctx = g._get_current_object()  # each proxy lookup costs: resolve them once per request
    ctx.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    ctx.request_id = incoming if REQUEST_ID.match(incoming) else new_id()
    holder = current_app.extensions["offers_model"]
    holder.poll()
    ctx.served = holder.served


def _after(response):
    ctx, req = g._get_current_object(), request._get_current_object()
    app = current_app._get_current_object()
    response.headers["X-Request-ID"] = ctx.get("request_id", "")
    if ctx.get("served") is not None and req.path.startswith("/v1/"):
        response.headers["X-Model-Version"] = ctx.served.version
    app.extensions["offers_metrics"].observe(response)
    started = ctx.get("started")
    millis = (time.perf_counter() - started) * 1000 if started is not None else -1.0
    member = str((req.view_args or {}).get("member_id", "-"))
    member = member if ID_PATTERN.match(member) or member == "-" else "(malformed)"
    route = req.url_rule.rule if req.url_rule else None
    # A matched route is logged as its template; an unmatched path (a 404) as itself, cut
    # and escaped: it is client text. Never the query string, headers or body.
    path = route or _shown_path(req.path)
    log_access(req.method, path, route, response.status_code, millis, ctx.get("request_id"),
               member)
    return response


def log_access(method: str, path: str, route: str | None, status: int, millis: float,
               request_id: str | None, member: str) -> None:
    """The access-log line of one request (also written by the fast path).

    The record is made and handed to the handlers directly: ``logger.info`` would first
    walk the stack to name the calling line, which no access line shows (issue 14).
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    logger.handle(logger.makeRecord(
        logger.name, logging.INFO, __file__, 0, "%s %s %d %.1fms rid=%s member=%s",
        (method, path, status, millis, request_id, member), None, "log_access", {
            "method": method, "path": path, "route": route, "status": status,
            "duration_ms": round(millis, 2), "request_id": request_id,
            "member_id": None if member in ("-", "(malformed)") else member}))


def _shown_path(path: str, limit: int = 200) -> str:
    text = path if len(path) <= limit else path[:limit] + "..."
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def register_hooks(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)

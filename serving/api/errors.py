"""JSON errors for every failure: one exception class, registered with ``errorhandler``.

Every error response has the same body::

    {"error": {"status": 400, "code": "bad_request", "message": "...", "request_id": "..."}}

``message`` says what to fix. Werkzeug's HTTP errors (404 for an unknown path,
405, 413 for an oversized body) get the same shape, and an unexpected
exception becomes a 500 with a generic message: the traceback goes to the log,
never to the client, and never as HTML.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

from features.errors import ApiError

logger = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    500: "internal_error",
    503: "unavailable",
}


def error_response(status: int, message: str, code: str | None = None, headers=None):
    body = {"error": {
        "status": status,
        "code": code or CODES.get(status, "error"),
        "message": message,
        "request_id": g.get("request_id"),
    }}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _api_error(exc: ApiError):
    return error_response(exc.status_code, exc.message, exc.code, exc.headers)


def _http_error(exc: HTTPException):
    status = exc.code or 500
    messages = {
        404: "no such endpoint; see /openapi.json for the API.",
        405: "method not allowed on this endpoint; see /openapi.json.",
        413: "request body too large; send fewer items per request (see /openapi.json).",
    }
    message = messages.get(status, exc.description or exc.name)
    headers = {"Allow": exc.response.headers["Allow"]} if status == 405 and exc.response else {}
    if status == 405 and not headers and getattr(exc, "valid_methods", None):
        headers = {"Allow": ", ".join(exc.valid_methods)}
    return error_response(status, message, headers=headers)


def _unexpected(exc: Exception):
    logger.exception("unhandled error in request %s", g.get("request_id"))
    return error_response(500, "internal error; the server log has the details "
                               f"(request id {g.get('request_id')}).")


def register_error_handlers(app: Flask) -> None:
    """Answer every error, expected or not, as JSON."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)

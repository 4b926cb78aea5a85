"""The OpenAPI 3.1 description of the API, served at ``/openapi.json``.

Every route of the app is described here with its parameters, bodies, scope
and every error it can answer; ``tests/serving/test_openapi.py`` checks the
document against the OpenAPI schema and against the app's routes.
"""

from __future__ import annotations

import copy
from typing import Any

from serving.api.members import MAX_CATEGORIES, MAX_HORIZON_DAYS, MAX_ITEMS, MAX_OFFERS
from serving.api.openapi_campaigns import campaign_paths
from serving.api.openapi_schemas import ID, SCHEMAS, ref
from serving.api.params import CHANNELS
from serving.api.score_sends import MAX_SENDS as SCORE_MAX_SENDS

ERRORS = {
    400: "Bad input: a malformed id, a parameter out of range, invalid JSON or fields.",
    401: "No API key, a malformed Authorization header or an unknown key.",
    403: "The API key lacks the scope this endpoint needs.",
    404: "Not found.",
    409: "Conflicts with the stored state.",
    413: "The request body is larger than allowed.",
    415: "The body is not sent as application/json.",
    422: "Well-formed but refused (see the message).",
    500: "An unexpected error; the message carries the request id to find it in the log.",
    503: "Not ready.",
}


SENT = {"event_id": "cmp7-000123-sent", "member_id": "1029", "offer_id": "win-back-discount",
        "event": "sent", "channel": "email", "timestamp": "2024-03-31T14:05:00Z",
        "campaign_id": "cmp7"}
EVENT_EXAMPLES = {
    "one": {"summary": "One event", "value": SENT},
    "list": {"summary": "Several events in one transaction", "value": [
        SENT, {**SENT, "event_id": "cmp7-000123-redeemed", "event": "redeemed",
               "timestamp": "2024-04-02T09:30:00Z", "cost": 2.5}]},
}
BATCH_EXAMPLES = {
    "json": {"summary": "Offers for an email send", "value": {
        "member_ids": ["1029", "1030", "unknown-42"], "channel": "email", "limit": 2}},
}


SCORE_EXAMPLES = {
    "json": {"summary": "Two planned sends", "value": {"sends": [
        {"member_id": "1029", "offer_id": "double-points", "channel": "email"},
        {"member_id": "1030", "offer_id": "cashback-weekend",
         "timestamp": "2026-12-05T09:00:00Z", "channel": "app"}]}},
}


def _error(status: int, description: str | None = None) -> dict:
    return {"description": description or ERRORS[status],
            "content": {"application/json": {"schema": ref("Error")}}}


def _ok(schema: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _op(summary: str, description: str, responses: dict, scope: str | None = None,
        params: list | None = None, body: dict | None = None, tag: str = "members") -> dict:
    op: dict[str, Any] = {"summary": summary, "description": description, "tags": [tag],
                          "operationId": summary.lower().replace(" ", "_").replace("'", "")}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    responses = dict(responses)
    if scope:
        op["security"] = [{"bearer": [scope]}]
        responses.update({"401": _error(401), "403": _error(403)})
    responses.setdefault("500", _error(500))
    op["responses"] = dict(sorted(responses.items()))
    return op


def build_spec(config: dict) -> dict:
    """The document for an app with ``config`` (the limits in it are the configured ones)."""
    member = {"name": "member_id", "in": "path", "required": True, "schema": ID,
              "example": "1029"}
    limit = {"type": "integer", "minimum": 1}
    batch_cap, stream_cap = config["BATCH_MAX_MEMBERS"], config["STREAM_MAX_MEMBERS"]
    events_cap = config["EVENTS_MAX_PER_REQUEST"]
    json_body = lambda schema, examples: {"required": True, "content": {  # noqa: E731
        "application/json": {"schema": schema, "examples": examples}}}
    paths = {
        "/v1/members/{member_id}": {"get": _op(
            "Member profile", "Segment, cluster, RFM, churn risk with its top drivers, CLV, "
            "tier and points to the next tier. Unknown members: known=false, profile=null.",
            {"200": _ok("Profile", "The profile."), "400": _error(400),
             "422": _error(422, "horizon_days given, and the served version has no "
                           "purchase-cycle model (retrain).")}, "read", [
                member,
                _query("horizon_days", {"type": "integer", "minimum": 1,
                                        "maximum": MAX_HORIZON_DAYS},
                       "Add churn risk and expected spend over this many days after the "
                       "version's as-of date (profile.horizon: the models validated at "
                       "the version's horizons, placed on the member's BG/NBD curve).")])},
        "/v1/members/{member_id}/offers": {"get": _op(
            "Member offers", "The offer engine's choice for this member now, with reasons; "
            "caps count the events posted to /v1/events.",
            {"200": _ok("Decision", "The decision."), "400": _error(400)}, "read", [
                member,
                _query("channel", {"type": "string", "enum": list(CHANNELS), "default": "app"},
                       "Where the offers will be shown."),
                _query("limit", {**limit, "maximum": MAX_OFFERS, "default": 3},
                       "Most offers to return.")])},
        "/v1/members/{member_id}/recommendations": {"get": _op(
            "Member recommendations", "Items (optionally of one category) and categories "
            "with scores; popular items for unknown members.",
            {"200": _ok("Recommendations", "Items and categories."), "400": _error(400),
             "422": _error(422, "A category the served model does not know.")},
            "read", [
                member,
                _query("limit", {**limit, "maximum": MAX_ITEMS, "default": 10}, "Items."),
                _query("exclude_purchased", {"type": "boolean", "default": False},
                       "Leave out items the member bought."),
                _query("category", {"type": "string"}, "Only items of this category."),
                _query("categories", {"type": "integer", "minimum": 0,
                                      "maximum": MAX_CATEGORIES, "default": 3},
                       "Top categories to return (0: none).")])},
        "/v1/offers/batch": {"post": _op(
            "Batch offers", f"Offers for up to {batch_cap} members as one JSON answer, or for "
            f"up to {stream_cap} as a stream of JSON lines (NDJSON, one decision per member) "
            "when the request says `Accept: application/x-ndjson`.",
            {"200": {"description": "Decisions in the order of member_ids.", "content": {
                "application/json": {"schema": ref("BatchResponse")},
                "application/x-ndjson": {"schema": ref("Decision")}}},
             "400": _error(400, f"Bad input, or more than {stream_cap} members."),
             "422": _error(422, f"More than {batch_cap} members for a JSON answer: stream "
                                "them (Accept: application/x-ndjson) or split them."),
             "413": _error(413), "415": _error(415)},
            "read", body=json_body(ref("BatchRequest"), BATCH_EXAMPLES), tag="offers")},
        "/v1/offers/score": {"post": _op(
            "Score sends", f"P(redeem), expected cost and expected value of up to "
            f"{SCORE_MAX_SENDS} planned (member, offer) sends, as the engine would use them "
            "(`offers predict-response` over HTTP). Offers are catalog templates; a row "
            "whose offer or member is unknown gets a status, not an error.",
            {"200": _ok("ScoreResponse", "The sends in the order given."),
             "400": _error(400), "413": _error(413), "415": _error(415),
             "422": _error(422, "A timestamp outside 1970..2261.")},
            "read", body=json_body(ref("ScoreRequest"), SCORE_EXAMPLES), tag="offers")},
        "/v1/events": {"post": _op(
            "Post events", f"One event or a list of up to {events_cap}: sent, viewed, "
            "redeemed, dismissed. All stored in one durable transaction, or none.",
            {"200": _ok("EventsResponse", "Stored (duplicates by event_id are not counted "
                                          "again)."),
             "400": _error(400), "409": _error(409, "An event_id is stored for a different "
                                                    "event; nothing was stored."),
             "413": _error(413), "415": _error(415),
             "422": _error(422, "Every event is well-formed but refused: an offer_id the "
                                "catalog does not know, a timestamp in the future or before "
                                "1970; nothing was stored.")},
            "events", body=json_body({"oneOf": [ref("Event"), {
                "type": "array", "items": ref("Event"), "minItems": 1,
                "maxItems": events_cap}]}, EVENT_EXAMPLES), tag="events")},
        "/v1/model": {"get": _op(
            "Model", "The version served: training time, data cut-off, row counts, metrics.",
            {"200": _ok("Model", "The model.")}, "read", tag="model")},
        "/v1/admin/reload": {"post": _op(
            "Reload model", "Load `current` (or the named version) beside the serving one, "
            "verify it and run a smoke prediction, then swap; the other workers follow. "
            "A refused version leaves the old one serving.",
            {"200": _ok("ReloadResponse", "Switched."), "400": _error(400),
             "404": _error(404, "No such version."), "413": _error(413), "415": _error(415),
             "422": _error(422, "The version failed verification or its smoke check; the old "
                                "one keeps serving.")},
            "admin", body={"required": False, "content": {"application/json": {
                "schema": ref("ReloadRequest"), "examples": {
                    "current": {"summary": "The version `current` points at", "value": {}},
                    "named": {"summary": "A named version (404 when there is none)",
                              "value": {"version": "20240331T120000Z-ab12"}}}}}},
            tag="model")},
        "/healthz": {"get": _op("Liveness", "200 while the process answers.",
                                {"200": _ok("Health", "Alive.")}, tag="operations")},
        "/readyz": {"get": _op("Readiness", "200 when a model is loaded and the event store "
                               "answers.", {"200": _ok("Ready", "Ready."),
                                            "503": {"description": "Not ready.", "content": {
                                                "application/json": {"schema": ref("Ready")}}}},
                               tag="operations")},
        "/metrics": {"get": _op("Metrics", "Prometheus text format: requests and latency per "
                                "endpoint, events, reloads, the model version.",
                                {"200": {"description": "Metrics.",
                                         "content": {"text/plain": {"schema": {
                                             "type": "string"}}}}}, tag="operations")},
        "/openapi.json": {"get": _op("OpenAPI", "This document.", {"200": {
            "description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {
                "type": "object"}}}}}, tag="operations")},
        "/docs": {"get": _op("Docs", "This document as a web page.", {"200": {
            "description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}},
            tag="operations")},
    }
    paths.update(campaign_paths(config))  # /v1/campaigns: see serving/api/openapi_campaigns.py
    return {
        "openapi": "3.1.0",
        "info": {"title": "Offer recommender API", "version": "1",
                 "description": "Personalised offers, recommendations and member profiles. "
                 "Send `Authorization: Bearer KEY`; each endpoint names the scope it needs "
                 "(read, events, admin). Every error is JSON (see the Error schema); an "
                 "unknown path is a 404 and a wrong method a 405, both JSON too. Request "
                 f"bodies are limited to {config['MAX_CONTENT_LENGTH']} bytes "
                 f"({config['STREAM_MAX_BYTES']} for a streamed batch, a campaign and planned "
                 "sends to score). Every response "
                 "carries X-Request-ID (send one to have it echoed)."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": _schemas(config), "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "An API key with scopes (read, events, admin)."}}},
    }


def _schemas(config: dict) -> dict:
    """:data:`SCHEMAS` with the configured limits filled in."""
    schemas = copy.deepcopy(SCHEMAS)
    members = schemas["BatchRequest"]["properties"]["member_ids"]
    members["maxItems"] = config["STREAM_MAX_MEMBERS"]
    return schemas

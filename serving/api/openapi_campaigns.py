"""The ``/v1/campaigns`` paths of ``/openapi.json`` (added by :func:`campaign_paths`).

Kept apart from :mod:`serving.api.openapi_spec` so the campaign API's
description lives beside nothing else; the schemas are inline (they reference
only the shared ``Error`` schema).
"""

from __future__ import annotations

from serving.api.campaigns import CURSOR, HOLDOUT_COLUMNS, MAX_BUDGET, TOTALS
from serving.api.openapi_schemas import ID, INT, NUM, STR, nullable, obj, ref
from serving.api.params import CHANNELS
from serving.engine.campaign import OFFER_COLUMNS

FLOW = ("The flow an email tool follows: (1) POST /v1/campaigns with an Idempotency-Key -> "
        "202 and the job's Location; (2) GET the job until status is done (or failed, with "
        "the reason); (3) GET its offers page by page (NDJSON or CSV), and the held-out "
        "members with holdouts=true; (4) POST a `sent` event to /v1/events for each offer "
        "sent: later decisions and campaigns count it against the catalog's caps.")

REQUEST = obj({
    "segment": {"type": "string", "description": "An RFM segment of the served model "
                "(give this or member_ids)."},
    "member_ids": {"type": "array", "items": ID, "minItems": 1,
                   "description": "The audience (give this or segment); repeats count once."},
    "channel": {"type": "string", "enum": list(CHANNELS), "default": "email"},
    "budget": {"type": "number", "minimum": 0, "maximum": MAX_BUDGET,
               "description": "Most expected incentive cost to commit (currency), as "
               "`offers campaign --budget`."},
    "offer_ids": {"type": "array", "items": ID, "minItems": 1,
                  "description": "Only these offers of the catalog (default: all)."},
    "per_member": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
    "campaign_id": {**ID, "description": "Campaign id (control group, codes, events); "
                    "default <channel>-<YYYYMMDD>."},
    "client_key": {**ID, "description": "Idempotency key (or the Idempotency-Key header)."},
}, required=["budget"], additionalProperties=False,
    oneOf=[{"required": ["segment"]}, {"required": ["member_ids"]}])

JOB = obj({
    "job_id": STR,
    "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
    "campaign_id": STR, "model_version": STR,
    "created_at": STR, "started_at": nullable("string"), "finished_at": nullable("string"),
    "error": {"type": ["string", "null"], "description": "Why a failed job failed."},
    "request": {"type": "object", "description": "The request as run (member_ids replaced "
                "by their count, `members`), with as_of, the moment it allocates for."},
    "totals": nullable(obj({
        "offers": INT, "members_with_offers": INT, "audience": INT, "unknown_members": INT,
        "budget": NUM, "expected_cost": {"type": "number", "description": "At most budget."},
        "expected_value": NUM, "expected_redemptions": NUM,
        "held_out": {"type": "integer", "description": "Control-group offers withheld."},
        "offers_by_type": {"type": "object", "additionalProperties": INT},
    }, required=list(TOTALS))),
    "links": obj({"self": STR, "offers": STR, "holdouts": STR}),
})

OFFER_ROW = {"type": "object", "description": "One offer to send (the columns of `offers "
             "campaign`'s file): " + ", ".join(OFFER_COLUMNS) + ".",
             "required": ["member_id", "offer_id", "campaign_id", "code", "cost"]}
HOLDOUT_ROW = obj({c: STR for c in HOLDOUT_COLUMNS})


def _error(status: int, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def _op(summary: str, description: str, responses: dict, params: list | None = None,
        body: dict | None = None) -> dict:
    responses = {**responses, "401": _error(401, "No, malformed or unknown API key."),
                 "403": _error(403, "The API key lacks the read scope."),
                 "500": _error(500, "An unexpected error (the message has the request id).")}
    op = {"summary": summary, "description": description, "tags": ["campaigns"],
          "operationId": summary.lower().replace(" ", "_").replace("'", ""),
          "security": [{"bearer": ["read"]}], "responses": dict(sorted(responses.items()))}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    return op


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def campaign_paths(config: dict) -> dict:
    """The campaign paths for an app with ``config`` (its limits)."""
    request = {**REQUEST, "properties": {**REQUEST["properties"], "member_ids": {
        **REQUEST["properties"]["member_ids"], "maxItems": config["CAMPAIGN_MAX_MEMBERS"]}}}
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": ID,
              "example": "cmp_3f2a91c0de6b4e8f9a1b2c3d4e5f6a7b"}
    job = {"description": "The job.", "content": {"application/json": {"schema": JOB}},
           "headers": {"Location": {"schema": STR, "description": "The job's URL."}}}
    cap, page = config["CAMPAIGN_MAX_MEMBERS"], config["CAMPAIGN_PAGE_MAX"]
    return {
        "/v1/campaigns": {"post": _op(
            "Create campaign", "Allocate offers to a segment or up to "
            f"{cap} members within a budget, as `offers campaign` does, in a background "
            "job. Idempotent by `Idempotency-Key` (or client_key): a retry with the same body "
            "answers the same job (200, Idempotent-Replayed: true). " + FLOW,
            {"202": {**job, "description": "Created; poll its Location."},
             "200": {**job, "description": "A retry: the job created for this key."},
             "400": _error(400, "Bad input (the message names the field)."),
             "409": _error(409, "The key was used for a different request."),
             "413": _error(413, "The body is larger than allowed."),
             "415": _error(415, "The body is not sent as application/json."),
             "422": _error(422, "An unknown segment or offer id, or an Idempotency-Key "
                                "header and a client_key that differ.")},
            params=[{"name": "Idempotency-Key", "in": "header", "required": False,
                     "schema": ID, "description": "A unique key per campaign (a UUID)."}],
            body={"required": True, "content": {"application/json": {
                "schema": request, "examples": {"members": {
                    "summary": "An email send to a member list within a budget",
                    "value": {"member_ids": ["1029", "1030"], "channel": "email",
                              "budget": 500, "per_member": 1}}}}}})},
        "/v1/campaigns/{job_id}": {"get": _op(
            "Campaign job", "Status (queued, running, done, failed); totals when done; the "
            "reason when failed. A job whose server process stopped is failed, never left "
            "running.",
            {"200": job, "400": _error(400, "A malformed job id."),
             "404": _error(404, "No such job.")}, params=[job_id])},
        "/v1/campaigns/{job_id}/offers": {"get": _op(
            "Campaign offers", f"The allocation of a done job, up to {page} rows a page, as "
            "NDJSON (default) or CSV (`Accept: text/csv` or format=csv). The Link header "
            "(rel=next) and X-Next-Cursor give the next page; X-Total-Count the rows.",
            {"200": {"description": "One page.", "content": {
                "application/x-ndjson": {"schema": {"anyOf": [OFFER_ROW, HOLDOUT_ROW]}},
                "text/csv": {"schema": STR}}},
             "400": _error(400, "A bad limit, cursor, offset or format."),
             "404": _error(404, "No such job."),
             "409": _error(409, "The job is not done (or failed; the message says why).")},
            params=[job_id,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": page,
                                     "default": page}, "Rows per page."),
                    _query("cursor", {"type": "string", "pattern": CURSOR.pattern},
                           "X-Next-Cursor of the previous page."),
                    _query("offset", {"type": "integer", "minimum": 0}, "Rows to skip "
                           "(instead of cursor)."),
                    _query("format", {"type": "string", "enum": ["ndjson", "csv"]},
                           "Instead of the Accept header."),
                    _query("holdouts", {"type": "boolean", "default": False},
                           "The control group's withheld offers instead.")])},
    }

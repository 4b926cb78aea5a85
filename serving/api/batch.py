"""``POST /v1/offers/batch``: offers for many members at once, for email tools (scope ``read``).

Body: ``{"member_ids": [...], "channel": "email", "limit": 3}``.

* JSON (default): at most ``BATCH_MAX_MEMBERS`` (1,000) members; one response
  ``{"results": [decision, ...]}`` in the order given.
* Streamed: with ``Accept: application/x-ndjson`` up to ``STREAM_MAX_MEMBERS``
  (50,000) members and a body of up to ``STREAM_MAX_BYTES``; one JSON line per
  member is written as soon as it is decided, so memory stays flat. A failure
  half-way ends the stream with an ``{"error": ...}`` line.

Every member's decision uses the same model version and a history read from
the event store in chunks (a few queries per chunk, never one per member).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from features.errors import ApiError
from serving.api.auth import require
from serving.api.members import decision_fields, utc_now
from serving.api.params import channel_arg, check_id, int_arg, json_body, json_object, shown

logger = logging.getLogger(__name__)

bp = Blueprint("batch", __name__, url_prefix="/v1/offers")

NDJSON = "application/x-ndjson"
CHUNK = 500


@bp.post("/batch")
@require("read")
def batch():
    streamed = request.accept_mimetypes.best_match(["application/json", NDJSON]) == NDJSON
    config = current_app.config
    if streamed:
        request.max_content_length = config["STREAM_MAX_BYTES"]
    body = json_object(json_body(), "the request body")
    unknown = sorted(set(body) - {"member_ids", "channel", "limit"})
    if unknown:
        raise ApiError(f"unknown field(s) {', '.join(unknown)}; send member_ids, channel, limit.")
    cap = config["STREAM_MAX_MEMBERS"] if streamed else config["BATCH_MAX_MEMBERS"]
    ids = body.get("member_ids")
    if not isinstance(ids, list) or not ids:
        raise ApiError("member_ids must be a non-empty list of member ids.")
    if len(ids) > cap:
        hint = (f"split it into requests of at most {cap}" if streamed else
                f"split it, or stream with 'Accept: {NDJSON}' (up to "
                f"{config['STREAM_MAX_MEMBERS']} members)")
        # More than a JSON answer takes but no more than a stream takes: schema-valid, refused.
        status = 422 if len(ids) <= config["STREAM_MAX_MEMBERS"] else 400
        raise ApiError(f"{len(ids)} member_ids is more than {cap} per request; {hint}.", status)
    ids = [check_id(m, f"member_ids[{i}]") for i, m in enumerate(ids)]
    channel = channel_arg(body["channel"] if "channel" in body else "email")
    high = g.served.engine.config.max_offers
    if "limit" in body and (isinstance(body["limit"], bool)
                            or not isinstance(body["limit"], (int, float))):
        raise ApiError(f"limit must be an integer from 1 to {high}, got {shown(body['limit'])}.")
    limit = int_arg("limit", 3, 1, high, value=body.get("limit"))
    served, store = g.served, current_app.extensions["offers_store"]
    now = utc_now()
    writer = current_app.extensions.get("offers_decisions")
    arms = current_app.extensions.get("offers_arms")

    def decisions():
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            history = store.snapshot(chunk)
            for member_id in chunk:
                engine, arm = served.engine, None
                if arms is not None:  # an A/B test: the member's arm decides
                    arm, engine = arms.route(member_id, engine)
                if writer is None:
                    decision = engine.decide(member_id, channel, limit=limit, now=now,
                                             history=history)
                else:  # logged for replay (issue 15)
                    decision, record = engine.decide_pending(
                        member_id, channel, limit=limit, now=now, history=history)
                    writer.submit(record if arm is None else record.with_arm(arm))
                yield decision_fields(decision)

    header = {"request_id": g.request_id, "model_version": served.version, "channel": channel,
              "limit": limit}
    if not streamed:
        results = list(decisions())
        return {**header, "count": len(results), "results": results}

    def lines():
        try:
            for decision in decisions():
                yield json.dumps(decision, separators=(",", ":")) + "\n"
        except Exception:
            logger.exception("batch stream %s failed", header["request_id"])
            yield json.dumps({"error": {"status": 500, "code": "internal_error",
                                        "message": "the stream failed; retry the members not "
                                                   "answered yet.",
                                        "request_id": header["request_id"]}}) + "\n"

    return Response(stream_with_context(lines()), mimetype=NDJSON,
                    headers={"X-Model-Version": served.version})

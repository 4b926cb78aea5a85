"""``POST /v1/offers/score``: P(redeem), expected cost and value of planned sends (scope ``read``).

Body: ``{"sends": [{"member_id": "1029", "offer_id": "double-points",
"timestamp": "2026-12-01T10:00:00Z", "channel": "email"}, ...]}`` with at most
:data:`MAX_SENDS` rows; ``timestamp`` (default now) and ``channel`` (default
``email``) are optional. The answer lists the rows in order with the columns of
:mod:`serving.engine.planned_sends` (``status``, ``p_redeem``, ``cost``,
``expected_cost``, ``expected_value``, ``eligible``), as ``offers
predict-response`` writes them. Malformed rows are a 400 naming the row; an
offer the catalog lacks or a member the model does not know is a row status. The body
may be as large as a streamed batch's (``stream_max_bytes``, 8 MiB).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from flask import Blueprint, current_app, g, request

from features.errors import ApiError
from serving.api.auth import require
from serving.api.members import utc_now
from serving.api.params import CHANNELS, check_id, json_body, json_object, parse_utc, shown
from serving.engine.planned_sends import OUTPUT, score_sends

bp = Blueprint("score_sends", __name__, url_prefix="/v1/offers")

#: Most rows per request.
MAX_SENDS = 10_000
FIELDS = ("member_id", "offer_id", "timestamp", "channel")
_EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(2262, 1, 1, tzinfo=timezone.utc)  # pandas' nanosecond calendar ends in 2262


@bp.post("/score")
@require("read")
def score():
    # 10,000 rows with a timestamp and channel are about 1 MB: more than max_body_bytes.
    request.max_content_length = current_app.config["STREAM_MAX_BYTES"]
    body = json_object(json_body(), "the request body")
    unknown = sorted(set(body) - {"sends"})
    if unknown:
        raise ApiError(f"unknown field(s) {', '.join(unknown)}; send sends.")
    sends = body.get("sends")
    if not isinstance(sends, list) or not sends:
        raise ApiError("sends must be a non-empty list of {member_id, offer_id, timestamp, "
                       "channel} objects.")
    if len(sends) > MAX_SENDS:
        raise ApiError(f"{len(sends)} sends is more than {MAX_SENDS} per request; split them.")
    frame = pd.DataFrame([_row(raw, i) for i, raw in enumerate(sends)], columns=FIELDS)
    served = g.served
    scored = score_sends(served.engine, frame, now=utc_now())
    results = []
    for record in scored.to_dict("records"):
        results.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                            bool(v) if isinstance(v, np.bool_) else v)
                        for k, v in record.items() if k in ("member_id", "offer_id", *OUTPUT)})
    return {"request_id": g.request_id, "model_version": served.version,
            "count": len(results), "results": results}


def _row(raw, i: int) -> dict:
    where = f"sends[{i}]"
    raw = json_object(raw, where)
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ApiError(f"{where}: unknown field(s) {', '.join(unknown)}; send "
                       f"{', '.join(FIELDS)}.")
    for name in ("member_id", "offer_id"):
        if name not in raw:
            raise ApiError(f"{where}: {name} is missing.")
    channel = raw.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise ApiError(f"{where}: channel {shown(channel)} is not one of "
                       f"{', '.join(CHANNELS)}.")
    return {"member_id": check_id(raw["member_id"], f"{where}.member_id"),
            "offer_id": check_id(raw["offer_id"], f"{where}.offer_id"),
            "timestamp": _timestamp(raw.get("timestamp"), where), "channel": channel or ""}


def _timestamp(value, where: str) -> str:
    """An ISO 8601 time as naive UTC text ('' for none); a 400 or 422 saying what is wrong."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(f"{where}: timestamp must be an ISO 8601 string "
                       f"(e.g. 2026-12-01T10:00:00Z), got {type(value).__name__}.")
    try:
        ts = parse_utc(value)
    except ValueError:
        raise ApiError(f"{where}: timestamp {shown(value)} is not ISO 8601 "
                       "(e.g. 2026-12-01T10:00:00Z).") from None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        ts = None
    if ts is None or not _EARLIEST <= ts < _LATEST:
        raise ApiError(f"{where}: timestamp {shown(value)} is outside 1970..2261; send the "
                       "moment the offer would be sent.", 422)
    return ts.replace(tzinfo=None).isoformat()

"""``GET /v1/model`` (scope ``read``) and ``POST /v1/admin/reload`` (scope ``admin``).

A reload loads the version that ``current`` points at (or the named one)
beside the serving one, verifies its hashes and library versions, runs a smoke
prediction, and only then swaps it in. Requests already running finish on the
old version. A version that fails is refused (404 when it does not exist, 422
when it is broken or incompatible) and the old one keeps serving. The other
workers of the server follow within ``MODEL_CHECK_SECONDS``; a SIGHUP to the
server does the same as a reload of ``current``.
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, current_app, g, request

from features.errors import ApiError
from serving.api.auth import require
from serving.api.params import json_body, json_object
from serving.model_state import VERSION_PATTERN, read_target

logger = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/v1")


@bp.get("/model")
@require("read")
def model():
    """The version served: when it was trained, on data up to when, and its metrics."""
    served = g.served
    manifest = served.bundle.manifest
    holder = current_app.extensions["offers_model"]
    return {
        "version": served.version,
        "trained_at": manifest.get("created_at"),
        "as_of": manifest.get("as_of"),
        "loaded_at": served.loaded_at.isoformat(),
        "row_counts": manifest.get("row_counts", {}),
        "metrics": manifest.get("metrics", {}),
        "server_target": read_target(holder.state_file) or served.version,
        "pid": os.getpid(),
    }


@bp.post("/admin/reload")
@require("admin")
def reload():
    """Switch to ``current`` or to ``{"version": "..."}`` after verifying it."""
    version = None
    if request.content_length:
        body = json_object(json_body(), "the request body")
        unknown = sorted(set(body) - {"version"})
        if unknown:
            raise ApiError(f"unknown field(s) {', '.join(unknown)}; send {{\"version\": \"...\"}} "
                           "or no body to reload the version `current` points at.")
        version = body.get("version")
        if "version" in body and (not isinstance(version, str)
                                  or not VERSION_PATTERN.match(version) or ".." in version):
            # null too: the schema says a string; leave the field out to reload `current`
            raise ApiError("version must be a version name as listed by `offers versions`; "
                           "leave it out to reload the version `current` points at.")
    holder = current_app.extensions["offers_model"]
    counter = current_app.extensions["offers_metrics"].reloads
    try:
        target = holder.resolve(version)
    except Exception as exc:
        counter.labels("refused").inc()
        raise ApiError(str(exc), 404) from exc
    if not os.path.isdir(os.path.join(holder.artifacts_dir, target)):
        counter.labels("refused").inc()
        raise ApiError(f"no version {target!r} in the artifacts directory; list them with "
                       "`offers versions`.", 404)
    try:
        previous, new = holder.reload(target)
    except Exception as exc:
        counter.labels("refused").inc()
        raise ApiError(f"version {target} was refused and {g.served.version} keeps serving: "
                       f"{exc}", 422) from exc
    counter.labels("ok").inc()
    return {"previous_version": previous, "version": new, "changed": previous != new,
            "note": "other workers switch within "
                    f"{current_app.config['MODEL_CHECK_SECONDS']:g} s"}

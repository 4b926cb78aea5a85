"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can serve: model and store).

Neither needs a key: load balancers and orchestrators call them.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, g

from serving.model_state import read_target

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: 200 whenever the worker can answer at all."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when a model is loaded and the event store answers, else 503."""
    problems = []
    if g.get("served") is None:
        problems.append("no model loaded")
    try:
        current_app.extensions["offers_store"].ping()
    except Exception as exc:  # any failure to reach the store means not ready
        logger.warning("event store not reachable: %s", exc)
        problems.append("event store not reachable")
    holder = current_app.extensions["offers_model"]
    target = read_target(holder.state_file)
    body = {
        "status": "ready" if not problems else "unavailable",
        "model_version": g.served.version if g.get("served") else None,
        "target_version": target,
        "switching": bool(target and g.get("served") and target != g.served.version),
        "problems": problems,
    }
    return body, 200 if not problems else 503

"""``/v1/campaigns``: budgeted campaigns for email tools, run as background jobs (scope ``read``).

The flow (``docs/api.md``, "Campaigns"):

1. ``POST /v1/campaigns`` with ``{"segment": "at_risk", "channel": "email",
   "budget": 500}`` (or ``"member_ids": [...]``; optional ``offer_ids``,
   ``per_member``, ``campaign_id``) and an ``Idempotency-Key`` header: 202,
   the job and its ``Location``. A retry with the same key and body answers
   the same job (200); the same key with another body is a 409.
2. ``GET /v1/campaigns/{job_id}`` until ``status`` is ``done`` (with totals)
   or ``failed`` (with the reason).
3. ``GET /v1/campaigns/{job_id}/offers`` page by page (NDJSON, or CSV with
   ``Accept: text/csv`` or ``?format=csv``; ``?holdouts=true`` for the
   control group's withheld offers).
4. ``POST /v1/events`` a ``sent`` event per offer sent: later decisions and
   campaigns count it against the catalog's caps.

The allocation is ``offers campaign``'s (:mod:`serving.api.campaign_jobs`).
Scope ``read``: like ``/v1/offers/batch`` a campaign only computes offers;
nothing counts against a cap until the email tool reports sends with an
``events`` key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from datetime import datetime, timezone

from flask import Blueprint, Flask, Response, current_app, g, request, url_for

from features.errors import ApiError, ConfigError
from serving.api.auth import require
from serving.api.campaign_jobs import JobRunner
from serving.api.params import bool_arg, channel_arg, check_id, int_arg, json_body, json_object
from serving.engine.campaign import OFFER_COLUMNS
from serving.store.jobs import Job, JobStore

bp = Blueprint("campaigns", __name__, url_prefix="/v1/campaigns")

NDJSON, CSV = "application/x-ndjson", "text/csv"
FIELDS = ("segment", "member_ids", "channel", "budget", "offer_ids", "per_member", "campaign_id",
          "client_key")
HOLDOUT_COLUMNS = ("member_id", "campaign_id", "offer_id")
MAX_BUDGET = 1e12
CURSOR = re.compile(r"^[0-9]{1,15}$")
TOTALS = ("offers", "members_with_offers", "audience", "unknown_members", "budget",
          "expected_cost", "expected_value", "expected_redemptions", "held_out",
          "offers_by_type")


def init_app(app: Flask) -> None:
    """Keep the job store and the runner on the app; fail the jobs a restart interrupted."""
    for name, low in (("CAMPAIGN_MAX_MEMBERS", 1), ("CAMPAIGN_PAGE_MAX", 1),
                      ("CAMPAIGN_PROCESSES", 1), ("CAMPAIGN_JOB_HEARTBEAT_SECONDS", 0.01),
                      ("CAMPAIGN_JOB_STALE_SECONDS", 1), ("CAMPAIGN_JOB_KEEP_DAYS", 0)):
        value = app.config[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
            raise ConfigError(f"{name.lower()}={value!r} should be a number >= {low}.")
    if app.config["CAMPAIGN_JOB_STALE_SECONDS"] < 3 * app.config["CAMPAIGN_JOB_HEARTBEAT_SECONDS"]:
        raise ConfigError("campaign_job_stale_seconds should be at least three heartbeats "
                          "(CAMPAIGN_JOB_HEARTBEAT_SECONDS), or running jobs look dead.")
    jobs = JobStore(app.extensions["offers_store"])
    runner = JobRunner(jobs, app.extensions["offers_store"], app.config)
    runner.decisions = app.extensions.get("offers_decisions")
    app.extensions["offers_campaign_jobs"] = runner
    runner.recover()


@bp.post("")
@require("read")
def create():
    config = current_app.config
    request.max_content_length = config["STREAM_MAX_BYTES"]  # member lists can be long
    body = json_object(json_body(), "the request body")
    client_key = _client_key(body)
    wanted = _campaign_request(body, g.served.engine, config)
    fingerprint = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    stored = dict(wanted, as_of=now.isoformat(timespec="seconds"), campaign_id=(
        wanted["campaign_id"] or f"{wanted['channel']}-{now:%Y%m%d}"))
    runner: JobRunner = current_app.extensions["offers_campaign_jobs"]
    job, created = runner.jobs.create(stored, fingerprint, client_key, g.served.version)
    if not created:
        if job.fingerprint != fingerprint:
            raise ApiError(f"Idempotency-Key {client_key!r} was used for a different campaign "
                           f"request (job {job.job_id}); a retry must repeat the body exactly, "
                           "a new campaign needs a new key.", 409)
        job = runner.checked(job)
        return _answer(job, 200, {"Idempotent-Replayed": "true"})
    runner.submit(job, g.served)
    return _answer(runner.jobs.get(job.job_id) or job, 202)


@bp.get("/<job_id>")
@require("read")
def status(job_id: str):
    return _answer(_job(job_id), 200)


@bp.get("/<job_id>/offers")
@require("read")
def offers(job_id: str):
    job = _job(job_id)
    if job.status != "done":
        why = f": {job.error}" if job.error else f"; poll GET {_link(job)} until it is done"
        raise ApiError(f"campaign job {job.job_id} is {job.status}{why}.", 409)
    holdouts = bool_arg("holdouts", False)
    kind, columns = ("holdouts", HOLDOUT_COLUMNS) if holdouts else ("offers", OFFER_COLUMNS)
    total = job.n_holdouts if holdouts else job.n_offers
    as_csv = _wants_csv()
    page_max = current_app.config["CAMPAIGN_PAGE_MAX"]
    limit = int_arg("limit", page_max, 1, page_max)
    start = _start(total)
    end = min(start + limit, total)
    headers = {"X-Total-Count": str(total), "X-Campaign-Id": job.request["campaign_id"]}
    if end < total:
        query = {"limit": limit, "cursor": str(end), "holdouts": str(holdouts).lower(),
                 **({"format": "csv"} if as_csv else {})}
        headers["X-Next-Cursor"] = str(end)
        headers["Link"] = f'<{url_for(".offers", job_id=job.job_id, **query)}>; rel="next"'
    lines = current_app.extensions["offers_campaign_jobs"].jobs.rows(job.job_id, kind, start,
                                                                    end - start)
    if as_csv:
        return Response(_csv(lines, columns), mimetype=CSV, headers=headers)
    return Response((line + "\n" for line in lines), mimetype=NDJSON, headers=headers)


# -- helpers --------------------------------------------------------------------------------
def _campaign_request(body: dict, engine, config) -> dict:
    """The checked request (defaults filled in); raises :class:`ApiError` naming the fix."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(f"unknown field(s) {', '.join(unknown)}; fields are {', '.join(FIELDS)}.")
    segment, ids = body.get("segment"), body.get("member_ids")
    if (segment is None) == (ids is None):
        raise ApiError("give exactly one audience: segment (an RFM segment name) or member_ids "
                       "(a list of member ids).")
    members = engine.bundle.members
    if segment is not None:
        known = members.names["segment"]
        if not isinstance(segment, str) or segment not in known:
            raise ApiError(f"unknown segment {str(segment)[:40]!r}; the model's segments are "
                           f"{', '.join(known)}.", 422)
    else:
        cap = config["CAMPAIGN_MAX_MEMBERS"]
        if not isinstance(ids, list) or not ids:
            raise ApiError("member_ids must be a non-empty list of member ids.")
        if len(ids) > cap:
            raise ApiError(f"{len(ids)} member_ids is more than {cap} per campaign; split the "
                           "list into several campaigns or target a segment.")
        ids = list(dict.fromkeys(check_id(m, f"member_ids[{i}]") for i, m in enumerate(ids)))
    budget = _budget(body.get("budget"))
    offer_ids = body.get("offer_ids")
    if offer_ids is not None:
        catalog = engine.catalog.ids
        if not isinstance(offer_ids, list) or not offer_ids:
            raise ApiError("offer_ids must be a non-empty list of the catalog's offer ids "
                           "(leave it out to use every offer).")
        offer_ids = sorted({check_id(o, f"offer_ids[{i}]") for i, o in enumerate(offer_ids)})
        missing = [o for o in offer_ids if o not in catalog]
        if missing:
            raise ApiError(f"unknown offer_id(s) {', '.join(missing[:5])}; the catalog's offers "
                           f"are {', '.join(catalog)}.", 422)
    campaign_id = body.get("campaign_id")
    return {
        "segment": segment, "member_ids": ids, "channel": channel_arg(body.get("channel", "email")),
        "budget": budget, "offer_ids": offer_ids,
        "per_member": int_arg("per_member", 1, 1, engine.config.max_offers,
                              value=body.get("per_member")),
        "campaign_id": None if campaign_id is None else check_id(campaign_id, "campaign_id"),
    }


def _budget(value) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            number = None
    if number is None or not math.isfinite(number) or not 0 <= number <= MAX_BUDGET:
        raise ApiError(f"budget must be a number from 0 to {MAX_BUDGET:.0e} (the most expected "
                       f"incentive cost to commit), got {str(value)[:40]}.")
    return number


def _client_key(body: dict) -> str | None:
    header, field = request.headers.get("Idempotency-Key"), body.get("client_key")
    if header is not None and field is not None and header != field:
        # Schema-valid, each on its own: refused (422), not malformed (issue 14, schemathesis).
        raise ApiError("the Idempotency-Key header and client_key differ; send one of them.",
                       422)
    key = header if header is not None else field
    return None if key is None else check_id(key, "Idempotency-Key")


def _job(job_id: str) -> Job:
    runner: JobRunner = current_app.extensions["offers_campaign_jobs"]
    job = runner.jobs.get(check_id(job_id, "job_id"))
    if job is None:
        raise ApiError(f"no campaign job {job_id!r}; create one with POST /v1/campaigns.", 404)
    return runner.checked(job)


def _link(job: Job) -> str:
    return url_for(".status", job_id=job.job_id)


def _answer(job: Job, status: int, headers: dict | None = None):
    request_fields = {k: v for k, v in job.request.items() if k != "member_ids"}
    if job.request.get("member_ids") is not None:
        request_fields["members"] = len(job.request["member_ids"])
    summary = job.summary or {}
    body = {
        "job_id": job.job_id, "status": job.status, "campaign_id": job.request["campaign_id"],
        "model_version": job.model_version, "created_at": job.created_at,
        "started_at": job.started_at, "finished_at": job.finished_at, "error": job.error,
        "request": request_fields,
        "totals": {k: summary[k] for k in TOTALS if k in summary} if job.status == "done"
        else None,
        "links": {"self": _link(job),
                  "offers": url_for(".offers", job_id=job.job_id),
                  "holdouts": url_for(".offers", job_id=job.job_id, holdouts="true")},
    }
    return body, status, {"Location": _link(job), **(headers or {})}


def _wants_csv() -> bool:
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt not in ("csv", "ndjson"):
            raise ApiError(f"format must be csv or ndjson, got {str(fmt)[:40]!r}.")
        return fmt == "csv"
    return request.accept_mimetypes.best_match([NDJSON, CSV]) == CSV


def _start(total: int) -> int:
    cursor, offset = request.args.get("cursor"), request.args.get("offset")
    if cursor is not None and offset is not None:
        raise ApiError("give cursor or offset, not both.")
    if cursor is not None:
        if not CURSOR.fullmatch(cursor) or int(cursor) > total:
            raise ApiError(f"malformed cursor {cursor[:40]!r}; pass the X-Next-Cursor of the "
                           "previous page (or follow its Link header).")
        return int(cursor)
    return int_arg("offset", 0, 0, total)


def _csv(lines, columns) -> object:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(columns)
    yield flush()
    for n, line in enumerate(lines, 1):
        row = json.loads(line)
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
        if n % 500 == 0:
            yield flush()
    yield flush()

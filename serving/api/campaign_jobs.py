"""Running campaign jobs: the allocation of ``offers campaign`` in a worker's background.

:class:`JobRunner` takes jobs that :mod:`serving.api.campaigns` stored as
``queued`` and runs them one at a time on a daemon thread of the worker that
received them (or in the request itself with ``CAMPAIGN_JOBS_INLINE``).
A job runs :func:`serving.engine.allocate_campaign` with the history read from
the event store (the events posted to ``/v1/events``: sends count against the
catalog's caps) and stores every row and the ``done`` status in one
transaction (:meth:`serving.store.jobs.JobStore.finish`).

While it holds unfinished jobs, the worker refreshes their heartbeat every
``CAMPAIGN_JOB_HEARTBEAT_SECONDS``. A job whose process is gone (restart,
crash, OOM kill) is marked ``failed`` with :data:`INTERRUPTED` by the next
worker that starts (:meth:`JobRunner.recover`) or that reads it
(:meth:`JobRunner.checked`); it is never left ``running`` nor reported done
with part of its rows.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pandas as pd

from features.errors import ConfigError, DataError
from serving.engine import InMemoryHistory, OfferEngine, allocate_campaign
from serving.store.jobs import Job, JobStore, owner_gone, process_owner

logger = logging.getLogger(__name__)

INTERRUPTED = ("interrupted: the server process running this job stopped (restart or crash) "
               "before it finished; no offers were stored. Create the campaign again with a "
               "new Idempotency-Key.")
_ROW_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class StoreHistory(InMemoryHistory):
    """The audience's events read from the event store, with the store's offer totals.

    The totals cover every member (budgets and redemption limits are
    program-wide), the events only the audience (per-member caps).
    """

    def __init__(self, events: pd.DataFrame, totals: dict[str, dict[str, float]]):
        super().__init__(events)
        self._store_totals = totals

    def offer_totals(self) -> dict[str, dict[str, float]]:
        return self._store_totals

    @classmethod
    def read(cls, store, member_ids) -> StoreHistory:
        events = store.member_events_many(member_ids)
        frame = pd.DataFrame(
            [(m, *e) for m, evs in events.items() for e in evs],
            columns=["member_id", "offer_id", "event", "timestamp", "channel"])
        return cls(frame, store.offer_totals())


def audience_ids(engine: OfferEngine, request: dict) -> list[str]:
    """The member ids of a campaign request: its list, or its segment's members."""
    if request.get("member_ids") is not None:
        return list(request["member_ids"])
    members = engine.bundle.members
    code = members.code_of("segment", request["segment"])
    return members.ids[np.flatnonzero(members.codes["segment"] == code)].tolist()


def run_allocation(engine: OfferEngine, request: dict, store, n_jobs: int = 1):
    """:func:`allocate_campaign` for a stored campaign request (see :mod:`.campaigns`)."""
    if request.get("offer_ids"):
        wanted = set(request["offer_ids"])
        catalog = replace(engine.catalog,
                          offers=tuple(t for t in engine.catalog.offers if t.id in wanted))
        engine = OfferEngine(engine.bundle, catalog, engine.config)
    history = StoreHistory.read(store, audience_ids(engine, request))
    return allocate_campaign(
        engine, request.get("member_ids"), budget=request["budget"], channel=request["channel"],
        segment=request.get("segment"), campaign=request["campaign_id"], now=request["as_of"],
        per_member=request["per_member"], history=history, n_jobs=n_jobs)


def json_lines(frame: pd.DataFrame, chunk: int = 2000) -> Iterator[str]:
    """One compact JSON object per row (NaN as null), made ``chunk`` rows at a time."""
    for start in range(0, len(frame), chunk):
        for record in frame.iloc[start:start + chunk].to_dict("records"):
            yield orjson.dumps(record, option=_ROW_OPTIONS).decode()


def plain(summary: dict) -> dict:
    """``summary`` with numpy scalars as JSON numbers."""
    return json.loads(orjson.dumps(summary, option=_ROW_OPTIONS))


class JobRunner:
    """Runs one worker's campaign jobs, one at a time, and recovers interrupted ones."""

    def __init__(self, jobs: JobStore, store, config) -> None:
        self.jobs, self.store = jobs, store
        self.inline = bool(config["CAMPAIGN_JOBS_INLINE"])
        self.heartbeat_s = float(config["CAMPAIGN_JOB_HEARTBEAT_SECONDS"])
        self.stale_s = float(config["CAMPAIGN_JOB_STALE_SECONDS"])
        self.n_jobs = int(config["CAMPAIGN_PROCESSES"])
        self.keep_days = float(config["CAMPAIGN_JOB_KEEP_DAYS"])
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._active: set[str] = set()  # ids of this worker's queued and running jobs
        self._threads: list[threading.Thread] = []
        self.decisions = None  # a DecisionWriter: finished jobs are logged there (issue 15)

    def submit(self, job: Job, served) -> None:
        """Run ``job`` with the model ``served`` now (inline) or on the background thread."""
        if self.inline:
            self.run(job, served)
            return
        with self._lock:
            self._active.add(job.job_id)
            if not all(t.is_alive() for t in self._threads) or not self._threads:
                self._threads = [threading.Thread(target=target, name=name, daemon=True)
                                 for target, name in ((self._work, "campaign-jobs"),
                                                      (self._beat, "campaign-heartbeat"))]
                for thread in self._threads:
                    thread.start()
        self._queue.put((job, served))

    def run(self, job: Job, served) -> None:
        """Run ``job`` to ``done`` or ``failed`` (never raises)."""
        owner = process_owner()
        try:
            if not self.jobs.start(job.job_id, owner):
                logger.warning("campaign job %s is no longer queued; not run", job.job_id)
                return
            result = run_allocation(served.engine, job.request, self.store, self.n_jobs)
            summary = plain(result.summary)
        except (ConfigError, DataError) as exc:
            self._fail(job, f"the allocation was refused: {exc}", owner)
            return
        except Exception:
            logger.exception("campaign job %s failed", job.job_id)
            self._fail(job, "internal error while allocating; no offers were stored (the "
                            f"server log has the details under job {job.job_id}).", owner)
            return
        try:
            n_offers = self.jobs.write_rows(job.job_id, "offers", json_lines(result.offers))
            n_holdouts = self.jobs.write_rows(job.job_id, "holdouts", json_lines(result.holdouts))
            finished = self.jobs.finish(job.job_id, owner, summary, n_offers, n_holdouts)
        except Exception:
            logger.exception("campaign job %s: storing the allocation failed", job.job_id)
            self._fail(job, "storing the allocation failed; no offers were stored. Create the "
                            "campaign again with a new Idempotency-Key.", owner)
            return
        if finished:
            logger.info("campaign job %s done: %d offers, %d held out", job.job_id, n_offers,
                        n_holdouts)
            self._log_decisions(job, served, result)
        else:  # marked failed meanwhile (its rows are deleted), or rows missing
            self._fail(job, "storing the allocation failed (rows missing); no offers are "
                            "served. Create the campaign again with a new Idempotency-Key.",
                       owner)
            logger.warning("campaign job %s could not be marked done", job.job_id)

    def _log_decisions(self, job: Job, served, result) -> None:
        """The allocation in the decision log (written here: this is a background job)."""
        if self.decisions is None:
            return
        from serving.engine.exploration import campaign_records

        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self.decisions.log.write(campaign_records(
                result.offers, result.holdouts, job_id=job.job_id,
                model_version=served.version, decided_at=stamp))
        except Exception as exc:  # the campaign is done; a missing log line must not undo it
            logger.warning("campaign job %s: decisions not logged: %s", job.job_id,
                           " ".join(str(exc).split()))

    def recover(self) -> list[str]:
        """Mark failed the unfinished jobs whose process is gone; returns their ids.

        Jobs finished more than ``CAMPAIGN_JOB_KEEP_DAYS`` ago are deleted.
        """
        purged = self.jobs.purge(datetime.now(timezone.utc) - timedelta(days=self.keep_days))
        if purged:
            logger.info("deleted %d campaign job(s) older than %g days", purged, self.keep_days)
        failed = [job.job_id for job in self.jobs.unfinished()
                  if owner_gone(job.owner, job.heartbeat_at, self.stale_s)
                  and self.jobs.fail(job.job_id, INTERRUPTED, owner=job.owner)]
        if failed:
            logger.warning("marked %d interrupted campaign job(s) failed: %s", len(failed),
                           ", ".join(failed))
        return failed

    def checked(self, job: Job) -> Job:
        """``job``, marked failed first when it is unfinished and its process is gone."""
        if job.status in ("queued", "running") and owner_gone(job.owner, job.heartbeat_at,
                                                              self.stale_s):
            self.jobs.fail(job.job_id, INTERRUPTED, owner=job.owner)
            return self.jobs.get(job.job_id) or job
        return job

    def _fail(self, job: Job, reason: str, owner: str) -> None:
        try:
            self.jobs.fail(job.job_id, reason, owner=owner)
        except Exception:  # the next start or read marks it failed as interrupted
            logger.exception("campaign job %s: could not record its failure", job.job_id)

    def _work(self) -> None:
        while True:
            job, served = self._queue.get()
            try:
                self.run(job, served)
            finally:
                with self._lock:
                    self._active.discard(job.job_id)

    def _beat(self) -> None:
        wake = threading.Event()
        while True:
            wake.wait(self.heartbeat_s)
            with self._lock:
                active = sorted(self._active)
            if active:
                try:
                    self.jobs.heartbeat(process_owner(), active)
                except Exception:
                    logger.exception("campaign jobs: heartbeat failed")

"""The campaign API: create, poll, page the offers, report sends; jobs that survive restarts."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from keys import EVENTS, READ

from serving import create_app
from serving.cli.offers import campaign as campaign_command
from serving.store import open_store
from serving.store.jobs import JobStore, utc_text


def _app(make_config, artifacts, tmp_path, **overrides):
    return create_app(make_config(artifacts, tmp_path, **{"CAMPAIGN_JOBS_INLINE": True,
                                                           **overrides}))


@pytest.fixture
def app(make_config, trained_artifacts, tmp_path):
    app = _app(make_config, trained_artifacts[0], tmp_path)
    yield app
    app.extensions["offers_store"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def shared_client(make_config, trained_artifacts, tmp_path_factory):
    """One app for the tests that only send bad requests (at most 10 member_ids)."""
    app = _app(make_config, trained_artifacts[0], tmp_path_factory.mktemp("campaigns"),
               CAMPAIGN_MAX_MEMBERS=10)
    yield app.test_client()
    app.extensions["offers_store"].close()


@pytest.fixture(scope="module")
def segment(make_config, trained_artifacts):
    """The largest segment of the served model."""
    from serving.engine import load_bundle

    members = load_bundle(*trained_artifacts).members
    counts = Counter(members.codes["segment"].tolist())
    return members.names["segment"][counts.most_common(1)[0][0]]


def create(client, auth, body, key=None, **headers):
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/campaigns", json=body, headers={**auth(READ), **headers})


def wait_done(client, auth, job_id, seconds=30.0):
    deadline = time.monotonic() + seconds
    while True:
        body = client.get(f"/v1/campaigns/{job_id}", headers=auth(READ)).get_json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def all_offers(client, auth, job_id, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.get(f"/v1/campaigns/{job_id}/offers?{query}", headers=auth(READ))
    assert response.status_code == 200, response.get_data(as_text=True)
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()["error"]
    assert body["status"] == status and body["message"]
    return body["message"]


# ------------------------------------------------------------------ budget, same as the CLI

def test_a_campaign_spends_within_its_budget_and_matches_the_cli(auth, app, client, segment,
                                                                 trained_artifacts, tmp_path):
    budget = 40.0
    response = create(client, auth, {"segment": segment, "budget": budget,
                                     "campaign_id": "spring-1"}, key="k-budget")
    assert response.status_code == 202, response.get_data(as_text=True)
    job = response.get_json()
    assert response.headers["Location"] == f"/v1/campaigns/{job['job_id']}"
    job = wait_done(client, auth, job["job_id"])
    assert job["status"] == "done", job
    totals = job["totals"]
    offers = all_offers(client, auth, job["job_id"])
    assert len(offers) == totals["offers"] > 0
    assert totals["expected_cost"] <= budget + 1e-9
    members = app.extensions["offers_model"].served.bundle.members
    in_segment = (members.codes["segment"] == members.code_of("segment", segment)).sum()
    assert totals["audience"] == in_segment > 0
    assert totals["members_with_offers"] == len({o["member_id"] for o in offers})

    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(campaign_command, [
        str(trained_artifacts[0]), "--segment", segment, "--budget", str(budget),
        "--campaign", "spring-1", "--now", job["request"]["as_of"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    cli = pd.read_csv(out, dtype={"member_id": str})
    api = pd.read_csv(io.StringIO(client.get(f"/v1/campaigns/{job['job_id']}/offers?format=csv",
                                             headers=auth(READ)).get_data(as_text=True)),
                      dtype={"member_id": str})
    assert list(api.columns) == list(cli.columns)
    pd.testing.assert_frame_equal(api, cli)
    cli_holdouts = pd.read_csv(tmp_path / "cli.holdouts.csv", dtype={"member_id": str})
    holdouts = all_offers(client, auth, job["job_id"], holdouts="true")
    assert len(holdouts) == totals["held_out"] == len(cli_holdouts)
    assert [h["member_id"] for h in holdouts] == cli_holdouts["member_id"].tolist()


def test_a_member_list_and_a_catalog_subset(auth, client, app):
    engine = app.extensions["offers_model"].served.engine
    ids = engine.bundle.members.ids[:60].tolist()
    subset = list(engine.catalog.ids[:4])
    job = create(client, auth, {"member_ids": ids + ids[:5], "budget": 1000, "offer_ids": subset,
                                "channel": "email", "per_member": 2}).get_json()
    job = wait_done(client, auth, job["job_id"])
    assert job["status"] == "done" and job["request"]["members"] == 60
    offers = all_offers(client, auth, job["job_id"])
    assert offers and {o["offer_id"] for o in offers} <= set(subset)
    assert {o["member_id"] for o in offers} <= set(ids)
    assert max(Counter(o["member_id"] for o in offers).values()) <= 2


# ------------------------------------------------------------------ idempotency

def test_a_retry_with_the_same_key_returns_the_same_job(auth, client, segment, app):
    body = {"segment": segment, "budget": 10}
    first = create(client, auth, body, key="retry-1")
    again = create(client, auth, dict(body, channel="email"), key="retry-1")  # default spelled
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    by_field = client.post("/v1/campaigns", json=dict(body, client_key="retry-1"),
                           headers=auth(READ))
    assert by_field.get_json()["job_id"] == first.get_json()["job_id"]
    store = app.extensions["offers_store"]
    with store.connection() as conn:
        assert conn.execute("SELECT COUNT(*) FROM campaign_jobs").fetchone()[0] == 1


def test_the_same_key_with_another_body_is_a_conflict(auth, client, segment):
    assert create(client, auth, {"segment": segment, "budget": 10}, key="k-1").status_code == 202
    message = error_of(create(client, auth, {"segment": segment, "budget": 11}, key="k-1"), 409)
    assert "k-1" in message and "new key" in message


# ------------------------------------------------------------------ paging and CSV

def test_pages_by_cursor_and_offset_cover_the_allocation_once(auth, client, segment):
    job = create(client, auth, {"segment": segment, "budget": 200}).get_json()
    every = all_offers(client, auth, job["job_id"])
    assert len(every) > 7
    seen, url = [], f"/v1/campaigns/{job['job_id']}/offers?limit=7"
    while url:
        page = client.get(url, headers=auth(READ))
        assert page.mimetype == "application/x-ndjson"
        assert page.headers["X-Total-Count"] == str(len(every))
        lines = page.get_data(as_text=True).splitlines()
        assert 0 < len(lines) <= 7
        seen += [json.loads(x) for x in lines]
        link = page.headers.get("Link")
        url = link[1:link.index(">")] if link else None
    assert seen == every
    by_offset = all_offers(client, auth, job["job_id"], limit=3, offset=4)
    assert by_offset == every[4:7]

    text = client.get(f"/v1/campaigns/{job['job_id']}/offers?limit=5",
                      headers={**auth(READ), "Accept": "text/csv"})
    assert text.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text.get_data(as_text=True))))
    assert [r["member_id"] for r in rows] == [o["member_id"] for o in every[:5]]
    assert [float(r["cost"]) for r in rows] == [o["cost"] for o in every[:5]]
    assert "cursor=5" in text.headers["Link"] and "format=csv" in text.headers["Link"]


def test_offers_of_an_unfinished_job_are_a_409(auth, client, app, segment):
    jobs = app.extensions["offers_campaign_jobs"].jobs
    job, _ = jobs.create({"segment": segment, "campaign_id": "c"}, "fp", None, "v")
    assert "queued" in error_of(client.get(f"/v1/campaigns/{job.job_id}/offers",
                                           headers=auth(READ)), 409)
    error_of(client.get("/v1/campaigns/cmp_nope", headers=auth(READ)), 404)


# ------------------------------------------------------------------ bad requests

@pytest.mark.parametrize(("body", "status", "words"), [
    ({"segment": "no-such-segment", "budget": 5}, 422, "unknown segment"),
    ({"segment": "S", "budget": -1}, 400, "budget"),
    ({"segment": "S", "budget": True}, 400, "budget"),
    ({"segment": "S", "budget": 10**400}, 400, "budget"),
    ({"segment": "S", "budget": "5"}, 400, "budget"),
    ({"segment": ["S"], "budget": 5}, 422, "unknown segment"),
    ({"member_ids": [{"id": 1}], "budget": 5}, 400, "member_ids[0]"),
    ({"segment": "S"}, 400, "budget"),
    ({"segment": "S", "member_ids": ["1"], "budget": 5}, 400, "exactly one audience"),
    ({"budget": 5}, 400, "exactly one audience"),
    ({"member_ids": [str(i) for i in range(11)], "budget": 5}, 400, "more than 10"),
    ({"member_ids": ["bad id!"], "budget": 5}, 400, "member_ids[0]"),
    ({"segment": "S", "budget": 5, "offer_ids": ["nope"]}, 422, "unknown offer_id"),
    ({"segment": "S", "budget": 5, "channel": "fax"}, 400, "channel"),
    ({"segment": "S", "budget": 5, "per_member": 0}, 400, "per_member"),
    ({"segment": "S", "budget": 5, "colour": "red"}, 400, "unknown field"),
])
def test_bad_requests_are_clear_4xx(auth, shared_client, segment, body, status, words):
    body = {k: ([segment] if v == ["S"] else segment if v == "S" else v)
            for k, v in body.items()}
    message = error_of(create(shared_client, auth, body), status)
    assert words in message


@pytest.mark.parametrize("query", ["cursor=%C2%B2", "cursor=" + "9" * 5000, "cursor=-1",
                                   "cursor=1&offset=1", "offset=x", "limit=0", "format=xml",
                                   "holdouts=maybe"])
def test_bad_page_parameters_are_400(auth, shared_client, segment, query):
    made = create(shared_client, auth, {"segment": segment, "budget": 5}, key="pages")
    job_id = made.get_json()["job_id"]
    error_of(shared_client.get(f"/v1/campaigns/{job_id}/offers?{query}", headers=auth(READ)),
             400)


@pytest.mark.parametrize("setting", [{"CAMPAIGN_PAGE_MAX": 0}, {"CAMPAIGN_MAX_MEMBERS": "9"},
                                     {"CAMPAIGN_JOB_STALE_SECONDS": 5}])
def test_bad_campaign_settings_are_refused_at_start(make_config, trained_artifacts, tmp_path,
                                                    setting):
    from features.errors import ConfigError

    with pytest.raises(ConfigError, match="campaign_"):
        _app(make_config, trained_artifacts[0], tmp_path, **setting)


def test_scope_and_key_checks(auth, client, segment):
    error_of(client.post("/v1/campaigns", json={"segment": segment, "budget": 1},
                         headers=auth(EVENTS)), 403)
    error_of(create(client, auth, {"segment": segment, "budget": 1}, key="x y"), 400)
    message = error_of(create(client, auth, {"segment": segment, "budget": 1,
                                             "client_key": "a"}, key="b"), 422)
    assert "differ" in message


# ------------------------------------------------------------------ sends count against caps

def test_sends_reported_as_events_cap_the_next_campaign(auth, client, app):
    engine = app.extensions["offers_model"].served.engine
    ids = engine.bundle.members.ids[:120].tolist()
    body = {"member_ids": ids, "budget": 10_000, "campaign_id": "wave-2"}
    first = wait_done(client, auth, create(client, auth, body, key="w1").get_json()["job_id"])
    sent = all_offers(client, auth, first["job_id"])
    assert sent
    events = [{"event_id": f"wave2-{n}-sent", "member_id": o["member_id"],
               "offer_id": o["offer_id"], "event": "sent", "channel": "email",
               "campaign_id": "wave-2"} for n, o in enumerate(sent)]
    for start in range(0, len(events), 20):
        stored = client.post("/v1/events", json=events[start:start + 20], headers=auth(EVENTS))
        assert stored.status_code == 200, stored.get_data(as_text=True)
    capped = {o["offer_id"] for o in sent
              if engine.catalog.offer(o["offer_id"]).caps.cooldown_days > 0
              or engine.catalog.offer(o["offer_id"]).caps.per_member_max == 1}
    assert capped  # the shipped catalog caps every offer per member
    again = wait_done(client, auth, create(client, auth, body, key="w2").get_json()["job_id"])
    repeat = {(o["member_id"], o["offer_id"]) for o in all_offers(client, auth, again["job_id"])}
    assert not repeat & {(o["member_id"], o["offer_id"]) for o in sent
                         if o["offer_id"] in capped}


# ------------------------------------------------------------------ the background thread

def test_the_background_thread_runs_the_job(auth, make_config, trained_artifacts, tmp_path,
                                            segment):
    app = _app(make_config, trained_artifacts[0], tmp_path, CAMPAIGN_JOBS_INLINE=False,
               CAMPAIGN_JOB_HEARTBEAT_SECONDS=0.05)
    client = app.test_client()
    response = create(client, auth, {"segment": segment, "budget": 30})
    assert response.status_code == 202 and response.get_json()["status"] in ("queued",
                                                                             "running", "done")
    job = wait_done(client, auth, response.get_json()["job_id"])
    assert job["status"] == "done" and job["totals"]["expected_cost"] <= 30
    assert len(all_offers(client, auth, job["job_id"])) == job["totals"]["offers"]
    app.extensions["offers_store"].close()


def test_a_running_job_beats_and_a_second_worker_starting_leaves_it_alone(
        auth, make_config, trained_artifacts, tmp_path, segment, monkeypatch):
    import threading

    import serving.api.campaign_jobs as campaign_jobs

    release, entered = threading.Event(), threading.Event()
    real = campaign_jobs.run_allocation

    def slow(*args, **kwargs):
        entered.set()
        assert release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(campaign_jobs, "run_allocation", slow)
    app = _app(make_config, trained_artifacts[0], tmp_path, CAMPAIGN_JOBS_INLINE=False,
               CAMPAIGN_JOB_HEARTBEAT_SECONDS=0.02)
    client = app.test_client()
    job_id = create(client, auth, {"segment": segment, "budget": 30}).get_json()["job_id"]
    assert entered.wait(20)
    jobs = app.extensions["offers_campaign_jobs"].jobs
    first = jobs.get(job_id).heartbeat_at
    deadline = time.monotonic() + 10
    while jobs.get(job_id).heartbeat_at == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert jobs.get(job_id).heartbeat_at > first
    second = _app(make_config, trained_artifacts[0], tmp_path)  # another worker starts
    assert second.extensions["offers_campaign_jobs"].recover() == []
    running = second.test_client().get(f"/v1/campaigns/{job_id}", headers=auth(READ))
    assert running.get_json()["status"] == "running"
    error_of(client.get(f"/v1/campaigns/{job_id}/offers", headers=auth(READ)), 409)
    release.set()
    assert wait_done(client, auth, job_id)["status"] == "done"
    second.extensions["offers_store"].close()
    app.extensions["offers_store"].close()


def test_a_failed_allocation_stores_no_rows_and_says_why(auth, client, app, segment,
                                                        monkeypatch):
    import serving.api.campaign_jobs as campaign_jobs

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(campaign_jobs.JobStore, "finish", broken)
    job = create(client, auth, {"segment": segment, "budget": 30}).get_json()
    job = wait_done(client, auth, job["job_id"])
    assert job["status"] == "failed" and "no offers were stored" in job["error"]
    assert job["totals"] is None
    with app.extensions["offers_store"].connection() as conn:
        assert conn.execute("SELECT COUNT(*) FROM campaign_rows").fetchone()[0] == 0
    assert "failed" in error_of(client.get(f"/v1/campaigns/{job['job_id']}/offers",
                                           headers=auth(READ)), 409)


def test_the_job_store_marks_done_only_with_every_row(tmp_path):
    store = open_store(tmp_path / "jobs.sqlite3")
    jobs = JobStore(store)
    job, created = jobs.create({"segment": "x", "campaign_id": "c"}, "fp", None, "v")
    assert created and job.status == "queued"
    assert jobs.start(job.job_id, job.owner) and not jobs.start(job.job_id, job.owner)
    lines = (json.dumps({"n": n}) for n in range(5))
    assert jobs.write_rows(job.job_id, "offers", lines, batch=2) == 5
    assert not jobs.finish(job.job_id, job.owner, {}, 6, 0)  # a row is missing
    assert not jobs.finish(job.job_id, "another:1:owner", {}, 5, 0)
    assert jobs.get(job.job_id).status == "running"
    assert jobs.finish(job.job_id, job.owner, {"offers": 5}, 5, 0)
    done = jobs.get(job.job_id)
    assert (done.status, done.n_offers, done.summary) == ("done", 5, {"offers": 5})
    assert [json.loads(x)["n"] for x in jobs.rows(job.job_id, "offers", 1, 3, chunk=2)] == [
        1, 2, 3]
    assert not jobs.fail(job.job_id, "too late")  # done is final

    failing, _ = jobs.create({"segment": "x", "campaign_id": "c"}, "fp", "key-2", "v")
    assert jobs.start(failing.job_id, failing.owner)
    jobs.write_rows(failing.job_id, "offers", ["{}"] * 3)
    assert jobs.fail(failing.job_id, "broken", owner=failing.owner)
    assert list(jobs.rows(failing.job_id, "offers", 0, 10)) == []
    assert jobs.get(failing.job_id).error == "broken"

    assert jobs.purge(datetime.now(timezone.utc) - timedelta(days=1)) == 0
    assert jobs.purge(datetime.now(timezone.utc) + timedelta(days=1)) == 2
    assert jobs.get(job.job_id) is None and list(jobs.rows(job.job_id, "offers", 0, 10)) == []
    store.close()


# ------------------------------------------------------------------ restarts

def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leave_running(jobs: JobStore, owner: str, heartbeat: str | None = None) -> str:
    job, _ = jobs.create({"segment": "x", "campaign_id": "c"}, "fp", None, "v", owner=owner)
    assert jobs.start(job.job_id, owner)
    if heartbeat:
        with jobs.store.connection() as conn, jobs.store.transaction(conn):
            conn.execute(f"UPDATE campaign_jobs SET heartbeat_at = {jobs.param}",
                         (heartbeat,))
    return job.job_id


def _restart_marks_interrupted_jobs_failed(make_config, trained_artifacts, tmp_path, auth,
                                           events_db):
    import socket

    store = open_store(events_db)
    jobs = JobStore(store)
    host = socket.gethostname()
    dead = _leave_running(jobs, f"{host}:{_dead_pid()}:old")
    alive_here = jobs.create({"segment": "x", "campaign_id": "c"}, "fp", None, "v",
                             owner=f"{host}:1:init")[0].job_id  # pid 1 lives
    elsewhere = _leave_running(jobs, "other-host:42:t")
    store.close()
    app = _app(make_config, trained_artifacts[0], tmp_path, EVENTS_DB=events_db)
    client = app.test_client()
    failed = client.get(f"/v1/campaigns/{dead}", headers=auth(READ)).get_json()
    assert failed["status"] == "failed" and "interrupted" in failed["error"]
    assert failed["totals"] is None
    assert client.get(f"/v1/campaigns/{alive_here}",
                      headers=auth(READ)).get_json()["status"] == "queued"
    assert client.get(f"/v1/campaigns/{elsewhere}",
                      headers=auth(READ)).get_json()["status"] == "running"
    # The other host stops beating: the next read marks its job failed.
    jobs = app.extensions["offers_campaign_jobs"].jobs
    old = utc_text(datetime.now(timezone.utc) - timedelta(hours=1))
    with jobs.store.connection() as conn, jobs.store.transaction(conn):
        conn.execute(f"UPDATE campaign_jobs SET heartbeat_at = {jobs.param} WHERE job_id = "
                     f"{jobs.param}", (old, elsewhere))
    stale = client.get(f"/v1/campaigns/{elsewhere}", headers=auth(READ)).get_json()
    assert stale["status"] == "failed" and "interrupted" in stale["error"]
    app.extensions["offers_store"].close()


def test_a_restart_marks_interrupted_jobs_failed(auth, make_config, trained_artifacts,
                                                 tmp_path):
    _restart_marks_interrupted_jobs_failed(make_config, trained_artifacts, tmp_path, auth,
                                           str(tmp_path / "jobs.sqlite3"))


def test_jobs_on_postgresql(auth, make_config, trained_artifacts, tmp_path, postgres_url,
                            segment):
    _restart_marks_interrupted_jobs_failed(make_config, trained_artifacts, tmp_path, auth,
                                           postgres_url)
    app = _app(make_config, trained_artifacts[0], tmp_path, EVENTS_DB=postgres_url)
    client = app.test_client()
    first = create(client, auth, {"segment": segment, "budget": 25}, key="pg-1")
    again = create(client, auth, {"segment": segment, "budget": 25}, key="pg-1")
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    error_of(create(client, auth, {"segment": segment, "budget": 26}, key="pg-1"), 409)
    job = wait_done(client, auth, first.get_json()["job_id"])
    assert job["status"] == "done" and job["totals"]["expected_cost"] <= 25
    offers = all_offers(client, auth, job["job_id"], limit=4, offset=1)
    assert len(offers) == min(4, job["totals"]["offers"] - 1)
    app.extensions["offers_store"].close()


# ------------------------------------------------------------------ the OpenAPI document

def test_campaign_responses_match_the_openapi_document(auth, client, segment):
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    from serving.api.campaigns import FIELDS

    spec = client.get("/openapi.json").get_json()
    registry = Registry().with_resource("urn:spec", DRAFT202012.create_resource(spec))
    create_op = spec["paths"]["/v1/campaigns"]["post"]
    request_schema = create_op["requestBody"]["content"]["application/json"]["schema"]
    assert set(request_schema["properties"]) == set(FIELDS)
    bodies = jsonschema.Draft202012Validator(request_schema)
    assert bodies.is_valid({"segment": segment, "budget": 5})
    assert bodies.is_valid({"member_ids": ["1"], "budget": 5, "client_key": "k"})
    for bad in ({"budget": 5}, {"segment": segment, "member_ids": ["1"], "budget": 5},
                {"segment": segment}, {"segment": segment, "budget": -1}):
        assert not bodies.is_valid(bad), bad

    def check(path, method, response):
        described = spec["paths"][path][method]["responses"][str(response.status_code)]
        schema = described["content"][response.mimetype]["schema"]
        if "$ref" in schema:
            schema = {"$ref": "urn:spec" + schema["$ref"]}
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        if response.mimetype == "application/x-ndjson":
            docs = [json.loads(x) for x in response.get_data(as_text=True).splitlines()]
        else:
            docs = [response.get_json()]
        for doc in docs:
            assert not list(validator.iter_errors(doc)), (path, response.status_code, doc)

    made = create(client, auth, {"segment": segment, "budget": 20}, key="doc-1")
    job_id = made.get_json()["job_id"]
    check("/v1/campaigns", "post", made)
    check("/v1/campaigns", "post", create(client, auth, {"segment": segment, "budget": 20},
                                          key="doc-1"))
    check("/v1/campaigns", "post", create(client, auth, {"segment": segment, "budget": -2}))
    check("/v1/campaigns/{job_id}", "get", client.get(f"/v1/campaigns/{job_id}",
                                                      headers=auth(READ)))
    check("/v1/campaigns/{job_id}", "get", client.get("/v1/campaigns/cmp_x", headers=auth(READ)))
    for query in ("", "?holdouts=true", "?limit=0"):
        check("/v1/campaigns/{job_id}/offers", "get",
              client.get(f"/v1/campaigns/{job_id}/offers{query}", headers=auth(READ)))


def test_retries_arriving_at_once_in_two_workers_make_one_job(tmp_path):
    """The same Idempotency-Key sent twice at the same moment to two workers (two stores
    on one database, threads released together): one job, both answered with it."""
    import threading

    stores = [open_store(tmp_path / "jobs.sqlite3") for _ in range(2)]
    job_stores = [JobStore(s) for s in stores]
    start, answers = threading.Barrier(8), []

    def retry(n):
        start.wait()
        answers.append(job_stores[n % 2].create({"segment": "x", "campaign_id": "c"}, "fp",
                                                "same-key", "v"))

    threads = [threading.Thread(target=retry, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job.job_id for job, _ in answers}) == 1
    assert sum(created for _, created in answers) == 1
    with stores[0].connection() as conn:
        assert conn.execute("SELECT COUNT(*) FROM campaign_jobs").fetchone()[0] == 1
    for s in stores:
        s.close()


KILLED_MID_WRITE = """
import json, sys, time
import serving.api.campaign_jobs as campaign_jobs
from serving.store.jobs import JobStore

JobStore.write_rows.__defaults__ = (2,)  # commit every two rows: part of them are stored
real = campaign_jobs.json_lines

def slow(frame, chunk=2000):
    for n, line in enumerate(real(frame, chunk)):
        if n == 5:
            print("BLOCKED", flush=True)
            time.sleep(60)  # killed long before; bounds a hang
        yield line

campaign_jobs.json_lines = slow
from serving import create_app
app = create_app({**json.loads(sys.argv[1]), "CAMPAIGN_JOBS_INLINE": False})
made = app.test_client().post("/v1/campaigns", headers={"Authorization": "Bearer " + sys.argv[3]},
                              json={"segment": sys.argv[2], "budget": 10000})
print("JOB", made.get_json()["job_id"], flush=True)
time.sleep(60)  # killed long before; bounds a hang
"""


def test_a_worker_killed_while_writing_a_job_leaves_it_failed_without_rows(
        auth, make_config, trained_artifacts, tmp_path, segment):
    """A real SIGKILL in the middle of storing the offers (some batches committed): the next
    worker reports the job failed as interrupted, serves none of its rows and keeps none."""
    import signal

    config = make_config(trained_artifacts[0], tmp_path)
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, json.dumps(config),
                              segment, READ], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).parents[2])
    try:
        said = [child.stdout.readline().split() for _ in range(2)]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    job_id = dict((w[0], w[1:]) for w in said if w)["JOB"][0]
    store = open_store(config["EVENTS_DB"])
    with store.connection() as conn:
        assert conn.execute("SELECT COUNT(*) FROM campaign_rows WHERE job_id = ?",
                            (job_id,)).fetchone()[0] >= 4  # killed mid-write, rows stored
    store.close()
    app = _app(make_config, trained_artifacts[0], tmp_path)
    client = app.test_client()
    job = client.get(f"/v1/campaigns/{job_id}", headers=auth(READ)).get_json()
    assert job["status"] == "failed" and "interrupted" in job["error"], job
    assert job["totals"] is None
    error_of(client.get(f"/v1/campaigns/{job_id}/offers", headers=auth(READ)), 409)
    with app.extensions["offers_store"].connection() as conn:
        assert conn.execute("SELECT COUNT(*) FROM campaign_rows WHERE job_id = ?",
                            (job_id,)).fetchone()[0] == 0
    app.extensions["offers_store"].close()

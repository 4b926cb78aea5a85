"""The model endpoints, reloads (admin, SIGHUP, other workers), health, metrics, PostgreSQL."""

from __future__ import annotations

import os
import signal
import time

import pytest
from keys import ADMIN, ALL, EVENTS, READ

from serving import create_app
from training.artifacts.store import set_current


@pytest.fixture
def apps():
    made = []

    def make(config):
        app = create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["offers_store"].close()


def wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_model_describes_the_served_version(auth, make_config, apps, trained_artifacts, tmp_path):
    client = apps(make_config(trained_artifacts[0], tmp_path)).test_client()
    body = client.get("/v1/model", headers=auth(READ)).get_json()
    assert body["version"] == trained_artifacts[1] == body["server_target"]
    assert body["trained_at"] and body["as_of"].startswith("2026-01-01")
    assert body["metrics"]["churn"]["roc_auc"] > 0.5
    assert body["row_counts"]["members"] == 600


def test_reload_switches_versions_and_refuses_broken_ones(auth, clone_version, make_config, apps,
                                                          artifacts_copy, tmp_path):
    root, v1 = artifacts_copy
    client = apps(make_config(root, tmp_path)).test_client()
    v2 = clone_version(root, v1, "20990101T000000000000Z-0002")
    same = client.post("/v1/admin/reload", headers=auth(ADMIN)).get_json()
    assert same["version"] == v1 and same["changed"] is False
    set_current(root, v2)
    body = client.post("/v1/admin/reload", headers=auth(ADMIN)).get_json()
    assert body["previous_version"] == v1 and body["version"] == v2 and body["changed"]
    assert client.get("/v1/model", headers=auth(READ)).get_json()["version"] == v2
    response = client.get("/v1/members/1/offers", headers=auth(READ))
    assert response.headers["X-Model-Version"] == v2
    broken = clone_version(root, v1, "20990101T000000000000Z-0003", corrupt=True)
    refused = client.post("/v1/admin/reload", json={"version": broken}, headers=auth(ALL))
    assert refused.status_code == 422
    assert "SHA-256" in refused.get_json()["error"]["message"]
    assert f"{v2} keeps serving" in refused.get_json()["error"]["message"]
    assert client.get("/v1/model", headers=auth(READ)).get_json()["version"] == v2
    back = client.post("/v1/admin/reload", json={"version": v1}, headers=auth(ADMIN))
    assert back.get_json()["version"] == v1


@pytest.mark.parametrize("body, status, fragment", [
    ({"version": "20990101T000000000000Z-dead"}, 404, "no version"),
    ({"version": "../etc"}, 400, "version name"),
    ({"version": 3}, 400, "version name"),
    ({"versions": "x"}, 400, "unknown field(s) versions"),
])
def test_reload_bad_requests(auth, make_config, apps, trained_artifacts, tmp_path, body, status,
                             fragment):
    client = apps(make_config(trained_artifacts[0], tmp_path)).test_client()
    response = client.post("/v1/admin/reload", json=body, headers=auth(ADMIN))
    assert response.status_code == status and fragment in response.get_json()["error"]["message"]


def test_other_workers_follow_a_reload_through_the_target_file(auth, clone_version, make_config,
                                                               apps, artifacts_copy, tmp_path):
    """Two apps sharing a target file stand for two gunicorn workers."""
    root, v1 = artifacts_copy
    config = make_config(root, tmp_path, MODEL_STATE_FILE=str(tmp_path / "target.json"),
                         MODEL_CHECK_SECONDS=0.0)
    first, second = apps(config).test_client(), apps(config).test_client()
    v2 = clone_version(root, v1, "20990101T000000000000Z-0002")
    assert first.post("/v1/admin/reload", json={"version": v2},
                      headers=auth(ADMIN)).status_code == 200
    versions = set()

    def second_switched():
        response = second.get("/v1/members/1/offers", headers=auth(READ))
        assert response.status_code == 200  # it keeps answering while it loads
        versions.add(response.headers["X-Model-Version"])
        return response.headers["X-Model-Version"] == v2

    assert wait_for(second_switched)
    ready = second.get("/readyz").get_json()
    assert ready["model_version"] == ready["target_version"] == v2 and not ready["switching"]


def test_workers_take_the_model_the_master_preloaded(clone_version, make_config, artifacts_copy,
                                                     tmp_path):
    # Guards the memory fix of issue 6: `offers serve` loads the model in the gunicorn
    # master and each forked worker must take that object (shared pages), not load its own.
    from serving.engine import load_catalog
    from serving.model_state import load_served

    root, v1 = artifacts_copy
    preloaded = load_served(str(root), v1, load_catalog(), {})
    app = create_app(make_config(root, tmp_path), preloaded=preloaded)
    holder = app.extensions["offers_model"]
    try:
        assert holder.served is preloaded
        v2 = clone_version(root, v1, "20990101T000000000000Z-0004")
        holder.reload(v2)  # another version is loaded as before
        assert holder.served is not preloaded and holder.served.version == v2
    finally:
        app.extensions["offers_store"].close()


def test_sighup_reloads_current_in_a_single_process_server(clone_version, make_config, apps,
                                                           artifacts_copy, tmp_path):
    root, v1 = artifacts_copy
    previous = signal.getsignal(signal.SIGHUP)
    try:
        app = apps(make_config(root, tmp_path, SIGHUP_RELOAD=True))
        holder = app.extensions["offers_model"]
        set_current(root, clone_version(root, v1, "20990101T000000000000Z-0002"))
        os.kill(os.getpid(), signal.SIGHUP)
        assert wait_for(lambda: holder.served.version.endswith("-0002"))
        set_current(root, clone_version(root, v1, "20990101T000000000000Z-0003", corrupt=True))
        os.kill(os.getpid(), signal.SIGHUP)
        assert wait_for(lambda: "20990101T000000000000Z-0003" in holder.failed)
        assert holder.served.version.endswith("-0002")
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_health_readiness_and_metrics(auth, make_config, apps, trained_artifacts, tmp_path):
    app = apps(make_config(trained_artifacts[0], tmp_path))
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    for _ in range(3):
        client.get("/v1/members/1/offers", headers=auth(READ))
    client.get("/v1/members/1/offers?limit=99", headers=auth(READ))
    client.post("/v1/events", headers=auth(EVENTS), json={
        "event_id": "m-1", "member_id": "1", "event": "viewed",
        "offer_id": app.extensions["offers_catalog"].ids[0]})
    text = client.get("/metrics").get_data(as_text=True)
    offers = 'endpoint="/v1/members/<member_id>/offers",method="GET"'
    assert f'offers_http_requests_total{{{offers},status="200"}} 3.0' in text
    assert f'offers_http_requests_total{{{offers},status="400"}} 1.0' in text
    assert f'offers_http_request_duration_seconds_count{{{offers}}} 4.0' in text
    assert f'offers_model_info{{version="{trained_artifacts[1]}"}} 1.0' in text
    assert 'offers_events_total{event="viewed",result="stored"} 1.0' in text

    def broken_ping():
        raise OSError("disk gone")

    app.extensions["offers_store"].ping = broken_ping
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.get_json()["problems"] == ["event store not reachable"]


def test_the_api_on_a_postgresql_event_store(auth, make_config, apps, trained_artifacts, tmp_path,
                                             postgres_url):
    app = apps(make_config(trained_artifacts[0], tmp_path, EVENTS_DB=postgres_url))
    client = app.test_client()
    offer = app.extensions["offers_catalog"].ids[0]
    event = {"event_id": "pg-1", "member_id": "1", "offer_id": offer, "event": "sent"}
    assert client.post("/v1/events", json=event, headers=auth(EVENTS)).get_json()["stored"] == 1
    assert client.post("/v1/events", json=event,
                       headers=auth(EVENTS)).get_json()["duplicates"] == 1
    assert client.get("/readyz").status_code == 200
    assert client.get("/v1/members/1/offers", headers=auth(READ)).status_code == 200
    assert "PostgresEventStore" in repr(app.extensions["offers_store"])


def test_database_passwords_are_redacted_in_messages():
    from serving.store.postgres import _redacted

    assert _redacted("postgresql://app:s3cr:et@db:5432/offers") == "postgresql://app:***@db:5432/offers"
    assert _redacted("postgresql://db/offers") == "postgresql://db/offers"

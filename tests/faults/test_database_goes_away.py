"""PostgreSQL stopped and restarted under the app: clean 503s, no event lost, recovery alone.

Figures asserted (and reported in docs/operations.md): events acknowledged
(2xx) but not stored = 0; no 500 while the database is down; the first
request after the database is back (plus reconnect) succeeds within 10 s.
And the kill-the-workers durability test, on PostgreSQL: workers SIGKILLed
six times under event traffic lose no acknowledged event, and a full retry
counts nothing twice.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from fault_helpers import EVENTS, READ

pytestmark = pytest.mark.slow

MEMBER = "M0000001"


def _stored_ids(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT event_id FROM offer_events").fetchall()}


def _event(event_id: str, offer_id: str) -> dict:
    return {"event_id": event_id, "member_id": MEMBER, "offer_id": offer_id, "event": "sent",
            "channel": "app", "timestamp": "2020-01-01T00:00:00Z"}


def test_the_database_going_away_is_a_clean_503_and_recovers(own_postgres, artifacts_copy,
                                                             make_app):
    root, _ = artifacts_copy
    app = make_app(root, EVENTS_DB=own_postgres.url)
    client = app.test_client()
    read, events = ({"Authorization": f"Bearer {key}"} for key in (READ, EVENTS))
    offers = client.get(f"/v1/members/{MEMBER}/offers?channel=app", headers=read)
    assert offers.status_code == 200
    offer_id = offers.get_json()["offers"][0]["offer_id"]

    answers: list[tuple[int, list[str], dict]] = []
    stop = threading.Event()

    def post_events() -> None:  # sequential requests of 3 events each, until stopped
        n = 0
        while not stop.is_set() and n < 3000:
            ids = [f"pg-{n}-{i}" for i in range(3)]
            answer = client.post("/v1/events", json=[_event(i, offer_id) for i in ids],
                                 headers=events)
            answers.append((answer.status_code, ids, answer.get_json() or {}))
            n += 1
            time.sleep(0.01)

    poster = threading.Thread(target=post_events)
    poster.start()
    try:
        time.sleep(0.5)
        own_postgres.stop()
        time.sleep(1.0)  # requests meet the stopped database
        down_offers = client.get(f"/v1/members/{MEMBER}/offers?channel=app", headers=read)
        down_ready = client.get("/readyz")
        back = time.monotonic()  # recovery is timed from the restart command
        own_postgres.start()
        recovered_s = None
        while time.monotonic() - back < 10:
            if answers and answers[-1][0] == 200 and len(answers) > 1:
                recovered_s = time.monotonic() - back
                break
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        stop.set()
        poster.join(30)

    statuses = [status for status, _, _ in answers]
    assert 503 in statuses and 200 in statuses, statuses
    assert set(statuses) <= {200, 503}, sorted(set(statuses))  # never a 500
    refused = [body for status, _, body in answers if status == 503]
    assert all(b["error"]["code"] == "store_unavailable" and "nothing stored" in
               b["error"]["message"] and "127.0.0.1" not in b["error"]["message"]
               for b in refused), refused[:2]
    assert down_offers.status_code == 503, down_offers.data
    assert down_offers.get_json()["error"]["code"] == "store_unavailable"
    assert down_offers.headers["Retry-After"]
    assert down_ready.status_code == 503
    assert recovered_s is not None and recovered_s < 10, recovered_s

    stored = _stored_ids(own_postgres.url)
    acknowledged = {i for status, ids, _ in answers if status == 200 for i in ids}
    assert acknowledged - stored == set()  # events lost: 0
    # a refused request stored nothing, so its retry stores every event once
    retry = [i for status, ids, _ in answers if status == 503 for i in ids]
    assert not set(retry) & stored
    again = client.post("/v1/events", json=[_event(i, offer_id) for i in retry[:30]],
                        headers=events)
    assert again.status_code == 200 and again.get_json()["stored"] == len(retry[:30])
    assert client.get(f"/v1/members/{MEMBER}/offers?channel=app", headers=read).status_code == 200
    print(f"requests={len(answers)} refused={len(refused)} "
          f"lost={len(acknowledged - stored)} recovered_s={recovered_s:.2f}")


def _workers(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def test_killed_workers_lose_no_event_on_postgresql(own_postgres, artifacts_copy, serve):

    root, _ = artifacts_copy
    server = serve(root, "--workers", "2", "--events-db", own_postgres.url)
    offers = server.call("GET", f"/v1/members/{MEMBER}/offers?channel=app", READ)
    offer_id = json.loads(offers[1])["offers"][0]["offer_id"]
    acked: set[str] = set()
    sent: list[list[str]] = []
    stop = threading.Event()

    def post(worker: int) -> None:
        n = 0
        while not stop.is_set() and n < 2000:
            ids = [f"kill-{worker}-{n}-{i}" for i in range(5)]
            sent.append(ids)
            try:
                status, body = server.call("POST", "/v1/events", EVENTS,
                                           [_event(i, offer_id) for i in ids], timeout=20)
                if status == 200:
                    acked.update(ids)
            except OSError:  # the worker died under the request: not acknowledged
                pass
            n += 1

    kills = 0
    with ThreadPoolExecutor(4) as pool:
        for worker in range(4):
            pool.submit(post, worker)
        for _ in range(6):
            time.sleep(0.7)
            pids = _workers(server.process.pid)
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                kills += 1
        time.sleep(1.0)
        stop.set()
    assert kills == 6 and len(acked) > 100, (kills, len(acked))
    stored = _stored_ids(own_postgres.url)
    assert acked - stored == set()  # events lost: 0
    retried = [i for ids in sent for i in ids]
    for start in range(0, len(retried), 500):  # a full retry stores nothing twice
        status, body = server.call("POST", "/v1/events", EVENTS,
                                   [_event(i, offer_id) for i in retried[start:start + 500]])
        assert status == 200, body[:300]
    with psycopg.connect(own_postgres.url, autocommit=True) as conn:
        events = conn.execute("SELECT COUNT(*) FROM offer_events WHERE event_id LIKE 'kill-%'"
                              ).fetchone()[0]
        counted = conn.execute("SELECT sent FROM offer_totals WHERE offer_id = %s",
                               (offer_id,)).fetchone()[0]
        before = conn.execute("SELECT COUNT(*) FROM offer_events WHERE event_id LIKE 'pg-%'"
                              ).fetchone()[0]
    assert events == len(set(retried)) and counted == events + before, (events, counted, before)
    print(f"posted={len(set(retried))} acked={len(acked)} lost={len(acked - stored)} "
          f"kills={kills}")


def test_a_locked_sqlite_store_is_a_503_then_recovers(artifacts_copy, make_app, tmp_path,
                                                      monkeypatch):
    import sqlite3

    from serving.store.sqlite import SqliteEventStore

    monkeypatch.setattr(SqliteEventStore, "busy_timeout_ms", 200)
    root, _ = artifacts_copy
    db = tmp_path / "locked.sqlite3"
    client = make_app(root, EVENTS_DB=str(db)).test_client()
    read, events = ({"Authorization": f"Bearer {key}"} for key in (READ, EVENTS))
    offer_id = client.get(f"/v1/members/{MEMBER}/offers?channel=app",
                          headers=read).get_json()["offers"][0]["offer_id"]
    body = [_event("sqlite-locked-1", offer_id)]
    locker = sqlite3.connect(db, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another process holding the database
        refused = client.post("/v1/events", json=body, headers=events)
        assert refused.status_code == 503, refused.data
        assert refused.get_json()["error"]["code"] == "store_unavailable"
        assert "nothing stored" in refused.get_json()["error"]["message"]
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    stored = client.post("/v1/events", json=body, headers=events)
    assert stored.status_code == 200 and stored.get_json()["stored"] == 1

"""PostgreSQL stopped and restarted under the app: clean 503s, no event lost, recovery alone.

Figures asserted (and reported in docs/operations.md): events acknowledged
(2xx) but not stored = 0; no 500 while the database is down; the first
request after the database is back (plus reconnect) succeeds within 10 s.
"""

from __future__ import annotations

import threading
import time

import pytest
from fault_helpers import EVENTS, READ

pytestmark = pytest.mark.slow

MEMBER = "M0000001"


def _stored_ids(url: str) -> set[str]:
    import psycopg

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

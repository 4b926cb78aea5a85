"""Change marks let a one-member read skip SQLite, yet events posted anywhere are seen next."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from keys import EVENTS, READ

from serving.store import StoredEvent, open_store
from serving.store import marks as marks_module

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).parents[2]


def event(i, member, offer="o1", kind="sent"):
    return StoredEvent(f"e{i}-{member}", member, offer, kind, T0 + timedelta(minutes=i), "app")


class CountingReads:
    """Wraps a store's one-member query to count the times it reaches the database."""

    def __init__(self, store):
        self.calls, self._read = 0, store._one_member_events
        store._one_member_events = self

    def __call__(self, member_id):
        self.calls += 1
        return self._read(member_id)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "store" / "events.sqlite3"


def test_reads_skip_the_database_until_a_member_gets_events(db):
    reader, writer = open_store(db), open_store(db)  # two connections, two mappings
    assert reader.marks is not None and Path(f"{db}-marks").exists()
    reads = CountingReads(reader)
    assert reader.snapshot(["m1"]).member_events("m1") == []
    assert reads.calls == 0  # never marked: nothing stored for its bucket
    writer.add([event(1, "m1")])
    assert [e[0] for e in reader.snapshot(["m1"]).member_events("m1")] == ["o1"]
    assert reader.snapshot(["m1"]).member_events("m1") == reader.member_events("m1")
    assert reads.calls == 1  # read once, then the worker's copy under the same mark
    writer.add([event(2, "m1", "o2")])
    assert [e[0] for e in reader.snapshot(["m1"]).member_events("m1")] == ["o1", "o2"]
    assert reads.calls == 2
    writer.add([event(2, "m1", "o2")])  # a retry (duplicate) marks again: one more read
    reader.snapshot(["m1"])
    assert reads.calls == 3
    reader.close(), writer.close()


def test_a_copy_is_reread_after_its_maximum_age(db, monkeypatch):
    store = open_store(db)
    store.add([event(1, "m1")])
    reads = CountingReads(store)
    store.snapshot(["m1"]), store.snapshot(["m1"])
    assert reads.calls == 1
    monkeypatch.setattr(marks_module, "MAX_AGE_S", 0.0)
    store.snapshot(["m1"])
    assert reads.calls == 2
    store.close()


def test_marks_are_rebuilt_for_another_database_and_count_stored_events(db):
    store = open_store(db)
    store.add([event(1, "m1")])
    store.close()
    db.unlink()  # a new database at the same path: its own id, the old marks do not apply
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    fresh = open_store(db)
    reads = CountingReads(fresh)
    assert fresh.snapshot(["m1"]).member_events("m1") == [] and reads.calls == 0
    fresh.close()
    # A marks file lost (or from before a reboot): rebuilt from the stored events' members.
    again = open_store(db)
    again.add([event(5, "m9")])
    again.close()
    Path(f"{db}-marks").unlink()
    rebuilt = open_store(db)
    reads = CountingReads(rebuilt)
    assert [e[0] for e in rebuilt.snapshot(["m9"]).member_events("m9")] == ["o1"]
    assert reads.calls == 1
    rebuilt.close()


def test_marks_are_rebuilt_for_a_copy_of_the_database_moved_into_place(db, tmp_path):
    """A copy of the database (same store id) that took events elsewhere, then restored
    over the original with the servers stopped: the marks beside it never saw those events,
    so they must be rebuilt, or the member's events would be skipped (caps not applied)."""
    store = open_store(db)
    store.add([event(1, "m1")])
    store.close()
    copy = tmp_path / "elsewhere" / "events.sqlite3"
    copy.parent.mkdir()
    shutil.copy(db, copy)
    elsewhere = open_store(copy)
    elsewhere.add([event(2, "m2")])  # marked in the copy's own marks file only
    elsewhere.close()
    tmp = db.with_name("restore.tmp")
    shutil.copy(copy, tmp)
    os.replace(tmp, db)  # a new file (inode) at the database's path, as mv and rsync do
    restored = open_store(db)
    assert [e[0] for e in restored.snapshot(["m2"]).member_events("m2")] == ["o1"]
    assert [e[0] for e in restored.snapshot(["m1"]).member_events("m1")] == ["o1"]
    restored.close()


def test_without_a_boot_id_every_read_queries(db, monkeypatch):
    monkeypatch.setattr("serving.store.sqlite.boot_id", lambda: None)
    store = open_store(db)
    assert store.marks is None
    reads = CountingReads(store)
    store.snapshot(["m1"])
    assert reads.calls == 1
    store.close()


POST_EVENT = """
import json, sys
from serving import create_app
config, event = json.loads(sys.argv[1]), json.loads(sys.argv[2])
app = create_app(config)
with app.test_client() as client:
    key = {"Authorization": "Bearer " + sys.argv[3]}
    answer = client.post("/v1/events", json=[event], headers=key)
    print(answer.status_code, answer.get_json())
app.extensions["offers_store"].close()
"""


def test_an_event_posted_by_another_process_caps_the_next_decision(make_config,
                                                                   trained_artifacts, tmp_path):
    """Two apps in two processes on one SQLite store, as two gunicorn workers: after the
    other process's POST returns, this process's next decision counts the event, both for
    a member without events before (never marked) and for one whose events this process
    holds a copy of."""
    from serving import create_app

    config = make_config(trained_artifacts[0], tmp_path)
    app = create_app(config)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {READ}"}

    def offered(member):
        answer = client.get(f"/v1/members/{member}/offers?channel=app", headers=headers)
        assert answer.status_code == 200
        return [o["offer_id"] for o in answer.get_json()["offers"]]

    members = [m for m in (f"M{n:07d}" for n in range(1, 120)) if offered(m)][:2]
    assert len(members) == 2
    now = time.time()
    for round_, member in enumerate([members[0], members[1], members[1]]):
        before = offered(member)
        offered(member)  # this process keeps what it read (or that nothing was marked)
        event = {"event_id": f"other-{round_}", "member_id": member, "offer_id": before[0],
                 "event": "sent", "channel": "app",
                 "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime(now - 3600 * (round_ + 1)))}
        done = subprocess.run([sys.executable, "-c", POST_EVENT, json.dumps(config),
                               json.dumps(event), EVENTS], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.stdout.startswith("200"), done.stdout + done.stderr
        after = offered(member)
        assert before[0] not in after, (round_, before, after)
    app.extensions["offers_store"].close()

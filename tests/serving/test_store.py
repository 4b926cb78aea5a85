"""The event store contract, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from features.loading import load_dataset
from serving.store import EventConflict, StoredEvent, open_store
from serving.store.export import export_events

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def event(i, member="m1", offer="o1", kind="sent", **extra):
    return StoredEvent(f"e{i}", member, offer, kind, T0 + timedelta(minutes=i), "email",
                       **extra)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "store" / "events.sqlite3")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(location):
    store = open_store(location)
    yield store
    store.close()


def test_add_is_idempotent_by_event_id(store):
    first = store.add([event(1), event(2, kind="redeemed", cost=2.5), event(3, member="m2")])
    assert first.stored == ["e1", "e2", "e3"] and first.duplicates == []
    retry = store.add([event(2, kind="redeemed", cost=2.5), event(4)])
    assert retry.stored == ["e4"] and retry.duplicates == ["e2"]
    assert store.count() == 4
    assert store.offer_totals() == {"o1": {"sent": 3, "redeemed": 1, "cost": 2.5}}


def test_reused_event_id_for_another_event_stores_nothing(store):
    store.add([event(1)])
    with pytest.raises(EventConflict, match="'e1' is already stored for a different event"):
        store.add([event(5), StoredEvent("e1", "m9", "o1", "sent", T0)])
    with pytest.raises(EventConflict, match="appears twice"):
        store.add([event(6), StoredEvent("e6", "m9", "o1", "sent", T0)])
    assert store.count() == 1  # e5 and e6 rolled back with the conflict


def test_member_events_are_naive_utc_tuples_oldest_first(store):
    store.add([event(3), event(1), event(2, member="m2"),
               StoredEvent("z", "m1", "o2", "viewed", T0.astimezone(timezone(timedelta(hours=2))))])
    events = store.member_events("m1")
    assert [e[0:2] for e in events] == [("o2", "viewed"), ("o1", "sent"), ("o1", "sent")]
    assert events[0][2] == datetime(2024, 3, 1, 12, 0) and events[0][2].tzinfo is None
    assert store.member_events("nobody") == []
    snap = store.snapshot(["m1", "m2"])
    assert len(snap.member_events("m2")) == 1 and snap.offer_totals()["o1"]["sent"] == 3



def test_one_member_snapshot_is_the_latest_events_oldest_first(store):
    from serving.store.sql import MEMBER_EVENTS_LIMIT

    n = MEMBER_EVENTS_LIMIT + 5
    late = T0 + timedelta(minutes=n + 2)  # three at once: ordered by event_id
    same_time = [StoredEvent(f"t{i}", "m1", "o3", "sent", late) for i in (2, 1, 3)]
    store.add([event(i) for i in range(n)] + same_time + [event(n + 1, member="m2")])
    one = store.snapshot(["m1"]).member_events("m1")
    assert one == store.member_events_many(["m1"])["m1"] == store.member_events("m1")
    assert len(one) == MEMBER_EVENTS_LIMIT and one[-4][2] == datetime(2024, 3, 1, 12) + \
        timedelta(minutes=n - 1)
    assert store.snapshot(["nobody"]).member_events("nobody") == []


def test_events_survive_reopening(location):
    store = open_store(location)
    store.add([event(1), event(2)])
    store.close()
    again = open_store(location)
    try:
        assert again.count() == 2 and again.offer_totals()["o1"]["sent"] == 2
    finally:
        again.close()


def test_concurrent_writers_never_lose_or_double_count(location):
    """Eight writers, each with its own connections, post overlapping events at once."""
    stores = [open_store(location) for _ in range(8)]
    shared = [event(i) for i in range(60)]
    start = threading.Barrier(len(stores))
    errors = []

    def post(n, store):
        start.wait()
        try:
            for chunk in range(0, 60, 15):
                own = [event(1000 + n * 100 + chunk + j, member=f"w{n}") for j in range(15)]
                store.add(shared[chunk:chunk + 15] + own)
        except Exception as exc:  # collected: a failure in a thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n, s)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors
        assert stores[0].count() == 60 + 8 * 60
        assert stores[0].offer_totals()["o1"]["sent"] == 60 + 8 * 60
    finally:
        for s in stores:
            s.close()


def test_iter_rows_pages_through_everything(store):
    store.add([event(i, member=f"m{i % 3}") for i in range(7)])
    rows = list(store.iter_rows(batch=2))
    assert [r[-1] for r in rows] == [f"e{i}" for i in range(7)]


def test_export_merges_into_a_data_directory_that_retraining_reads(store, synth_data, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synth_data, data)
    before = len(load_dataset(data).offer_events)
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    store.add([StoredEvent("srv-1", "1", "o1", "sent", now, "email", "c1"),
               StoredEvent("srv-2", "1", "o1", "redeemed", now + timedelta(hours=1), "app")])
    with pytest.raises(Exception, match="pass --merge"):
        export_events(store, data)
    path, rows = export_events(store, data, merge=True)
    assert path.name == "offer_events.parquet" and rows == before + 2
    events = load_dataset(data).offer_events
    assert len(events) == before + 2
    mine = events[events["event_id"].isin(["srv-1", "srv-2"])].sort_values("event_id")
    assert list(mine["event"]) == ["sent", "redeemed"]
    assert mine["timestamp"].iloc[0] == pd.Timestamp(now).tz_localize(None)
    export_events(store, data, merge=True)  # merging again adds nothing
    assert len(load_dataset(data).offer_events) == before + 2


def test_export_to_a_csv_file(store, tmp_path):
    store.add([event(1), event(2, kind="dismissed")])
    path, rows = export_events(store, tmp_path / "out" / "events.csv")
    frame = pd.read_csv(path)
    assert rows == 2 and list(frame.columns) == [
        "member_id", "offer_id", "event", "timestamp", "channel", "campaign_id", "event_id"]
    assert frame["timestamp"].iloc[0] == "2024-03-01T12:01:00.000000"


def test_open_store_rejects_unknown_url_schemes(tmp_path):
    with pytest.raises(ValueError, match="unsupported event store URL scheme"):
        open_store("mysql://x/y")
    s = open_store(f"sqlite:///{tmp_path}/a.sqlite3")
    s.close()
    assert (tmp_path / "a.sqlite3").exists()

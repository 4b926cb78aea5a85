"""The accept rule of serving/accept_balance.py, on a worker object (no server started)."""

from __future__ import annotations

import logging
import os

import pytest
from gunicorn.config import Config

import serving.accept_balance as balance
from serving.accept_balance import ConnectionTable
from serving.slow_clients import DeadlineThreadWorker


class Owner:
    """Stands for a worker object the master holds."""


def test_table_counts_only_live_siblings(monkeypatch):
    table = ConnectionTable(4)
    owners = [Owner() for _ in range(3)]
    slots = [table.claim(o) for o in owners]
    assert slots == [0, 1, 2]
    assert table.fewest_elsewhere(0) is None  # claimed, never published: not live yet
    table.publish(1, 111, 5)
    table.publish(2, 222, 3)
    assert table.fewest_elsewhere(0) == 3
    assert table.fewest_elsewhere(2) == 5
    table.release(2)
    assert table.fewest_elsewhere(0) == 5
    now = balance.time.monotonic()
    assert table.fewest_elsewhere(0, now + balance.STALE_S + 1) is None  # a dead worker's slot
    del owners[1]  # the master dropped that worker object: its slot is free again
    assert table.claim(Owner()) == 1


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


@pytest.fixture
def worker(monkeypatch, tmp_path):
    """A worker of a 2-worker server, as forked (its pid), with a sibling's slot published."""
    clock = FakeClock()
    monkeypatch.setattr(balance, "time", clock)
    monkeypatch.setattr(DeadlineThreadWorker, "_table", None)
    cfg = Config()
    cfg.set("workers", 2)
    cfg.set("worker_tmp_dir", str(tmp_path))
    made = DeadlineThreadWorker(1, os.getppid(), [], None, 30, cfg, logging.getLogger("t"))
    sibling = DeadlineThreadWorker(2, os.getppid(), [], None, 30, cfg, logging.getLogger("t"))
    made.pid = os.getpid()
    made._accepting = True
    toggles = []
    monkeypatch.setattr(made, "poller", None, raising=False)
    monkeypatch.setattr("gunicorn.workers.gthread.ThreadWorker.set_accept_enabled",
                        lambda self, enabled: toggles.append(enabled)
                        or setattr(self, "_accepting", enabled))
    made.toggles, made.clock, made.sibling = toggles, clock, sibling
    yield made
    made.tmp.close()
    sibling.tmp.close()


def test_a_busier_worker_leaves_the_connection_to_its_sibling(worker):
    table, clock = worker._table, worker.clock
    table.publish(worker.sibling._slot, 4242, 0)
    worker.nr_conns = 1
    assert table.fewest_elsewhere(worker.sibling._slot) == 1  # published as it changed
    assert worker._defer() is True  # 1 > 0: paused, listener off
    assert worker.toggles == [False]
    worker.set_accept_enabled(True)  # the run loop, during the pause: stays off
    assert worker.toggles == [False]
    clock.now += worker.accept_pause_s
    worker.set_accept_enabled(True)
    assert worker.toggles == [False, True]
    table.publish(worker.sibling._slot, 4242, 1)  # the sibling took it
    assert worker._defer() is False  # 1 <= 1: accept here


def test_a_sibling_that_does_not_accept_delays_a_connection_at_most_max_wait(worker):
    worker._table.publish(worker.sibling._slot, 4242, 0)
    worker.nr_conns = 3
    waited = 0.0
    while worker._defer():
        worker.clock.now += worker.accept_pause_s
        waited += worker.accept_pause_s
        assert waited <= worker.accept_max_wait_s + worker.accept_pause_s + 1e-9
    assert waited >= worker.accept_max_wait_s - 1e-9
    worker.clock.now += 5.0  # later, a new connection: the sibling gets its chance again
    worker._table.publish(worker.sibling._slot, 4242, 0)
    assert worker._defer() is True


def test_a_lone_or_stopping_worker_never_defers(worker):
    worker.nr_conns = 9
    assert worker._defer() is False  # the sibling never published: not live
    assert worker._table.fewest_elsewhere(worker.sibling._slot) == 9
    worker._table.publish(worker.sibling._slot, 4242, 0)
    worker.alive = False
    worker.set_accept_enabled(False)  # graceful stop: its slot is released
    assert worker._slot is None
    assert worker._table.fewest_elsewhere(worker.sibling._slot) is None


def test_one_worker_has_no_table(monkeypatch, tmp_path):
    monkeypatch.setattr(DeadlineThreadWorker, "_table", None)
    cfg = Config()
    cfg.set("worker_tmp_dir", str(tmp_path))
    made = DeadlineThreadWorker(1, os.getppid(), [], None, 30, cfg, logging.getLogger("t"))
    try:
        assert made._slot is None and DeadlineThreadWorker._table is None
    finally:
        made.tmp.close()


def test_the_loop_refreshes_the_heartbeat_every_half_second_not_every_event(worker):
    table, clock, slot = worker._table, worker.clock, worker._slot

    def beat():
        return balance.RECORD.unpack_from(table._map, slot * balance.RECORD.size)[2]

    worker.notify()
    first = beat()
    assert first == clock.now
    clock.now += balance.HEARTBEAT_S / 2
    worker.notify()
    assert beat() == first
    clock.now += balance.HEARTBEAT_S
    worker.notify()
    assert beat() == clock.now  # alive: a sibling's slot stays live well within STALE_S
    assert balance.HEARTBEAT_S * 4 < balance.STALE_S

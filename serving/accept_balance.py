"""Spreading a server's connections evenly over its gunicorn workers.

Every gthread worker polls the one listening socket its master opened and
accepts whatever connection it sees first. Clients that open their connections
in a burst and keep them alive (a load balancer's or proxy's connection pool,
``wrk``) can so land all on one worker while the other idles: issue 14's
"stalls" were exactly that (8 of 8 connections on one of 2 workers, half the
throughput for as long as the connections lived; ``bench/stall_probe.py``).

:class:`BalancedAccept` makes a worker that holds more open connections than
its least-loaded live sibling leave a waiting connection to that sibling:
it stops polling the listener for :attr:`~BalancedAccept.accept_pause_s` and
looks again, accepting anyway once it has deferred for
:attr:`~BalancedAccept.accept_max_wait_s` (a sibling that is stuck or starved of
CPU never delays a connection for longer than that). Workers publish their
open-connection counts in :class:`ConnectionTable`, a small anonymous shared
memory map the master makes before it forks the first worker; each worker writes
only its own slot and a heartbeat, so a slot whose worker died or stopped
accepting (graceful stop) is ignored.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
import weakref

RECORD = struct.Struct("=qqd")  # pid (0: free), open connections, heartbeat (monotonic s)
STALE_S = 5.0  # a slot whose heartbeat is older belongs to no live, accepting worker
HEARTBEAT_S = 0.5  # how often a worker's loop refreshes its slot (the count, as it changes)


class ConnectionTable:
    """Open-connection counts of a master's workers, in memory shared across ``fork``.

    The master :meth:`claim` s a slot for each worker object before forking it
    (the lowest one no live worker object holds); the worker then
    :meth:`publish` es its pid and count, and :meth:`release` s the slot when it
    stops accepting.
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._map = mmap.mmap(-1, slots * RECORD.size)  # MAP_SHARED | MAP_ANONYMOUS
        self._owners: list[weakref.ref | None] = [None] * slots

    def claim(self, owner) -> int | None:
        """A free slot for ``owner`` (a worker object, in the master); None when full."""
        for slot, ref in enumerate(self._owners):
            if ref is None or ref() is None:
                self._owners[slot] = weakref.ref(owner)
                RECORD.pack_into(self._map, slot * RECORD.size, 0, 0, 0.0)
                return slot
        return None

    def publish(self, slot: int, pid: int, connections: int) -> None:
        RECORD.pack_into(self._map, slot * RECORD.size, pid, connections, time.monotonic())

    def release(self, slot: int) -> None:
        RECORD.pack_into(self._map, slot * RECORD.size, 0, 0, 0.0)

    def fewest_elsewhere(self, slot: int, now: float | None = None) -> int | None:
        """The fewest open connections of a live worker other than ``slot``'s; None if none."""
        now = time.monotonic() if now is None else now
        fewest = None
        for other, (pid, count, beat) in enumerate(RECORD.iter_unpack(self._map)):
            if other != slot and pid and now - beat < STALE_S:
                fewest = count if fewest is None else min(fewest, count)
        return fewest


class BalancedAccept:
    """Mixin for gunicorn's ``ThreadWorker``: accept only when no live sibling holds fewer
    open connections, within :attr:`accept_max_wait_s` (module docstring)."""

    accept_pause_s: float = 0.001
    accept_max_wait_s: float = 0.02
    _table: ConnectionTable | None = None  # made in the master, inherited by every worker

    def __init__(self, *args, **kwargs) -> None:
        cls = type(self)
        cfg = args[5] if len(args) > 5 else kwargs["cfg"]
        if cls._table is None and cfg.workers > 1:
            cls._table = ConnectionTable(max(8, 2 * cfg.workers))
        self._slot = cls._table.claim(self) if cls._table is not None else None
        self._open = 0
        self._paused_until = 0.0
        self._deferring_since: float | None = None
        self._last_deferred = 0.0
        self._last_beat = 0.0
        super().__init__(*args, **kwargs)

    # gunicorn's ThreadWorker counts its open connections in ``nr_conns``: published as it
    # changes, so siblings see a burst's connections as they are accepted.
    @property
    def nr_conns(self) -> int:
        return self._open

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        self._open = value
        if self._slot is not None and self.pid == os.getpid():
            self._table.publish(self._slot, self.pid, value)

    def notify(self) -> None:
        super().notify()
        if self._slot is not None and self._accepting:
            now = time.monotonic()
            if now - self._last_beat >= HEARTBEAT_S:  # the loop runs once per event
                self._last_beat = now
                self._table.publish(self._slot, self.pid, self._open)  # the heartbeat

    def accept(self, listener) -> None:
        if self._slot is not None and self._defer():
            return
        super().accept(listener)

    def _defer(self) -> bool:
        """Whether to leave the waiting connection to a less-loaded sibling for now."""
        now = time.monotonic()
        fewest = self._table.fewest_elsewhere(self._slot, now)
        if fewest is None or self._open <= fewest:
            self._deferring_since = None
            return False
        if self._deferring_since is None or now - self._last_deferred > self.accept_max_wait_s:
            self._deferring_since = now  # a new connection to leave to a sibling
        elif now - self._deferring_since >= self.accept_max_wait_s:
            self._deferring_since = None  # nobody took it: accept it here
            return False
        self._last_deferred = now
        self._paused_until = now + self.accept_pause_s
        super().set_accept_enabled(False)  # the run loop turns it back on after the pause
        return True

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and time.monotonic() < self._paused_until:
            return
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive and self._slot is not None:
            self._table.release(self._slot)  # stopping: not a sibling to leave connections to
            self._slot = None

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if not self._accepting and self._paused_until:
            timeout = min(timeout, max(0.0, self._paused_until - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)

"""Keep-alive connections opened in a burst are spread over `offers serve`'s workers.

Before: each gthread worker accepted whatever it saw first, and a client opening its 8
connections at once (wrk, a proxy's pool) got them all on one of 2 workers now and then
(0/8, 8/0, 1/7 in bench/stall_probe.py's runs): half the throughput for as long as the
connections lived (issue 14's "stalls"). Now a worker holding more connections than a sibling
leaves a new one to it (serving/accept_balance.py).
"""

from __future__ import annotations

import os
import socket
import time

import pytest
from fault_helpers import wait_until

pytestmark = pytest.mark.slow

BURST = 8
ROUNDS = 5


def _workers(master: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{master}/task"):
        with open(f"/proc/{master}/task/{task}/children") as f:
            found += [int(x) for x in f.read().split()]
    return sorted(found)


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                        inodes.add(fields[9])
        except FileNotFoundError:
            continue
    return inodes


def _split(master: int, port: int) -> dict[int, int]:
    """How many of the server's established connections each worker holds."""
    inodes = _established_inodes(port)
    counts = {}
    for pid in _workers(master):
        held = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                held += 1
        counts[pid] = held
    return counts


def _get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: test\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    return answer


def _burst(server, master: int) -> list[int]:
    """Open BURST connections at once, one request on each; the split over the workers."""
    sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=10)
               for _ in range(BURST)]
    try:
        assert all(_get(s).startswith(b"HTTP/1.1 200") for s in sockets)
        split = sorted(_split(master, server.port).values())
    finally:
        for s in sockets:
            s.close()
    # the workers see the closes before the next burst
    assert wait_until(lambda: sum(_split(master, server.port).values()) == 0, 15)
    time.sleep(0.1)
    return split


def test_a_burst_of_connections_is_spread_over_the_workers(artifacts_copy, serve):
    root, _ = artifacts_copy
    server = serve(root, "--workers", "2")
    master = server.process.pid
    assert wait_until(lambda: len(_workers(master)) == 2, 30), server.log()
    # the second worker may still be building its app: wait until both take connections
    assert wait_until(lambda: min(_burst(server, master)) > 0, 30), server.log()
    splits = [_burst(server, master) for _ in range(ROUNDS)]
    assert all(sum(s) == BURST for s in splits), splits
    # 4/4 when both workers get the CPU in time; 5/3 allowed (a starved sibling is waited
    # for 20 ms at most). Without the balancing: 8/0, 7/1, 6/2 in most bursts.
    assert all(max(s) <= BURST // 2 + 1 for s in splits), splits

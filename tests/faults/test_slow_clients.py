"""Slow and stuck clients do not take a 2-worker `offers serve` away from other clients.

Measured before (docs/operations.md): with ``sync`` workers, 2 connections that
send nothing, or 2 that send a request a byte a second, left a 2-worker server
answering nobody. Here 12 such clients (6 of each) are held open while a
normal request must be answered within 3 s, and a trickling request is cut
off at the read timeout.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fault_helpers import READ, wait_until

pytestmark = pytest.mark.slow

STUCK = 12  # sync workers: 2 blocked the server


def _trickle(sock: socket.socket, stop: threading.Event, closed: list) -> None:
    message = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000
    for byte in message:
        if stop.is_set():
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            closed.append(time.monotonic())
            return
        time.sleep(0.25)


def test_stuck_clients_do_not_block_a_normal_request(artifacts_copy, serve):
    root, _ = artifacts_copy
    server = serve(root, "--workers", "2", "--read-timeout", "2")
    stop, closed, sockets = threading.Event(), [], []
    try:
        opened = time.monotonic()
        for n in range(STUCK):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sockets.append(sock)
            if n % 2:
                threading.Thread(target=_trickle, args=(sock, stop, closed), daemon=True).start()
        time.sleep(0.3)
        for _ in range(3):
            started = time.monotonic()
            status, _ = server.call("GET", "/v1/members/M0000001/recommendations?limit=3", READ,
                                    timeout=10)
            took = time.monotonic() - started
            assert status == 200 and took < 3.0, (status, took, server.log()[-2000:])
        # the trickling requests are cut at the read timeout (2 s), not left holding threads
        assert wait_until(lambda: len(closed) == STUCK // 2, 20), (len(closed), server.log())
        assert max(closed) - opened < 10
        assert "did not arrive within the read timeout" in server.log()
    finally:
        stop.set()
        for sock in sockets:
            sock.close()

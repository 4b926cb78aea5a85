"""A gunicorn worker that slow or stuck clients cannot take over.

With gunicorn's ``sync`` workers each connection holds a whole worker until
its request has arrived: two clients that connect and send nothing (or send a
body a byte a second) hold a two-worker server for the worker ``timeout``
(``docs/operations.md`` has the measurement). Gunicorn's ``gthread`` worker
already parks a connection that sends nothing in a poller instead of a thread
(closing it after ``keepalive`` seconds) -- after holding a thread for 5 s --
and a client that trickles bytes holds a thread as long as it likes.

:class:`DeadlineThreadWorker` is ``gthread`` with a shorter wait for a new
connection's first bytes (:attr:`first_data_wait`), plus one rule: the request
(its headers and body) must arrive within ``read_timeout`` seconds of the
worker starting to read it. A connection past its deadline reads as closed:
the request is dropped (one warning line) and the connection closed, and the
thread is free again. Reads only: a slow *application* is the worker
``timeout``'s business, and writing the response is not limited.
"""

from __future__ import annotations

import logging
import time

from gunicorn.workers.gthread import ThreadWorker

from serving.accept_balance import BalancedAccept

logger = logging.getLogger(__name__)


class _DeadlineSocket:
    """A client socket whose ``recv`` returns end-of-file once ``deadline`` has passed."""

    def __init__(self, sock):
        self._sock = sock
        self.deadline = float("inf")
        self.expired = False

    def recv(self, size: int, *flags) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return self._expire()
        previous = self._sock.gettimeout()
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            return self._expire()
        finally:
            self._sock.settimeout(previous)

    def _expire(self) -> bytes:
        if not self.expired:
            self.expired = True
            try:
                peer = self._sock.getpeername()[0]
            except OSError:
                peer = "?"
            logger.warning("closing a connection from %s: its request did not arrive within "
                           "the read timeout", peer)
        return b""

    def __getattr__(self, name):
        return getattr(self._sock, name)


class DeadlineThreadWorker(BalancedAccept, ThreadWorker):
    """gunicorn's ``gthread`` worker with a deadline for reading each request, which leaves a
    new connection to a sibling worker holding fewer (:mod:`serving.accept_balance`).

    ``read_timeout`` (seconds) is set by :func:`serving.server.run_gunicorn`
    before the workers are forked.
    """

    read_timeout: float = 10.0
    #: Seconds a thread waits for a new connection's first bytes before parking it in the
    #: poller (gunicorn waits 5 s: five idle connections a thread each, for 5 s).
    first_data_wait: float = 0.5

    def handle(self, conn):
        if not isinstance(conn.sock, _DeadlineSocket):
            conn.sock = _DeadlineSocket(conn.sock)
            wait = conn.wait_for_data
            conn.wait_for_data = lambda timeout: wait(min(timeout, self.first_data_wait))
        conn.sock.deadline = time.monotonic() + self.read_timeout
        keep = super().handle(conn)
        return False if conn.sock.expired else keep

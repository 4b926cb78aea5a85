"""Change marks of an SQLite event store: skip a member's event read when nothing changed.

An offers request read the member's events with one query (issue 14), although almost
every member has none and events are posted far more rarely than decisions are made.
:class:`EventMarks` is a memory-mapped file beside the SQLite database (``<db>-marks``),
shared by every process on the host (SQLite in WAL mode already requires that: its
``-shm`` file is a shared mapping too). It holds one 64-bit mark per bucket of member ids
(CRC-32 of the id, :data:`SLOTS` buckets):

- :meth:`SqlEventStore.add <serving.store.sql.SqlEventStore.add>` writes a fresh random
  mark into the bucket of every member it stores events for, before its transaction and
  again after the commit, before it returns (so a client that got its answer has marked);
- a read takes the member's mark first: ``0`` means no event was ever stored for a
  member of that bucket, so there is nothing to read; otherwise the worker's own copy of
  the member's events is used when it was read under the same mark (any later commit for
  the bucket wrote another mark), and the database is read when not.

Marks are only ever set, never cleared, so a reader can only read more than needed. The
file is (re)built, from the stored events' member ids, when it is missing, when it was
built for another database (each database keeps a random id in ``store_identity``), for
another file than the database now at its path (its device and inode: a copy of the
database that took events elsewhere, moved or restored into place, has the same id but
events the marks never saw) or before the last boot (a page of marks not yet on disk
when the host stopped is lost, the database's commit is not). A database overwritten in
place (same inode) is not detected: delete the marks file with it. A process killed
between its commit and its second mark leaves at worst another worker's copy of that
member's events stale: copies are re-read after :data:`MAX_AGE_S` seconds whatever the
marks say. Marks apply to the SQLite store only: a PostgreSQL database may be shared by
hosts that share no memory.

Imports: the standard library only (``fcntl``, ``mmap``: Unix).
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import struct
import threading
import time
import zlib

try:
    import fcntl
except ImportError:  # pragma: no cover - not Unix: no marks, every read queries
    fcntl = None
from collections.abc import Callable, Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

SLOTS = 1 << 20  # buckets of member ids (8 MiB, sparse until marked)
MAGIC = b"OFFMARK1"
HEADER = struct.Struct("<8s32s36sQQQ")  # magic, database id, boot id, slots, device, inode
HEADER_SIZE = 128  # the marks start here (a multiple of 8)
MAX_AGE_S = 10.0  # a worker's copy of a member's events is re-read at least this often
CACHE_SIZE = 50_000  # members whose events a worker keeps (cleared when full)
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This boot's id (Linux), or None where the system does not say (or has no ``fcntl``)."""
    if fcntl is None:
        return None
    try:
        return _BOOT_ID.read_text().strip()[:36]
    except OSError:
        return None


class EventMarks:
    """The marks file of one SQLite event store (see the module docstring).

    Parameters
    ----------
    path : Path
        The marks file (``<db>-marks``).
    database_id : str
        The database's own random id (at most 32 ASCII characters).
    boot : str
        This boot's id (:func:`boot_id`).
    stored_members : callable
        Returns the member ids of the stored events (read when the file is built).
    slots : int
        Buckets of member ids.
    database_file : tuple of int
        The database file's ``(st_dev, st_ino)``: marks built for another file are rebuilt.
    """

    def __init__(self, path: Path, database_id: str, boot: str,
                 stored_members: Callable[[], Iterable[str]], slots: int = SLOTS,
                 database_file: tuple[int, int] = (0, 0)) -> None:
        self.path, self.slots = Path(path), slots
        header = HEADER.pack(MAGIC, database_id.encode()[:32], boot.encode()[:36], slots,
                             *database_file)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # workers starting together build it once
            try:
                if self._header() != header:
                    self._build(header, stored_members)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        with open(self.path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), HEADER_SIZE + 8 * slots)
        self._marks = memoryview(self._map)[HEADER_SIZE:].cast("Q")
        self._cache: dict[str, tuple[int, float, list]] = {}
        self._lock = threading.Lock()

    # -- the two sides ------------------------------------------------------------------
    def mark(self, member_ids: Iterable[str]) -> None:
        """Give the buckets of ``member_ids`` fresh marks (never 0)."""
        for member_id in member_ids:
            self._marks[self._slot(member_id)] = int.from_bytes(os.urandom(8), "little") | 1

    def member_events(self, member_id: str, read: Callable[[str], list]) -> list:
        """The member's events: none when the bucket was never marked, the worker's copy
        when read under the current mark (and recently), else ``read(member_id)``."""
        mark = self._marks[self._slot(member_id)]
        if mark == 0:
            return []
        now = time.monotonic()
        found = self._cache.get(member_id)
        if found is not None and found[0] == mark and now - found[1] < MAX_AGE_S:
            return list(found[2])
        events = read(member_id)
        if len(self._cache) >= CACHE_SIZE:
            with self._lock:
                self._cache.clear()
        self._cache[member_id] = (mark, now, events)
        return list(events)

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):
            self._marks.release()
            self._map.close()

    # -- helpers ------------------------------------------------------------------------
    def _slot(self, member_id: str) -> int:
        return zlib.crc32(member_id.encode()) % self.slots

    def _header(self) -> bytes | None:
        try:
            with open(self.path, "rb") as f:
                head = f.read(HEADER.size)
                size = os.fstat(f.fileno()).st_size
        except OSError:
            return None
        if len(head) < HEADER.size or size != HEADER_SIZE + 8 * HEADER.unpack(head)[3]:
            return None
        return head

    def _build(self, header: bytes, stored_members: Callable[[], Iterable[str]]) -> None:
        """Write a new marks file: the stored events' members marked, then put in place."""
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.truncate(HEADER_SIZE + 8 * self.slots)
        with open(tmp, "r+b") as f, mmap.mmap(f.fileno(), HEADER_SIZE + 8 * self.slots) as m:
            marks = memoryview(m)[HEADER_SIZE:].cast("Q")
            n = 0
            for member_id in stored_members():
                marks[self._slot(member_id)] = int.from_bytes(os.urandom(8), "little") | 1
                n += 1
            marks.release()
            m[:HEADER.size] = header
            m.flush()
        os.replace(tmp, self.path)
        logger.info("event marks %s built (%d members with events)", self.path, n)

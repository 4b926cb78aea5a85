"""Progress for long work: a tqdm bar on a terminal, plain log lines otherwise.

>>> for chunk in track(range(3), "chunks"):
...     pass
"""

from __future__ import annotations

import logging
import resource
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm import tqdm

from training.heap import release_free_heap

logger = logging.getLogger("offers.progress")
T = TypeVar("T")


def on_terminal() -> bool:
    return sys.stderr.isatty()


def track(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` showing progress: a bar on a terminal, else a log line per ~10%."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if on_terminal():
        yield from tqdm(items, desc=desc, total=total, unit=" steps", leave=False)
        return
    start = time.perf_counter()
    every = max(1, (total or 10) // 10)
    done = 0
    for item in items:
        yield item
        done += 1
        if done % every == 0 or done == total:
            elapsed = time.perf_counter() - start
            left = elapsed / done * (total - done) if total else float("nan")
            logger.info("%s: %d/%s done, %.1f s elapsed, ~%.0f s left",
                        desc, done, total or "?", elapsed, left)


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, all threads."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


class StepTimer:
    """Times named steps of a pipeline: a bar on a terminal, a log line per step otherwise.

    Steps may run on two threads at once (:mod:`training.side_step`): the counts,
    the bar and the figures are kept under a lock, and :attr:`wall_seconds` is the
    time since the timer started, not the sum of the steps'.
    """

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}
        #: When each step started, seconds after the timer.
        self.starts: dict[str, float] = {}
        #: The process's user + system CPU seconds per step (every thread's: DuckDB's and
        #: implicit's too), the figure to compare on a machine shared with other work. A
        #: step that overlapped another (on another thread) counts its own thread's CPU
        #: seconds only: threads it started itself (implicit's ALS) are in neither figure.
        self.cpu_seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}
        #: Steps that ran while another step ran on another thread.
        self.overlapped: set[str] = set()
        self._open: dict[str, bool] = {}  # steps running now: whether another ran beside
        self._lock = threading.Lock()
        self.bar = tqdm(total=total, unit=" steps", leave=True) if on_terminal() else None

    @property
    def wall_seconds(self) -> float:
        """Seconds since the timer started."""
        return round(time.perf_counter() - self.started, 3)

    @contextmanager
    def step(self, name: str):
        with self._lock:
            self.done += 1
            number = self.done
            if self._open:
                self._open = dict.fromkeys(self._open, True)
            self._open[name] = bool(self._open)
            if self.bar is not None:
                self.bar.set_description(name)
        logger.info("[%d/%d] %s ...", number, self.total, name)
        start, cpu, own = time.perf_counter(), process_cpu_seconds(), time.thread_time()
        self.starts[name] = round(start - self.started, 3)
        try:
            yield
        finally:
            with self._lock:
                overlapped = self._open.pop(name)
        release_free_heap()  # what the step freed goes back to the system, not to its peak
        with self._lock:
            self.seconds[name] = round(time.perf_counter() - start, 3)
            used = time.thread_time() - own if overlapped else process_cpu_seconds() - cpu
            self.cpu_seconds[name] = round(used, 3)
            if overlapped:
                self.overlapped.add(name)
            # ru_maxrss is the process's peak so far (KiB on Linux): the peak up to this
            # step's end.
            self.peak_rss_mb[name] = round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            logger.info("[%d/%d] %s done in %.1f s (peak RSS so far %d MiB)", number,
                        self.total, name, self.seconds[name], self.peak_rss_mb[name])
            if self.bar is not None:
                self.bar.update(1)
                if self.bar.n == self.total:
                    self.bar.close()

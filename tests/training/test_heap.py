"""training.heap: free heap pages go back to the system (glibc), a no-op elsewhere."""

import platform
import sys

import pytest

from training import heap
from training.progress import StepTimer

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@glibc
def test_release_free_heap_returns_freed_pages():
    # 2 KiB blocks come from malloc's heap (not pymalloc, not mmap); keeping every 8th
    # one fragments it, so glibc cannot give the freed pages back by itself.
    blocks = [bytearray(2048) for _ in range(120_000)]  # ~240 MiB
    kept = blocks[::8]
    del blocks
    before = _rss_mib()
    assert heap.release_free_heap() is True
    after = _rss_mib()
    assert before - after > 100, (before, after)
    assert len(kept) == 15_000


def test_release_free_heap_without_glibc(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.release_free_heap() is False


def test_step_timer_releases_after_each_step(monkeypatch):
    calls = []
    monkeypatch.setattr("training.progress.release_free_heap", lambda: calls.append(1))
    timer = StepTimer(2)
    with timer.step("a"):
        assert calls == []
    with timer.step("b"):
        pass
    assert calls == [1, 1]


def test_release_free_heap_returns_arrow_pool_pages():
    # Arrow's allocator (mimalloc in the wheels) keeps freed buffers' pages for reuse.
    import pyarrow as pa

    buffers = [pa.allocate_buffer(4096) for _ in range(60_000)]  # ~235 MiB
    del buffers
    before = _rss_mib()
    heap.release_free_heap()
    after = _rss_mib()
    assert before - after > 100, (before, after)

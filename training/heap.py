"""Hand the C heap's free pages back to the operating system between training steps.

A step frees most of what it built (pandas frames, numpy arrays, Arrow batches),
but glibc's ``malloc`` keeps freed pages inside the process unless they sit at
the top of the heap, so the process's RSS stays near each step's peak and the
next step's peak lands on top of it. ``malloc_trim(0)`` returns every free page
(Dask's workers do the same to release "unmanaged" memory). Measured on 200,000
synthetic members: 805 -> 625 MiB after the features and segmentation steps
(bench/RESULTS.md). Arrow's own allocator (mimalloc in the pyarrow wheels) keeps
freed pages the same way: its pool is asked to release them too (98 MiB after
loading 1M members).

Imports: the standard library (pyarrow only when something already imported it).
"""

from __future__ import annotations

import ctypes
import functools
import platform
import sys


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (another C library, another system)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Return the C heap's free pages to the system; True when ``malloc_trim`` ran
    (glibc on Linux), False where there is none (nothing happens then).

    Arrow's memory pool releases its unused pages first, wherever pyarrow is loaded."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True

"""Where a training run's memory goes, step by step and call by call (issue 11).

Usage::

    python bench/train_memory_probe.py DATA_DIR OUT_DIR [offers train options...]

e.g. ``python bench/train_memory_probe.py /work/data/synth_1m /tmp/probe --engine duckdb
--memory-limit 1GB --config tune_false.toml``. Runs ``offers train`` in this process with:

- a thread sampling the process's RSS (and of it the anonymous pages, which memory-mapped
  files are not) every 0.1 s under a label: the pipeline step, or
  ``step > call`` inside the library calls listed in :data:`CALLS` (a 10 s sampler from
  outside misses the spikes); the peak per label is printed at exit;
- after each step, a ``MEMPROBE`` line: the RSS, the sizes of the run's big objects
  (frames, arrays, fitted models, over 20 MB), glibc's heap in use and free
  (``mallinfo2``), the numpy arrays over 1 MB reachable from Python objects, DuckDB's
  own buffers (``duckdb_memory()``), Arrow's pool, and what releasing Arrow's unused
  pages gave back.

Two environment variables narrow a probe: ``PROBE_CALLS`` (comma-separated dotted names)
labels more calls (patch the name where the caller looks it up: a module that did
``from x import f`` holds its own ``f``; ``pkg.mod.Class.method`` labels a method), and
``PROBE_STOP_AFTER`` (a step's name) ends the run after that step, e.g.
``PROBE_STOP_AFTER=features`` to study the features step alone.

The object scans cost a few CPU seconds per step at 1M members: compare peaks, not times.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import gc
import importlib
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Library calls sampled under their own label (module attribute, looked up at call time).
CALLS = (
    "training.member_scoring.lifecycle_columns", "training.member_scoring.reference_response",
    "training.member_table.member_lists", "training.report.render.monthly_kpis",
    "training.uplift_step.fit_uplift", "training.uplift_step.engine_member_uplift",
    "training.uplift_step.member_uplift", "training.pipeline._save",
    "training.artifacts.schema.conform_members",
    # Inside the step "horizons" (its own peak, bench/RESULTS.md issue 11).
    "training.horizon_step.draw_buyers", "training.horizon_step.fit_purchase_cycle",
    "training.horizon_step.engine_purchase_summary", "training.horizon_step.prefetch_features",
    "training.horizon_step.make_engine_windows", "training.horizon_step._fit_models",
    "training.horizon_step.predict_at_horizon",
    "models.lifecycle.engine_windows.window_outcomes",
    "models.lifecycle.engine_windows.member_features_at",
)

PHASE = ["start"]
PEAKS: dict[str, int] = {}
ANON_PEAKS: dict[str, int] = {}


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def rss_mib(field: str = "VmRSS") -> int:
    """The process's ``field`` of ``/proc/self/status`` in MiB: ``VmRSS`` (every resident
    page) or ``RssAnon`` (the anonymous ones: what the kernel cannot drop or read back
    from a file when memory runs short; memory-mapped files are in VmRSS, not here)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return 0


def _sample() -> None:
    while True:
        label = PHASE[-1]
        PEAKS[label] = max(PEAKS.get(label, 0), rss_mib())
        ANON_PEAKS[label] = max(ANON_PEAKS.get(label, 0), rss_mib("RssAnon"))
        time.sleep(0.1)


def _owner(dotted: str):
    """The module, or a module's class (``pkg.mod.Class``), ``dotted`` names."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module_name, cls = dotted.rsplit(".", 1)
        return getattr(importlib.import_module(module_name), cls)


def _label(dotted: str) -> None:
    owner_name, attr = dotted.rsplit(".", 1)
    module = _owner(owner_name)
    if not hasattr(module, attr):
        print(f"MEMPROBE: no {dotted} in this version", flush=True)
        return
    call = getattr(module, attr)

    @functools.wraps(call)
    def labelled(*args, **kwargs):
        PHASE.append(PHASE[-1] + " > " + attr)  # nested calls: the whole path
        try:
            return call(*args, **kwargs)
        finally:
            PHASE.pop()

    setattr(module, attr, labelled)


def _size(obj, depth: int = 0, seen: set | None = None) -> int:
    """Bytes held by ``obj``'s frames and arrays, a few levels into its attributes."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 3:
        return 0
    seen.add(id(obj))
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        used = obj.memory_usage(deep=True)
        return int(used.sum() if isinstance(obj, pd.DataFrame) else used)
    if isinstance(obj, np.ndarray):
        return obj.nbytes if obj.base is None else 0
    if sp.issparse(obj):
        return sum(getattr(obj, a).nbytes for a in ("data", "indices", "indptr")
                   if hasattr(obj, a))
    if isinstance(obj, dict):
        return sum(_size(v, depth + 1, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        if len(obj) > 1000:
            return sys.getsizeof(obj) + 60 * len(obj)  # a rough figure for long lists
        return sum(_size(v, depth + 1, seen) for v in obj)
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return sum(_size(v, depth + 1, seen) for v in vars(obj).values())
    return 0


def _heap() -> dict:
    info = ctypes.CDLL("libc.so.6")
    info.mallinfo2.restype = _MallInfo2
    m = info.mallinfo2()
    arrays = {}
    for obj in gc.get_objects():
        for ref in gc.get_referents(obj):
            if type(ref) is np.ndarray and ref.base is None and ref.nbytes > 1e6:
                arrays[id(ref)] = ref.nbytes
    return {"glibc_inuse": round((m.uordblks + m.hblkhd) / 2**20),
            "glibc_free": round(m.fordblks / 2**20),
            "np_arrays_1mb+": round(sum(arrays.values()) / 2**20)}


def _parts(run) -> dict:
    parts = {k: round(s / 2**20) for k, v in vars(run).items() if (s := _size(v)) > 20e6}
    try:
        con = run.engine_tables.con.con
        used = con.sql("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
        parts["duckdb_mem"] = round((used or 0) / 2**20)
    except AttributeError:
        pass  # pandas engine, or Spark
    parts.update(_heap())
    import pyarrow as pa

    parts["arrow_alloc"] = round(pa.total_allocated_bytes() / 2**20)
    before = rss_mib()
    pa.default_memory_pool().release_unused()
    parts["arrow_release_freed"] = before - rss_mib()
    return parts


def main() -> None:
    import training.pipeline as pipeline
    import training.progress as progress
    from offers.cli import main as offers

    runs = {}

    class ProbedRun(pipeline.TrainingRun):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            runs["run"] = self

    pipeline.TrainingRun = ProbedRun
    step = progress.StepTimer.step

    @contextmanager
    def probed_step(self, name):
        PHASE.append(name)
        with step(self, name):
            yield
        PHASE.pop()
        gc.collect()
        parts = _parts(runs["run"]) if "run" in runs else {}
        print(f"MEMPROBE after {name}: rss {rss_mib()} MiB peak {PEAKS.get(name)} "
              f"parts {parts}", flush=True)
        if name == os.environ.get("PROBE_STOP_AFTER"):
            sys.exit(0)  # the atexit hook prints the peaks

    progress.StepTimer.step = probed_step
    extra = [c.strip() for c in os.environ.get("PROBE_CALLS", "").split(",") if c.strip()]
    for dotted in (*CALLS, *extra):
        _label(dotted)
    threading.Thread(target=_sample, daemon=True).start()
    atexit.register(lambda: print("MEMPROBE peaks (RSS, anonymous):\n" + "\n".join(
        f"  {label:60s} {peak:>7} MiB {ANON_PEAKS.get(label, 0):>7} MiB"
        for label, peak in PEAKS.items() if label != "start"), flush=True))
    sys.argv = ["offers", "train", sys.argv[1], "--out", sys.argv[2], *sys.argv[3:]]
    offers()


if __name__ == "__main__":
    main()

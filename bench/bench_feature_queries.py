"""The DuckDB train's "load and validate" and "features" steps, query by query (issue 11).

Usage::

    python bench/bench_feature_queries.py DATA_DIR [--memory-limit 1GB] [--repeat 3]

Each repeat is a fresh process that runs what ``offers train --engine duckdb``
runs in those two steps (:func:`training.engines.load_for_engine`, the line
span, the applicability checks, :func:`training.engines.engine_features`) and
prints, per part, the wall seconds and the peak resident set size seen while it
ran (sampled from /proc every 10 ms), and the process's CPU seconds (user and
system, every thread): on a machine other jobs load, CPU seconds compare
changes better than wall seconds. The parts of the features step are the
engine queries (each fetch or temporary table of :mod:`features.relational`,
labelled by the function that asked for it), so the slow ones show. With
``--repeat`` above 1 the median seconds (and the largest peak) are printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from rss import PeakRSS  # noqa: E402  (bench/, this script's folder)
from worker import run_json  # noqa: E402  (bench/, this script's folder)

PARTS: dict[str, list] = defaultdict(list)  # label -> [(seconds, peak MiB, CPU s)] per call
SAMPLER: PeakRSS | None = None


def cpu_seconds() -> float:
    """User and system CPU seconds of this process, all threads (DuckDB's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def part(label: str):
    SAMPLER.reset()
    start, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield
    finally:
        PARTS[label].append((time.perf_counter() - start, SAMPLER.reset(), cpu_seconds() - cpu))


def timed(module, name: str):
    """Wrap ``module.name`` so that each call is a part labelled by its caller."""
    inner = getattr(module, name)

    def wrapper(*args, **kwargs):
        caller = sys._getframe(1)
        label = f"{Path(caller.f_code.co_filename).stem}.{caller.f_code.co_name}:" \
                f"{caller.f_lineno} {name}"
        with part(label):
            return inner(*args, **kwargs)

    setattr(module, name, wrapper)


def worker(data: str, memory_limit: str | None) -> dict:
    global SAMPLER
    from threadpoolctl import threadpool_limits

    import features.relational as relational
    import features.relational.events as events
    import features.relational.frames as frames
    import features.relational.items as items
    import features.relational.loading as loading
    import features.relational.pairs as pairs
    import features.relational.purchases as purchases
    from training import applicability
    from training.config import load_config
    from training.engines import engine_features, line_span, load_for_engine
    from training.pipeline import resolve_as_of

    for module in (purchases, items, pairs):
        for name in ("to_frame", "to_scalar", "materialize"):
            if hasattr(module, name):
                timed(module, name)
    timed(events, "offer_counts")
    timed(relational, "load_relational")
    timed(frames, "events_frame")
    for name in ("check_transactions", "check_events", "events_view", "members_in_order",
                 "structure_problems", "read_table_file", "parse_table"):
        timed(loading, name)
    SAMPLER = PeakRSS()
    SAMPLER.start()
    config = load_config()
    total = time.perf_counter()
    with part("load: load_for_engine"):
        dataset, tables = load_for_engine("duckdb", data, memory_limit=memory_limit)
    with part("load: line_span + skip_reasons"):
        span = line_span(tables.lines)
        as_of = resolve_as_of(span, None)
        applicability.skip_reasons(dataset, as_of, config, lines=tables.lines)
    load_s = time.perf_counter() - total
    start = time.perf_counter()
    with threadpool_limits(1), part("features: total"):
        members, item_frame = engine_features(tables, as_of, config["features"])
    features_s = time.perf_counter() - start
    tables.close()
    return {"parts": {k: v for k, v in PARTS.items()}, "load_s": load_s,
            "features_s": features_s, "members": len(members), "items": len(item_frame),
            "peak": max(p for v in PARTS.values() for _, p, _ in v)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data, args.memory_limit)))
        return
    runs = []
    for _ in range(args.repeat):
        cmd = [sys.executable, __file__, "--worker", args.data]
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        runs.append(run_json(cmd))
    print(f"{args.data}  memory limit {args.memory_limit or 'DuckDB default'}  "
          f"{len(runs)} run(s): median wall and CPU seconds, largest peak RSS")
    for label in runs[0]["parts"]:
        calls = len(runs[0]["parts"][label])
        seconds = statistics.median(sum(s for s, _, _ in r["parts"][label]) for r in runs)
        cpu = statistics.median(sum(c for _, _, c in r["parts"][label]) for r in runs)
        peak = max(p for r in runs for _, p, _ in r["parts"][label])
        print(f"  {label:<58} x{calls:<2} {seconds:7.1f} s {cpu:7.1f} cpu-s {peak:7,.0f} MiB")
    for key in ("load_s", "features_s"):
        print(f"  {key:<62} {statistics.median(r[key] for r in runs):8.1f} s")
    print(f"  peak RSS {max(r['peak'] for r in runs):,.0f} MiB; "
          f"{runs[0]['members']} members, {runs[0]['items']} items")


if __name__ == "__main__":
    main()

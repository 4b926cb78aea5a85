"""The engine's per-member purchase features at several cutoffs on DuckDB (issue 11).

Usage::

    python bench/bench_spend_mix_cutoffs.py DATA_DIR [LABEL] [--calls 6]

Loads ``DATA_DIR`` on DuckDB as ``offers train --engine duckdb`` does, warms up with one
:func:`features.relational.purchases.purchase_aggregates` call, then calls it ``--calls``
times at the last cutoff and 30 / 60 days before (as the windows and horizons steps do) and
prints the median process CPU seconds (DuckDB's threads included) and wall seconds per call.
Run it from two checkouts (``PYTHONPATH``) alternately to compare before / after.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("label", nargs="?", default="")
    parser.add_argument("--calls", type=int, default=6)
    args = parser.parse_args()
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from features.relational import purchases
    from training.engines import line_span, load_for_engine
    from training.pipeline import resolve_as_of

    _, tables = load_for_engine("duckdb", args.data)
    as_of = resolve_as_of(line_span(tables.lines), None)
    items = tables.small["items"]
    purchases.purchase_aggregates(tables.lines, items, as_of)  # warm-up
    cpu, wall = [], []
    with threadpool_limits(1):
        for k in range(args.calls):
            c, t = cpu_seconds(), time.perf_counter()
            cutoff = as_of - pd.Timedelta(days=30 * (k % 3))
            purchases.purchase_aggregates(tables.lines, items, cutoff)
            cpu.append(cpu_seconds() - c)
            wall.append(time.perf_counter() - t)
    tables.close()
    print(f"{args.label} {purchases.__file__}: median per call "
          f"{statistics.median(cpu):.3f} CPU s, {statistics.median(wall):.3f} s wall")


if __name__ == "__main__":
    main()

"""Program KPIs on DuckDB: seconds and peak RSS of :func:`features.relational.program_kpis`.

Loads DATA_DIR with :func:`features.relational.load_relational` under ``--memory-limit`` (as
``offers train --engine duckdb`` does), then times the monthly KPIs (the report's "Retention by
month") ``--repeat`` times in one process, and prints the median. To compare two commits, run it
from each checkout, alternating::

    python bench/bench_kpis_engine.py /work/data/synth_200k --memory-limit 1GB --repeat 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from features.relational import connect, load_relational, program_kpis

    con = connect(memory_limit=args.memory_limit)
    start = time.perf_counter()
    data = load_relational(con, args.data_dir)
    print(f"load: {time.perf_counter() - start:.1f} s")
    seconds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        table = program_kpis(data.transactions, data.members, data.offer_events, "month")
        seconds.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"kpis: median {statistics.median(seconds):.1f} s of {[round(s, 1) for s in seconds]}; "
          f"{len(table)} periods; peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()

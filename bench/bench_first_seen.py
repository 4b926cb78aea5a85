"""The recommendations step's id queries on DuckDB: two distinct queries, or one grouping.

Usage::

    python bench/bench_first_seen.py DATA_DIR [--memory-limit 1GB] [--repeat 3]

Opens the data on DuckDB as ``offers train --engine duckdb`` does, then, alternating
``--repeat`` times, answers the two questions the step asks of every line:

- ``two queries`` (before): every member id (``SELECT DISTINCT member_id``, sorted in
  numpy: the tuning's member sample), then the member and item ids of the lines before
  the cutoff (``_distinct_ids``: the final fit's interactions);
- ``one grouping`` (after): :meth:`EngineLines._first_seen` (per id the time of its
  first line), the ids before the cutoff filtered from it.

Prints wall and process CPU seconds (DuckDB's threads included) of each, their medians,
and checks both give the same ids.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import numpy as np

    from features.relational.portable import to_arrow
    from models.recommenders import EngineLines
    from models.recommenders.engine_interactions import _distinct_ids, _strings, _us
    from training.engines import line_span, load_for_engine
    from training.pipeline import resolve_as_of

    _, tables = load_for_engine("duckdb", args.data_dir, memory_limit=args.memory_limit)
    as_of = resolve_as_of(line_span(tables.lines), None)
    t = tables.lines

    def two_queries():
        every = np.unique(_strings(to_arrow(t.select("member_id").distinct())[0]))
        return every, _distinct_ids(t.filter(t.ts_us < _us(as_of)))

    def one_grouping():
        lines = EngineLines(t)
        every = lines.member_ids()
        before = _us(as_of)
        return every, tuple(ids[first < before] for ids, first in lines._first_seen())

    times: dict = {"two queries": [], "one grouping": []}
    answers = {}
    for _ in range(args.repeat):
        for name, run in (("two queries", two_queries), ("one grouping", one_grouping)):
            wall, cpu = time.perf_counter(), time.process_time()
            answers[name] = run()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            print(f"{name}: {times[name][-1][0]:.2f} s wall, {times[name][-1][1]:.2f} s CPU",
                  flush=True)
    (a_every, (a_m, a_i)), (b_every, (b_m, b_i)) = answers["two queries"], answers["one grouping"]
    same = all(np.array_equal(x, y) for x, y in ((a_every, b_every), (a_m, b_m), (a_i, b_i)))
    print(f"same ids: {same} ({len(a_every):,} members, {len(a_m):,} before the cutoff, "
          f"{len(a_i):,} items)")
    for name, runs in times.items():
        print(f"median {name}: {statistics.median(w for w, _ in runs):.2f} s wall, "
              f"{statistics.median(c for _, c in runs):.2f} s CPU")
    tables.close()
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()

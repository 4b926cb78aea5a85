"""The recommenders' pairs query on DuckDB, one query vs member-row ranges (issue 11).

Usage::

    python bench/bench_engine_pairs.py DATA_DIR [--memory-limit 1GB]
        [--lines-per-query 0 8000000 ...]

Per value of ``--lines-per-query`` (0: one query, the whole of the lines), a
fresh process opens the data on DuckDB as ``offers train --engine duckdb``
does, then builds the final fit's interactions (every line before ``as_of``,
the decayed counts of the untuned half-lives 30 and 90 days in the same
query) with :data:`models.recommenders.engine_interactions.LINES_PER_PAIRS_QUERY`
set to it, and prints the ranges, pairs, wall and CPU seconds of the build, the
RSS before it and its peak (sampled every 10 ms), and the bytes per pair
that the peak adds (to project to more members). The arrays of each setting
are checked equal to the first's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rss import PeakRSS, rss_mib  # noqa: E402  (bench/, this script's folder)
from worker import run_json  # noqa: E402  (bench/, this script's folder)


def worker(data: str, memory_limit: str, lines_per_query: int) -> dict:
    import numpy as np

    from models.recommenders import EngineLines, engine_interactions
    from training.engines import line_span, load_for_engine
    from training.pipeline import resolve_as_of

    dataset, tables = load_for_engine("duckdb", data, memory_limit=memory_limit)
    as_of = resolve_as_of(line_span(tables.lines), None)
    if lines_per_query:
        engine_interactions.LINES_PER_PAIRS_QUERY = lines_per_query
    else:
        engine_interactions.LINES_PER_PAIRS_QUERY = 1 << 62
    before = rss_mib()
    peak = PeakRSS()
    peak.start()
    wall, cpu = time.perf_counter(), time.process_time()
    im = EngineLines(tables.lines).interactions(as_of, half_lives=(30.0, 90.0))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    top = peak.stop()
    digest = hashlib.sha256()
    for array in (im.matrix.indptr, im.matrix.indices, im.matrix.data,
                  im.decayed_counts(30.0).data, *im.first_purchase_ages()):
        digest.update(np.ascontiguousarray(array).tobytes())
    n_lines = int(im.n_lines)
    ranges = engine_interactions.row_ranges(im.n_members, n_lines,
                                            engine_interactions.LINES_PER_PAIRS_QUERY)
    tables.close()
    return {"lines_per_query": lines_per_query, "ranges": len(ranges), "pairs": int(im.n_pairs),
            "lines": n_lines, "members": int(im.n_members), "wall_s": wall, "cpu_s": cpu,
            "rss_before_mib": before, "peak_mib": top, "sha256": digest.hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a data directory (offers import / synth)")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory limit (1GB)")
    parser.add_argument("--lines-per-query", type=int, nargs="+", default=[0, 8_000_000],
                        help="settings to compare (0: one query)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(str(args.data), args.memory_limit, args.worker)))
        return
    first = None
    print(f"{'lines/query':>12} {'ranges':>6} {'pairs':>11} {'wall s':>7} {'CPU s':>7} "
          f"{'RSS before':>10} {'peak MiB':>9} {'B/pair':>7} same")
    for setting in args.lines_per_query:
        cmd = [sys.executable, __file__, str(args.data), "--memory-limit", args.memory_limit,
               "--worker", str(setting)]
        r = run_json(cmd)
        first = first or r
        added = (r["peak_mib"] - r["rss_before_mib"]) * 2**20 / r["pairs"]
        print(f"{setting or 'one':>12} {r['ranges']:>6} {r['pairs']:>11,} {r['wall_s']:>7.1f} "
              f"{r['cpu_s']:>7.1f} {r['rss_before_mib']:>10,.0f} {r['peak_mib']:>9,.0f} "
              f"{added:>7.1f} {r['sha256'] == first['sha256']}")


if __name__ == "__main__":
    main()

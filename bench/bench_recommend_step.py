"""The training run's "recommendations" step alone on DuckDB, per sub-part (issue 11).

Usage::

    python bench/bench_recommend_step.py DATA_DIR [--memory-limit 1GB] [--tuned]
        [--als-members N] [--repeat 1] [--json OUT.json]

Each run is a fresh process that opens the data on DuckDB as ``offers train
--engine duckdb`` does (:func:`training.engines.load_for_engine`), then runs
only the pipeline's ``_recommendations`` (``recommend.tune = false`` unless
``--tuned``; ``recommend.als_members`` from ``--als-members``, 0 for every
member; the default configuration otherwise). The member and item feature
steps are not run: the RSS before the step is the loaded data's.

Printed per sub-part (nested parts indented; a part called several times is
summed): calls, wall seconds, CPU seconds of the process (all its threads; on
a shared machine the honest measure of work), the RSS when it started and the
peak RSS during it (sampled every 5 ms, so short spikes may be missed). The sub-parts are the
library functions the step calls, wrapped here without changing them:
interactions on the engine (validation split and final fit), holdout truths,
each component's fit (ALS, buy again, popularity, first-purchase and category
popularity), the new-to-you weight grid, the metrics table and the top
categories of every member. ``--repeat N`` runs N processes and prints the
medians; the process's peak RSS (``ru_maxrss``) and the blend's NDCG@10 (to check
quality) end each run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import resource
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from engine_run import open_run  # noqa: E402  (bench/, this script's folder)
from rss import rss_mib  # noqa: E402  (bench/, this script's folder)
from worker import run_json  # noqa: E402  (bench/, this script's folder)


def traced_mib() -> float:
    """Memory Python allocated and still holds (numpy and scipy arrays included;
    DuckDB's and Arrow's own buffers not), while ``tracemalloc`` traces."""
    return tracemalloc.get_traced_memory()[0] / 2**20


class Tracer(threading.Thread):
    """Per named part: calls, seconds, RSS at start and peak RSS while it ran (nested)."""

    def __init__(self, traced: bool = False):
        super().__init__(daemon=True)
        self.traced = traced  # also the peak of memory Python allocated (numpy, scipy)
        self.open: list[list] = []  # [name, start, rss at start, peak, traced peak]
        self.parts: dict[str, dict] = {}
        self.order: list[str] = []
        self.running = True
        self.lock = threading.Lock()

    def run(self):
        while self.running:
            self.sample()
            time.sleep(0.005)

    def sample(self) -> tuple[float, float]:
        now, traced = rss_mib(), traced_mib() if self.traced else 0.0
        with self.lock:
            for frame in self.open:
                frame[3] = max(frame[3], now)
                frame[4] = max(frame[4], traced)
        return now, traced

    @contextlib.contextmanager
    def part(self, name: str):
        now, traced = self.sample()
        depth = len(self.open)
        key = "  " * depth + name
        frame = [key, time.perf_counter(), now, now, traced, time.process_time()]
        with self.lock:
            self.open.append(frame)
        try:
            yield
        finally:
            self.sample()
            with self.lock:
                self.open.remove(frame)
                peak, traced_peak = frame[3], frame[4]
                for outer in self.open:
                    outer[3] = max(outer[3], peak)
                    outer[4] = max(outer[4], traced_peak)
            seconds = time.perf_counter() - frame[1]
            cpu = time.process_time() - frame[5]
            if key not in self.parts:
                self.order.append(key)
                self.parts[key] = {"calls": 0, "seconds": 0.0, "rss_start": frame[2],
                                   "peak": 0.0, "py_peak": 0.0, "cpu": 0.0}
            p = self.parts[key]
            p["calls"] += 1
            p["seconds"] += seconds
            p["cpu"] += cpu
            p["peak"] = max(p["peak"], peak)
            p["py_peak"] = max(p["py_peak"], traced_peak)

    def wrap(self, owner, attr: str, name: str) -> None:
        """Replace ``owner.attr`` (a function or method) by a traced one."""
        original = getattr(owner, attr)

        @functools.wraps(original)
        def traced(*args, **kwargs):
            with self.part(name):
                return original(*args, **kwargs)

        setattr(owner, attr, traced)


def instrument(tracer: Tracer) -> None:
    """Trace the library calls the recommendations step makes (modules patched in place)."""
    from implicit.cpu.als import AlternatingLeastSquares

    from models.recommenders import (
        als,
        buy_again,
        category_popularity,
        engine_interactions,
        first_purchase,
        interactions,
        metrics,
        new_to_you,
        popularity,
        tuning,
    )
    from training import pipeline

    tracer.wrap(pipeline, "tune_recommenders", "tune_recommenders (validation)")
    tracer.wrap(pipeline, "fit_tuned", "fit_tuned (final)")
    tracer.wrap(interactions.Interactions, "weighted", "weighted matrix")
    tracer.wrap(AlternatingLeastSquares, "fit", "implicit ALS iterations")
    tracer.wrap(tuning, "_member_sample", "member sample")
    tracer.wrap(engine_interactions.EngineLines, "interactions", "interactions on the engine")
    tracer.wrap(tuning, "holdout_truth", "holdout truths")
    tracer.wrap(interactions.Interactions, "decayed_counts", "decayed counts")
    tracer.wrap(engine_interactions, "to_arrow", "engine query to Arrow")
    tracer.wrap(interactions.Interactions, "purchased", "purchased matrix")
    tracer.wrap(als.ALSRecommender, "fit", "ALS fit")
    tracer.wrap(als, "fold_in_users", "ALS fold-in (every member)")
    tracer.wrap(buy_again.BuyAgainRecommender, "fit", "buy again fit")
    tracer.wrap(popularity.PopularityRecommender, "fit", "popularity fit")
    tracer.wrap(first_purchase.FirstPurchasePopularityRecommender, "fit",
                "first-purchase fit")
    tracer.wrap(category_popularity.CategoryPopularityRecommender, "fit",
                "category popularity fit")
    tracer.wrap(new_to_you, "weight_grid", "new-to-you weight grid")
    tracer.wrap(tuning, "tune_new_to_you", "tune_new_to_you")
    tracer.wrap(tuning, "metrics_table", "metrics table")
    tracer.wrap(metrics, "evaluate", "evaluate")
    tracer.wrap(pipeline, "item_categories", "item categories")
    tracer.wrap(pipeline, "recommend_categories", "top categories (every member)")


def worker(data: str, memory_limit: str | None, tuned: bool, traced: bool,
           als_members: int | None = None) -> dict:
    from threadpoolctl import threadpool_limits

    from training.config import load_config
    from training.pipeline import _recommendations

    recommend = {} if tuned else {"tune": False}
    if als_members is not None:
        recommend["als_members"] = als_members
    config = load_config(recommend=recommend)
    if traced:
        tracemalloc.start()
    tracer = Tracer(traced)
    tracer.start()
    with tracer.part("load (not the step)"):
        run = open_run(data, config, memory_limit=memory_limit)
    tables = run.engine_tables
    instrument(tracer)
    try:
        with threadpool_limits(1), tracer.part("recommendations step"):
            _recommendations(run)
    finally:
        tracer.running = False
        tables.close()
    rec = run.metrics["recommend"]
    return {
        "parts": [{"name": k, **tracer.parts[k]} for k in tracer.order],
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "members": int(run.recommender.n_members), "items": int(run.recommender.n_items),
        "validation_members": int(rec["validation_members"]),
        "final_als_members": int(rec["final_als_members"]),
        "blend_ndcg": rec["blend_ndcg@10"], "blend_ndcg_new": rec["blend_ndcg@10_new"],
        "blend_precision_new": rec["blend_precision@10_new"],
    }


def run_once(args) -> dict:
    cmd = [sys.executable, __file__, str(args.data), "--worker"]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    if args.tuned:
        cmd.append("--tuned")
    if args.als_members is not None:
        cmd += ["--als-members", str(args.als_members)]
    if args.tracemalloc:
        cmd.append("--tracemalloc")
    return run_json(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a data directory (offers import / synth)")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory limit (1GB)")
    parser.add_argument("--tuned", action="store_true", help="the default, tuned, grid")
    parser.add_argument("--als-members", type=int, default=None,
                        help="recommend.als_members: final ALS sweeps on a sample of this many "
                             "members, the rest folded in (0: all; default: the config's)")
    parser.add_argument("--repeat", type=int, default=1, help="processes to run (medians)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also the peak Python-allocated MiB per part (slower)")
    parser.add_argument("--json", type=Path, help="also write every run here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(str(args.data), args.memory_limit, args.tuned,
                                args.tracemalloc, args.als_members)))
        return
    runs = [run_once(args) for _ in range(args.repeat)]
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    first = runs[0]
    print(f"{args.data} ({first['members']:,} members x {first['items']:,} items; "
          f"validation on {first['validation_members']:,}; final ALS sweeps on "
          f"{first['final_als_members']:,}); {len(runs)} run(s), medians")
    print(f"{'part':<46} {'calls':>5} {'seconds':>8} {'CPU s':>7} {'RSS start':>9} "
          f"{'peak MiB':>9}"
          + (f" {'py peak':>8}" if args.tracemalloc else ""))
    for i, part in enumerate(first["parts"]):
        values = [r["parts"][i] for r in runs]
        print(f"{part['name']:<46} {part['calls']:>5} "
              f"{statistics.median(v['seconds'] for v in values):>8.1f} "
              f"{statistics.median(v['cpu'] for v in values):>7.1f} "
              f"{statistics.median(v['rss_start'] for v in values):>9.0f} "
              f"{statistics.median(v['peak'] for v in values):>9.0f}"
              + (f" {statistics.median(v['py_peak'] for v in values):>8.0f}"
                 if args.tracemalloc else ""))
    print(f"process peak RSS (ru_maxrss) {statistics.median(r['ru_maxrss_mib'] for r in runs):,.0f}"
          f" MiB; blend ndcg@10 {first['blend_ndcg']:.6f}, never bought "
          f"{first['blend_ndcg_new']:.6f}, precision@10 never bought "
          f"{first['blend_precision_new']:.6f}")


if __name__ == "__main__":
    main()

"""Time the pipeline's churn, value and offer-response steps on a data directory.

Usage::

    python bench/bench_model_steps.py DATA_DIR [--repeat 3] [--profile]

Loads DATA_DIR once (timed), builds the member features as ``offers train``
does, then runs ``training.pipeline._churn``, ``_value`` and
``_offer_response`` ``--repeat`` times. Prints, per step, the median wall and
CPU (``time.process_time``) seconds and the peak resident memory *above* what
the process held when the step started (sampled every 20 ms from
``/proc/self/statm``), and the quality metrics the pipeline records
(churn ROC-AUC / Brier vs the recency baseline, value Spearman vs the
past-spend baseline, offer-response ROC-AUC on the latest quarter of sends).
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.loading import load_dataset  # noqa: E402
from training import pipeline  # noqa: E402
from training.config import load_config  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


class PeakRss:
    """Context manager sampling the resident memory; ``extra_mb`` is peak minus start."""

    def __enter__(self):
        self.start = rss_mb()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())
        self.extra_mb = self.peak - self.start


def run_step(fn, run) -> tuple[float, float, float]:
    gc.collect()
    with PeakRss() as mem:
        wall, cpu = time.perf_counter(), time.process_time()
        fn(run)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, mem.extra_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", default="windows,churn,value,offer response")
    parser.add_argument("--profile", action="store_true", help="pyinstrument each step once")
    parser.add_argument("--max-members", type=int, default=None,
                        help="override make_windows' member sample size")
    parser.add_argument("--max-sends", type=int, default=None,
                        help="override fit_offer_response's send sample size")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.max_members is not None:
        pipeline.make_windows = functools.partial(pipeline.make_windows,
                                                  max_members=args.max_members)
    if args.max_sends is not None:
        pipeline.fit_offer_response = functools.partial(pipeline.fit_offer_response,
                                                        max_sends=args.max_sends)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    steps = {"windows": pipeline._windows, "churn": pipeline._churn, "value": pipeline._value,
             "offer response": pipeline._offer_response}
    chosen = [s.strip() for s in args.steps.split(",")]
    with PeakRss() as mem:
        wall, cpu = time.perf_counter(), time.process_time()
        dataset = load_dataset(args.data_dir)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"load and validate: wall {wall:.2f}s cpu {cpu:.2f}s, +{mem.extra_mb:.0f} MiB "
          f"(rss {rss_mb():.0f} MiB)")
    run = pipeline.TrainingRun(
        args.data_dir, pipeline.resolve_as_of(dataset.transactions, None), load_config(), dataset
    )
    times: dict[str, list] = {s: [] for s in chosen}
    with threadpool_limits(1):
        run_step(pipeline._features, run)
        for _ in range(args.repeat):
            for name in chosen:
                times[name].append(run_step(steps[name], run))
        if args.profile:
            from pyinstrument import Profiler

            for name in chosen:
                profiler = Profiler()
                profiler.start()
                steps[name](run)
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"\n{'step':16s} {'wall s':>8s} {'cpu s':>8s} {'+MiB':>8s}   (median of {args.repeat})")
    for name, rows in times.items():
        wall, cpu, extra = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{name:16s} {wall:8.2f} {cpu:8.2f} {extra:8.0f}")
    print(f"peak rss {rss_mb():.0f} MiB now")
    m = run.metrics
    if "churn" in m:
        c = m["churn"]
        print(f"churn: roc_auc {c['roc_auc']:.4f} brier {c['brier']:.4f} (baseline roc_auc "
              f"{c['baseline']['roc_auc']:.4f} brier {c['baseline']['brier']:.4f})")
    if "value" in m:
        v = m["value"]
        print(f"value: spearman {v['spearman']:.4f} (baseline {v['baseline']['spearman']:.4f})"
              f", mae {v['mae']:.3f}")
    if "offer response" in m or "offer_response" in m:
        print(f"offer response: {m['offer_response']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

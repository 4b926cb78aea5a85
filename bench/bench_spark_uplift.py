"""Every member's uplift on Spark: scored in the driver vs in partitions (mapInPandas).

Usage::

    python bench/bench_spark_uplift.py [--members 5000] [--repeats 3] [--master 'local[2]']

Generates a synthetic program of ``--members`` members (planted treatment effects),
fits the uplift step's models (x-learner, 60 rounds) on pandas, puts the lines on a
local Spark session and scores every member, alternating:
:func:`models.uplift.engine_member_uplift` (the sums from Spark's queries, the
shares, affinities and model calls in the driver) and
:func:`training.spark_uplift.spark_member_uplift` (the features cached on Spark,
everything per member on the executors). Prints per run the wall seconds, the CPU
seconds of the whole process tree (driver, JVM, Python workers) and the driver's
RSS growth over the call (sampled every 20 ms), the medians, and whether the two
answers agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spark_scoring import tree_cpu  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakRSS:
    """The driver's highest RSS while the ``with`` block runs (MiB above its start)."""

    def __enter__(self):
        self.start = self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())
        self.growth = self.peak - self.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from features.loading import load_dataset
    from features.member_features import build_member_features
    from features.relational import connect_spark
    from models.offer_response import offer_specs_from_events
    from models.uplift import engine_member_uplift, fit_uplift
    from training.engines import open_engine
    from training.pipeline import resolve_as_of
    from training.spark_members import SparkMembers
    from training.spark_uplift import spark_member_uplift
    from training.synth.generate import generate
    from training.uplift_step import LEARNER, MAX_ITER, WINDOW_DAYS

    root = Path(tempfile.mkdtemp(prefix="bench-spark-uplift-"))
    dataset = load_dataset(generate(root / "data", args.members, seed=11))
    as_of = resolve_as_of(dataset.transactions, None)
    offers = offer_specs_from_events(dataset)
    with threadpool_limits(1):
        fit = fit_uplift(dataset, as_of, offers, learner=LEARNER, window_days=WINDOW_DAYS,
                         max_iter=MAX_ITER, random_state=0, keep_row_features=False)
    mf = build_member_features(dataset, as_of)
    connect_spark(args.master)
    tables = open_engine("spark", dataset, spark_master=args.master)
    con = tables.con
    members = SparkMembers.from_frame(con, mf, staging_dir=root)
    me = os.getpid()
    times: dict[str, list[tuple[float, float, float]]] = {"driver": [], "partitions": []}
    found = {}
    with threadpool_limits(1):
        for i in range(args.repeats):
            for kind in ("driver", "partitions"):
                cpu0, t0 = tree_cpu(me), time.perf_counter()
                with PeakRSS() as peak:
                    if kind == "driver":
                        got = engine_member_uplift(fit, tables.lines, tables.small, offers,
                                                   as_of, mf.index, base=mf,
                                                   base_trend_days=90)
                    else:
                        got = spark_member_uplift(con, fit, tables.lines, tables.small,
                                                  offers, as_of, members, base_trend_days=90)
                wall, cpu = time.perf_counter() - t0, tree_cpu(me) - cpu0
                times[kind].append((wall, cpu, peak.growth))
                found[kind] = got
                print(f"run {i + 1} {kind}: wall {wall:.1f} s, CPU {cpu:.1f} s, driver RSS "
                      f"+{peak.growth:.0f} MiB", flush=True)
    want, got = found["driver"], found["partitions"]
    same = np.allclose(got["uplift_spend"], want["uplift_spend"], rtol=1e-9, atol=1e-12)
    print(f"\n{len(mf):,} members x {len(want) // len(mf)} offer types, "
          f"load {os.getloadavg()[0]:.1f}; answers agree: {same}")
    for kind, rows in times.items():
        print(f"{kind}: median wall {statistics.median(r[0] for r in rows):.1f} s, "
              f"median CPU {statistics.median(r[1] for r in rows):.1f} s, "
              f"median driver RSS growth {statistics.median(r[2] for r in rows):.0f} MiB")
    members.release()
    tables.close()
    con.disconnect()


if __name__ == "__main__":
    main()

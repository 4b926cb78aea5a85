"""Per step of ``offers train --engine duckdb``: wall and CPU seconds and the step's own peak RSS.

Usage::

    python bench/bench_engine_train.py DATA_DIR [--engine duckdb] [--memory-limit 1GB]
        [--config FILE] [--repeat 1] [--json FILE] [--load-only]

Each training runs in a fresh process (:mod:`bench.worker`). Unlike
``bench_train.py`` (whose peak is the process's peak *so far* at each step's
end), the peak here is each step's own: the resident set is sampled every
10 ms (:class:`bench.rss.PeakRSS`) and reset when a step starts. CPU seconds
are the process's user + system time over the step (DuckDB's threads
included), the number to compare on a machine shared with other work, where
wall seconds depend on the load. Prints a markdown table (medians over
repeats; the largest peak).

Imports: the standard library, :mod:`training` in the child.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker import run_json  # noqa: E402

CHILD = """
import contextlib, json, sys
sys.path.insert(0, sys.argv[6])
from rss import PeakRSS
from training import progress
from training.config import load_config
from training.pipeline import train

peak = PeakRSS()
peak.start()
step = progress.StepTimer.step

@contextlib.contextmanager
def measured(self, name):
    peak.reset()
    with step(self, name):
        yield
    self.peak_rss_mb[name] = round(peak.reset())  # the step's own peak, not the one so far

progress.StepTimer.step = measured
config = load_config(sys.argv[3] if sys.argv[3] != "-" else None)
limit = sys.argv[5] if sys.argv[5] != "-" else None
version, run = train(sys.argv[1], sys.argv[2], config=config, engine=sys.argv[4],
                     memory_limit=limit)
print(json.dumps({"seconds": run.seconds, "cpu_seconds": run.cpu_seconds,
                  "step_peak_rss_mb": run.peak_rss_mb}))
"""


LOAD_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[4])
from rss import PeakRSS
from training.engines import load_for_engine
from training.progress import process_cpu_seconds as cpu

peak = PeakRSS()
peak.start()
start, cpu0 = time.perf_counter(), cpu()
limit = sys.argv[3] if sys.argv[3] != "-" else None
data, tables = load_for_engine(sys.argv[2], sys.argv[1], memory_limit=limit)
wall, used = time.perf_counter() - start, cpu() - cpu0
tables.close()
print(json.dumps({"seconds": round(wall, 2), "cpu_seconds": round(used, 2),
                  "peak_rss_mb": round(peak.stop())}))
"""


def load_once(data_dir: str, engine: str, memory_limit: str) -> dict:
    """The step "load and validate" alone, in a fresh process (the peak includes the
    imports' memory, the CPU seconds do not)."""
    return run_json([sys.executable, "-c", LOAD_CHILD, data_dir, engine, memory_limit,
                     str(Path(__file__).resolve().parent)])


def train_once(data_dir: str, config: str, engine: str, memory_limit: str) -> dict:
    """One training in a fresh process into a throw-away artifacts directory."""
    with tempfile.TemporaryDirectory(prefix="bench-engine-train-") as out:
        return run_json([sys.executable, "-c", CHILD, data_dir, out, config, engine,
                         memory_limit, str(Path(__file__).resolve().parent)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--memory-limit", default="-")
    parser.add_argument("--config", default="-")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", default=None, help="Also write every run to this file.")
    parser.add_argument("--load-only", action="store_true",
                        help="Run the step 'load and validate' only (fast; the step the "
                             "offer events' frame used to grow).")
    args = parser.parse_args()
    if args.load_only:
        loads = [load_once(args.data_dir, args.engine, args.memory_limit)
                 for _ in range(args.repeat)]
        print(json.dumps(loads))
        return
    runs = []
    for i in range(args.repeat):
        runs.append(train_once(args.data_dir, args.config, args.engine, args.memory_limit))
        print(f"run {i + 1}: {sum(runs[-1]['seconds'].values()):.1f} s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    steps = list(runs[0]["seconds"])
    print("| step | wall s | CPU s | step peak RSS MiB |\n|---|---:|---:|---:|")
    for name in steps:
        wall = statistics.median(r["seconds"][name] for r in runs)
        cpu = statistics.median(r["cpu_seconds"][name] for r in runs)
        rss = max(r["step_peak_rss_mb"][name] for r in runs)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {rss} |")
    wall = statistics.median(sum(r["seconds"].values()) for r in runs)
    cpu = statistics.median(sum(r["cpu_seconds"].values()) for r in runs)
    peak = max(max(r["step_peak_rss_mb"].values()) for r in runs)
    print(f"| total | {wall:.1f} | {cpu:.1f} | {peak} |")


if __name__ == "__main__":
    main()

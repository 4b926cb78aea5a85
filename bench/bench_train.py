"""Time `offers train` per step and record the peak memory, on any data directory.

Usage::

    python bench/bench_train.py data/completejourney [--repeat 3] [--config FILE]
    python bench/bench_train.py data/completejourney --retrain [--repeat 3] [--keep DIR]
    python bench/bench_train.py data/completejourney --retrain --engine duckdb

Each training runs in a fresh process, so memory peaks do not carry over.

Without ``--retrain``, each repeat trains a first version into an empty
temporary artifacts directory (removed afterwards): the recommender grid
search runs every time. With ``--retrain``, one first training is followed by
``--repeat`` retrains into the same artifacts directory, each with the
previous version present, as a scheduled retrain runs (it reuses the previous
version's tuned recommender parameters unless ``recommend.reuse_tuned`` is
false); the table shows the first training beside the retrains' medians.
``--keep DIR`` leaves the trained artifacts in DIR; a DIR that already holds
a version is retrained without a first training (to compare code versions on
the same previous version: run this script from each checkout). Prints a markdown table:
the median wall and process CPU seconds per step and the peak resident memory
reached by the end of each step (the largest over repeats); the total row is the
training's own wall and CPU seconds (on pandas the recommendations step runs
beside the member steps, so the steps' seconds add up to more, and an overlapped
step's CPU is its own thread's); ``--json`` also
writes the runs. ``--engine`` trains on that engine (default pandas).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys, time
import training.pipeline as pipeline
from training.config import load_config
from training.progress import process_cpu_seconds

config = load_config(sys.argv[3] if sys.argv[3] != "-" else None)
start, cpu = time.perf_counter(), process_cpu_seconds()
version, run = pipeline.train(sys.argv[1], sys.argv[2], config=config, engine=sys.argv[4])
print(json.dumps({"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb,
                  "step_cpu_seconds": run.cpu_seconds, "cpu_seconds": process_cpu_seconds(),
                  "wall": time.perf_counter() - start,
                  "train_cpu": process_cpu_seconds() - cpu}))
"""


def train_once(data_dir: str, out: str, config: str, engine: str) -> dict:
    """One training in a fresh process; its seconds, CPU seconds and peak RSS per step."""
    done = subprocess.run([sys.executable, "-c", CHILD, data_dir, out, config, engine],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_total(run: dict) -> float:
    """CPU seconds of the training (user + system of every thread; before the "wall" field,
    the steps' sum)."""
    return run["train_cpu"] if "train_cpu" in run else sum(run["step_cpu_seconds"].values())


def total(run: dict) -> float:
    """Wall seconds of the training (``pipeline.train``); steps on two threads overlap, so
    this is less than their sum (runs recorded before the "wall" field: the sum)."""
    return run["wall"] if "wall" in run else sum(run["seconds"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--config", default="-")
    parser.add_argument("--engine", default="pandas", choices=("pandas", "duckdb", "spark"),
                        help="The training engine (offers train --engine).")
    parser.add_argument("--retrain", action="store_true",
                        help="Time retrains with a previous version present (see above).")
    parser.add_argument("--keep", default=None,
                        help="With --retrain: train into this artifacts directory and keep it.")
    parser.add_argument("--json", default=None, help="Also write every run to this file.")
    args = parser.parse_args()
    if args.keep and not args.retrain:
        parser.error("--keep needs --retrain (first trainings go to throw-away directories)")
    name = Path(args.data_dir).name
    if args.retrain:
        out = args.keep or tempfile.mkdtemp(prefix="bench-train-")
        try:
            first = None
            if (Path(out) / "current").exists():  # --keep DIR holds a version: retrains only
                print(f"first training: skipped, {out} holds a version", file=sys.stderr)
            else:
                first = train_once(args.data_dir, out, args.config, args.engine)
                print(f"first training: {total(first):.1f} s", file=sys.stderr)
            runs = []
            for i in range(args.repeat):
                runs.append(train_once(args.data_dir, out, args.config, args.engine))
                print(f"retrain {i + 1}: {total(runs[-1]):.1f} s", file=sys.stderr)
        finally:
            if args.keep is None:
                shutil.rmtree(out, ignore_errors=True)
        print(f"| step ({name}, {args.engine}) | first training s | retrain s (median of "
              f"{len(runs)}) | retrain CPU s | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|")
        every = [r for r in (first, *runs) if r is not None]
        for step in runs[0]["seconds"]:
            sec = statistics.median(r["seconds"][step] for r in runs)
            cpu = statistics.median(r["step_cpu_seconds"][step] for r in runs)
            rss = max(r["peak_rss_mb"][step] for r in every)
            before = "-" if first is None else f"{first['seconds'][step]:.2f}"
            print(f"| {step} | {before} | {sec:.2f} | {cpu:.2f} | {rss:.0f} |")
        peak = max(max(r["peak_rss_mb"].values()) for r in every)
        print(f"| **total** | **{'-' if first is None else f'{total(first):.2f}'}** | "
              f"**{statistics.median(total(r) for r in runs):.2f}** | "
              f"**{statistics.median(cpu_total(r) for r in runs):.2f}** | **{peak:.0f}** |")
        cpu = ", ".join(f"{r['cpu_seconds']:.1f}" for r in runs)
        print(f"\nRetrains: {', '.join(f'{total(r):.1f}' for r in runs)} s; "
              f"process CPU {cpu} s.")
        record = {"first": first, "retrains": runs}
    else:
        runs = []
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory() as out:
                runs.append(train_once(args.data_dir, out, args.config, args.engine))
            print(f"run {i + 1}: {total(runs[-1]):.1f} s", file=sys.stderr)
        print(f"| step ({name}, {args.engine}, median of {len(runs)}) | seconds | CPU s "
              "| peak RSS MiB |")
        print("|---|---:|---:|---:|")
        for step in runs[0]["seconds"]:
            sec = statistics.median(r["seconds"][step] for r in runs)
            cpu = statistics.median(r["step_cpu_seconds"][step] for r in runs)
            rss = max(r["peak_rss_mb"][step] for r in runs)
            print(f"| {step} | {sec:.2f} | {cpu:.2f} | {rss:.0f} |")
        peak = max(max(r["peak_rss_mb"].values()) for r in runs)
        print(f"| **total** | **{statistics.median(total(r) for r in runs):.2f}** | "
              f"**{statistics.median(cpu_total(r) for r in runs):.2f}** | **{peak:.0f}** |")
        record = {"runs": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()

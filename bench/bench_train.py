"""Time `offers train` per step and record the peak memory, on any data directory.

Usage::

    python bench/bench_train.py data/completejourney [--repeat 3] [--config FILE]

Each repeat trains a new version into a temporary artifacts directory (removed
afterwards) in a fresh process, so memory peaks do not carry over. Prints a
markdown table: the median seconds per step over the repeats and the peak
resident memory reached by the end of each step (the largest over repeats).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys
from training.config import load_config
from training.pipeline import train
config = load_config(sys.argv[3] if sys.argv[3] != "-" else None)
version, run = train(sys.argv[1], sys.argv[2], config=config)
print(json.dumps({"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--config", default="-")
    args = parser.parse_args()
    runs = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, args.data_dir, out, args.config],
                check=True, capture_output=True, text=True,
            )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"run {i + 1}: {sum(runs[-1]['seconds'].values()):.1f} s", file=sys.stderr)
    steps = list(runs[0]["seconds"])
    print(f"| step ({Path(args.data_dir).name}, median of {len(runs)}) | seconds | peak RSS MiB |")
    print("|---|---:|---:|")
    for step in steps:
        sec = statistics.median(r["seconds"][step] for r in runs)
        rss = max(r["peak_rss_mb"][step] for r in runs)
        print(f"| {step} | {sec:.2f} | {rss:.0f} |")
    total = statistics.median(sum(r["seconds"].values()) for r in runs)
    peak = max(max(r["peak_rss_mb"].values()) for r in runs)
    print(f"| **total** | **{total:.2f}** | **{peak:.0f}** |")


if __name__ == "__main__":
    main()

"""Peak memory and time of `offers recommend --all`: one frame (before) vs streamed (issue 11).

Usage::

    python bench/bench_exports.py ARTIFACTS_DIR [--repeat 3] [--k 10] [--json OUT.json]

Each run is a fresh process, timed end to end (start-up, verifying and
loading the version, scoring, writing), its peak resident memory read from
``wait4``. Three ways of writing every member's top-k:

- ``before``: the code before issue 11, one frame of every member
  (``recommend_long``) written with ``write_frame_atomic``;
- ``after``: ``offers recommend --all --out recs.parquet`` (chunks through
  ``FrameSink``, one row group per batch of members);
- ``after, parts``: ``offers recommend --all --out recs/`` (Parquet parts).

Prints the medians of ``--repeat`` runs as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent

BEFORE = """
import sys
from features.storage import write_frame_atomic
from training.artifacts.store import open_version
from training.exports import recommend_long
table = recommend_long(open_version(sys.argv[1]), k=int(sys.argv[3]))
write_frame_atomic(table, sys.argv[2])
"""


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of ``cmd`` in a fresh process (must succeed)."""
    tick = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - tick
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def measure(artifacts_dir: str, repeat: int, k: int) -> dict:
    offers = str(BIN / "offers")
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        ways = {
            "before (one frame, .parquet)": [sys.executable, "-c", BEFORE, artifacts_dir,
                                             f"{tmp}/before.parquet", str(k)],
            "after (streamed, .parquet)": [offers, "recommend", artifacts_dir, "--all",
                                           "--k", str(k), "--out", f"{tmp}/after.parquet"],
            "after (streamed, DIR/ parts)": [offers, "recommend", artifacts_dir, "--all",
                                             "--k", str(k), "--out", f"{tmp}/parts/"],
        }
        runs: dict[str, list] = {name: [] for name in ways}
        for _ in range(repeat):  # interleaved, so load changes hit every way alike
            for name, cmd in ways.items():
                runs[name].append(run(cmd))
        for name, got in runs.items():
            out[name] = {"seconds": statistics.median(s for s, _ in got),
                         "peak_rss_gib": statistics.median(r for _, r in got),
                         "runs": got}
        import pyarrow.parquet as pq

        out["rows"] = pq.ParquetFile(f"{tmp}/after.parquet").metadata.num_rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = measure(args.artifacts_dir, args.repeat, args.k)
    print(f"{result['rows']:,} rows (k = {args.k}); median of {args.repeat} runs\n")
    print("| way | end to end (s) | peak RSS (GiB) |\n|---|---:|---:|")
    for name, got in result.items():
        if isinstance(got, dict):
            print(f"| {name} | {got['seconds']:.1f} | {got['peak_rss_gib']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

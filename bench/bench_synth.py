"""Time the synthetic data generator and report its peak memory.

Usage::

    python bench/bench_synth.py 1000000            # into a temporary directory, removed after
    python bench/bench_synth.py 1000000 --out data/synth_1m --overwrite   # keep the data

Prints the wall time, the process's peak resident memory (ru_maxrss) and the
row counts and file sizes of what was written.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from training.synth.generate import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("members", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the data here (default: a temporary directory, removed)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()

    tmp = None if args.out else Path(tempfile.mkdtemp(prefix="bench-synth-"))
    out = args.out or tmp / "data"
    try:
        t0 = time.perf_counter()
        generate(out, args.members, args.seed, overwrite=args.overwrite)
        seconds = time.perf_counter() - t0
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(f"members={args.members} seed={args.seed}")
        print(f"seconds={seconds:.1f} peak_rss_mib={peak_mib:.0f}")
        for path in sorted(out.rglob("*.parquet")):
            rows = pq.ParquetFile(path).metadata.num_rows
            print(f"  {path.relative_to(out)}: {rows} rows, {path.stat().st_size / 2**20:.1f} MiB")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

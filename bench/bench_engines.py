"""Engines (issue 11): `offers features` and `offers train` per engine, wall time and peak RSS.

Usage::

    python bench/bench_engines.py DATA_DIR [--as-of 2017-10-01] [--repeat 3] [--train]
    python bench/bench_engines.py --scale 5000,20000     # synthetic data, features only

Every run is a fresh process measured by ``/usr/bin/time`` (elapsed seconds and
maximum resident set size), so start-up, loading and validation are included;
the median of ``--repeat`` runs is printed. ``--scale`` generates synthetic
programs of the given member counts (``offers synth``, seed 1) and exports the
member features on each engine, to show how time and memory grow with lines.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
ENGINES = ("pandas", "duckdb")


def measure(args: list[str]) -> tuple[float, float]:
    """``(seconds, peak RSS MiB)`` of one ``offers`` run in a fresh process."""
    cmd = ["/usr/bin/time", "-f", "TIME %e %M", str(BIN / "offers"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    seconds, kib = re.findall(r"TIME ([\d.]+) (\d+)", done.stderr)[-1]
    return float(seconds), int(kib) / 1024


def median_of(args: list[str], repeat: int) -> tuple[float, float]:
    runs = [measure(args) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def bench_data(data: Path, as_of: str, repeat: int, train: bool, tmp: Path) -> None:
    print(f"{data}: medians of {repeat} runs")
    print(f"{'step':<10} {'engine':<7} {'seconds':>8} {'peak MiB':>9}")
    for engine in ENGINES:
        out = tmp / f"features-{engine}.parquet"
        args = ["features", str(data), "--as-of", as_of, "--out", str(out), "--engine", engine]
        seconds, mib = median_of(args, repeat)
        print(f"{'features':<10} {engine:<7} {seconds:>8.1f} {mib:>9.0f}")
    if train:
        for engine in ENGINES:
            args = ["train", str(data), "--out", str(tmp / f"art-{engine}"), "--engine", engine]
            seconds, mib = median_of(args, repeat)
            print(f"{'train':<10} {engine:<7} {seconds:>8.1f} {mib:>9.0f}")


def bench_scale(sizes: list[int], repeat: int, tmp: Path) -> None:
    print(f"{'members':>8} {'lines':>10} {'engine':<7} {'seconds':>8} {'peak MiB':>9}")
    for n in sizes:
        data = tmp / f"synth-{n}"
        subprocess.run([str(BIN / "offers"), "synth", str(data), "--members", str(n),
                        "--seed", "1"], check=True, capture_output=True)
        lines = _lines(data)
        as_of = _as_of(data)
        for engine in ENGINES:
            out = tmp / f"f-{n}-{engine}.parquet"
            args = ["features", str(data), "--as-of", as_of, "--out", str(out),
                    "--engine", engine]
            seconds, mib = median_of(args, repeat)
            print(f"{n:>8} {lines:>10,} {engine:<7} {seconds:>8.1f} {mib:>9.0f}")


def _lines(data: Path) -> int:
    import pyarrow.parquet as pq

    path = data / "transactions.parquet"
    if path.exists():
        return pq.ParquetFile(path).metadata.num_rows
    return sum(1 for _ in open(data / "transactions.csv")) - 1


def _as_of(data: Path) -> str:
    import pandas as pd

    path = data / "transactions.parquet"
    ts = (pd.read_parquet(path, columns=["timestamp"]) if path.exists()
          else pd.read_csv(data / "transactions.csv", usecols=["timestamp"]))["timestamp"]
    return str((pd.to_datetime(ts, utc=True).max() - pd.Timedelta(days=28)).date())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path)
    parser.add_argument("--as-of", default="2017-10-01")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train", action="store_true", help="Also time `offers train`.")
    parser.add_argument("--scale", default=None, help="Comma-separated synthetic member counts.")
    a = parser.parse_args()
    if not a.data and not a.scale:
        parser.error("pass DATA_DIR or --scale")
    with tempfile.TemporaryDirectory() as tmp:
        if a.data:
            bench_data(a.data, a.as_of, a.repeat, a.train, Path(tmp))
        if a.scale:
            bench_scale([int(n) for n in a.scale.split(",")], a.repeat, Path(tmp))


if __name__ == "__main__":
    main()

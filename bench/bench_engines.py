"""Engines (issue 11): `offers features` and `offers train` per engine, wall time and peak RSS.

Usage::

    python bench/bench_engines.py DATA_DIR [--as-of 2017-10-01] [--repeat 3] [--train]
    python bench/bench_engines.py --scale 5000,20000     # synthetic data, features only
    python bench/bench_engines.py --scale 50000,200000,1000000 --data-root data \
        --memory-limit 2GB --spill 64MB                  # reuse data/synth_<N>/, spill check

Every run is a fresh process measured by ``/usr/bin/time`` (elapsed seconds and
maximum resident set size), so start-up, loading and validation are included;
the median of ``--repeat`` runs is printed. ``--scale`` generates synthetic
programs of the given member counts (``offers synth``, seed 1) and exports the
member features on each engine, to show how time and memory grow with lines;
with ``--data-root`` it reuses ``DIR/synth_<N>`` (``50k``/``1m`` spelled as by
``offers synth``) when it exists. ``--memory-limit`` is passed to the DuckDB
runs; ``--spill SIZE`` adds a DuckDB run under that (far smaller) limit and
checks that it wrote the same features. ``--engines`` picks the engines.
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


def bench_scale(sizes: list[int], repeat: int, tmp: Path, *, data_root: Path | None = None,
                memory_limit: str | None = None, spill: str | None = None,
                engines: tuple[str, ...] = ENGINES) -> None:
    print(f"{'members':>8} {'lines':>11} {'engine':<16} {'seconds':>8} {'peak MiB':>9}")
    for n in sizes:
        data = _synthetic(n, tmp, data_root)
        lines = _lines(data)
        as_of = _as_of(data)
        runs = [(e, memory_limit if e == "duckdb" else None) for e in engines]
        if spill:
            runs.append(("duckdb", spill))
        outs = {}
        for engine, limit in runs:
            label = engine + (f" {limit}" if limit else "")
            out = tmp / f"f-{n}-{label.replace(' ', '-')}.parquet"
            args = ["features", str(data), "--as-of", as_of, "--out", str(out),
                    "--engine", engine, *(["--memory-limit", limit] if limit else [])]
            seconds, mib = median_of(args, repeat)
            outs[label] = out
            print(f"{n:>8} {lines:>11,} {label:<16} {seconds:>8.1f} {mib:>9.0f}", flush=True)
        if spill:
            _same_features(outs)


def _synthetic(n: int, tmp: Path, data_root: Path | None) -> Path:
    name = f"synth_{n // 1000}k" if n % 1_000_000 else f"synth_{n // 1_000_000}m"
    if data_root is not None and (data_root / name).is_dir():
        return data_root / name
    data = tmp / f"synth-{n}"
    subprocess.run([str(BIN / "offers"), "synth", str(data), "--members", str(n),
                    "--seed", "1"], check=True, capture_output=True)
    return data


def _same_features(outs: dict[str, Path]) -> None:
    """Every run wrote the same features (floating tolerance), or exit with the difference."""
    import pandas as pd

    frames = {label: pd.read_parquet(path) for label, path in outs.items()}
    first, *rest = frames
    for label in rest:
        try:
            pd.testing.assert_frame_equal(frames[label], frames[first], rtol=1e-9)
        except AssertionError as exc:
            sys.exit(f"{label} wrote other features than {first}: {exc}")
    print(f"same features: {', '.join(frames)}")


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
    parser.add_argument("--data-root", type=Path, default=None,
                        help="Reuse DIR/synth_<N> (e.g. data/synth_1m) when it exists.")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit (--scale).")
    parser.add_argument("--spill", default=None,
                        help="Also run DuckDB under this limit and compare (--scale).")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="Comma-separated engines of --scale (default: both).")
    a = parser.parse_args()
    if not a.data and not a.scale:
        parser.error("pass DATA_DIR or --scale")
    with tempfile.TemporaryDirectory() as tmp:
        if a.data:
            bench_data(a.data, a.as_of, a.repeat, a.train, Path(tmp))
        if a.scale:
            bench_scale([int(n) for n in a.scale.split(",")], a.repeat, Path(tmp),
                        data_root=a.data_root, memory_limit=a.memory_limit, spill=a.spill,
                        engines=tuple(a.engines.split(",")))


if __name__ == "__main__":
    main()

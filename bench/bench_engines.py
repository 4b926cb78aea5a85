"""Engines (issue 11): `offers features` and `offers train` per engine, wall time and peak RSS.

Usage::

    python bench/bench_engines.py DATA_DIR [--as-of 2017-10-01] [--repeat 3] [--train]
    python bench/bench_engines.py DATA_DIR --engines spark --spark-master local[2] --train
    python bench/bench_engines.py --scale 5000,20000     # synthetic data, features only
    python bench/bench_engines.py --scale 50000,200000,1000000 --data-root data \
        --memory-limit 2GB --spill 64MB                  # reuse data/synth_<N>/, spill check
    python bench/bench_engines.py DATA_DIR --train-only --memory-limit 1GB   # train only
    python bench/bench_engines.py --scale 200000 --data-root data --train-only \
        --engines duckdb --memory-limit 1GB --repeat 1   # train at scale

Every run is a fresh process measured by ``/usr/bin/time`` (elapsed seconds and
maximum resident set size), so start-up, loading and validation are included;
the median of ``--repeat`` runs is printed. ``/usr/bin/time``'s maximum is that
of the largest single process, and the Spark engine's JVM is a child of the
driver: so the peak of the whole process tree's summed RSS (``tree MiB``,
sampled from /proc every 0.1 s) is printed beside it. ``--scale`` generates synthetic
programs of the given member counts (``offers synth``, seed 1) and exports the
member features on each engine, to show how time and memory grow with lines;
with ``--data-root`` it reuses ``DIR/synth_<N>`` (``50k``/``1m`` spelled as by
``offers synth``) when it exists. ``--memory-limit`` is passed to the DuckDB
runs; ``--spill SIZE`` adds a DuckDB run under that (far smaller) limit and
checks that it wrote the same features. ``--engines`` picks the engines.
``--train-only`` times ``offers train`` alone (each run into a fresh artifacts
directory, so every run tunes: no parameters reused from a previous version);
``--memory-limit`` applies to the DuckDB train runs too.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

BIN = Path(sys.executable).parent
ENGINES = ("pandas", "duckdb")
ALL_ENGINES = ("pandas", "duckdb", "spark")
PAGE = os.sysconf("SC_PAGE_SIZE")
SPARK_MASTER: str | None = None  # --spark-master, passed to every spark run
LAST_OUTPUT: list[str] = []  # stdout lines of the last run (the metrics `offers train` prints)
QUALITY = ("recommendations NDCG", "churn (", "spend: Spearman", "offer response ROC")


def measure(args: list[str]) -> tuple[float, float, float]:
    """``(seconds, peak RSS MiB, peak process-tree RSS MiB)`` of one fresh ``offers`` run."""
    cmd = ["/usr/bin/time", "-f", "TIME %e %M", str(BIN / "offers"), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{stderr[-2000:]}")
    seconds, kib = re.findall(r"TIME ([\d.]+) (\d+)", stderr)[-1]
    LAST_OUTPUT[:] = stdout.splitlines()
    return float(seconds), int(kib) / 1024, peak[0] / 2**20


def _tree_rss(root: int) -> int:
    """Summed resident bytes of ``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


def median_of(args: list[str], repeat: int) -> tuple[float, float, float]:
    return median_runs([args] * repeat)


def median_runs(arg_lists: list[list[str]]) -> tuple[float, float, float]:
    runs = [measure(args) for args in arg_lists]
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))


def train_args(data: Path, out: Path, engine: str, repeat: int,
               memory_limit: str | None) -> list[list[str]]:
    """``offers train`` arguments of ``repeat`` runs, each into a fresh artifacts directory."""
    limit = ["--memory-limit", memory_limit] if memory_limit and engine == "duckdb" else []
    return [["train", str(data), "--out", str(out / f"art-{engine}-{i}"), *engine_args(engine),
             *limit] for i in range(repeat)]


def engine_args(engine: str) -> list[str]:
    extra = ["--engine", engine]
    if engine == "spark" and SPARK_MASTER:
        extra += ["--spark-master", SPARK_MASTER]
    return extra


def bench_data(data: Path, as_of: str, repeat: int, train: bool, tmp: Path, engines, *,
               features: bool = True, memory_limit: str | None = None) -> None:
    print(f"{data}: medians of {repeat} runs")
    print(f"{'step':<10} {'engine':<7} {'seconds':>8} {'peak MiB':>9} {'tree MiB':>9}")
    for engine in engines if features else ():
        out = tmp / f"features-{engine}.parquet"
        args = ["features", str(data), "--as-of", as_of, "--out", str(out), *engine_args(engine)]
        seconds, mib, tree = median_of(args, repeat)
        print(f"{'features':<10} {engine:<7} {seconds:>8.1f} {mib:>9.0f} {tree:>9.0f}")
    if train:
        for engine in engines:
            seconds, mib, tree = median_runs(train_args(data, tmp, engine, repeat, memory_limit))
            print(f"{'train':<10} {engine:<7} {seconds:>8.1f} {mib:>9.0f} {tree:>9.0f}",
                  flush=True)
            for line in LAST_OUTPUT:
                if line.strip().startswith(QUALITY):
                    print(f"{'':<10} {engine:<7} {line.strip()}", flush=True)


def bench_scale(sizes: list[int], repeat: int, tmp: Path, *, data_root: Path | None = None,
                memory_limit: str | None = None, spill: str | None = None,
                engines=ENGINES) -> None:
    print(f"{'members':>8} {'lines':>11} {'engine':<16} {'seconds':>8} {'peak MiB':>9} "
          f"{'tree MiB':>9}")
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
                    *engine_args(engine), *(["--memory-limit", limit] if limit else [])]
            seconds, mib, tree = median_of(args, repeat)
            outs[label] = out
            print(f"{n:>8} {lines:>11,} {label:<16} {seconds:>8.1f} {mib:>9.0f} {tree:>9.0f}",
                  flush=True)
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
    parser.add_argument("--train-only", action="store_true",
                        help="Time `offers train` only (DATA_DIR, or each --scale data set).")
    parser.add_argument("--scale", default=None, help="Comma-separated synthetic member counts.")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help=f"Comma-separated, from {', '.join(ALL_ENGINES)} (default: "
                             f"{', '.join(ENGINES)}).")
    parser.add_argument("--spark-master", default=None,
                        help="--spark-master of the spark runs (default: offers' local[*]).")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="Reuse DIR/synth_<N> (e.g. data/synth_1m) when it exists.")
    parser.add_argument("--memory-limit", default=None,
                        help="DuckDB memory limit of the duckdb runs (--scale, --train-only).")
    parser.add_argument("--spill", default=None,
                        help="Also run DuckDB under this limit and compare (--scale).")
    a = parser.parse_args()
    if not a.data and not a.scale:
        parser.error("pass DATA_DIR or --scale")
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ALL_ENGINES]
    if unknown or not engines:
        parser.error(f"--engines: unknown {unknown}; use some of {', '.join(ALL_ENGINES)}")
    global SPARK_MASTER
    SPARK_MASTER = a.spark_master
    with tempfile.TemporaryDirectory() as tmp:
        if a.data:
            bench_data(a.data, a.as_of, a.repeat, a.train or a.train_only, Path(tmp), engines,
                       features=not a.train_only, memory_limit=a.memory_limit)
        if a.scale and a.train_only:
            for n in (int(n) for n in a.scale.split(",")):
                data = _synthetic(n, Path(tmp), a.data_root)
                print(f"{n} members, {_lines(data):,} lines")
                bench_data(data, a.as_of, a.repeat, True, Path(tmp), engines, features=False,
                           memory_limit=a.memory_limit)
        elif a.scale:
            bench_scale([int(n) for n in a.scale.split(",")], a.repeat, Path(tmp),
                        data_root=a.data_root, memory_limit=a.memory_limit, spill=a.spill,
                        engines=tuple(engines))


if __name__ == "__main__":
    main()

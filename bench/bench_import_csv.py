"""Peak memory and time of `offers import csv` on a large export: read in chunks against
read whole (the importer before chunks), side by side, each in its own process.

Usage::

    python bench/bench_import_csv.py [--lines 3000000 --lines 10000000] [--repeat 3]
        [--workdir /tmp/bench_import_csv]

Writes a seeded order-line CSV per size (20,000 SKUs, each with one category and a
base price sold at up to 20% off; 200,000 customers; ISO times), then imports it with
``chunk_lines`` at its default (:data:`training.importers.flat_csv.CHUNK_LINES`) and with
one chunk holding every line (what the importer did before it read in chunks), in
alternation, each in a fresh Python process: peak resident memory (``VmHWM``) and
wall seconds, medians of ``--repeat`` runs. Checks both write the same tables.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from training.importers import CsvMapping, import_csv
mapping = CsvMapping("customer_id", "created_at", "sku", quantity_col="qty",
                     price_col="unit_price", category_col="category", basket_col="order_id")
started = time.perf_counter()
kwargs = {{}} if {chunk} is None else {{"chunk_lines": {chunk}}}
import_csv({path!r}, {out!r}, mapping, overwrite=True, **kwargs)
# VmHWM, this process's own peak: ru_maxrss would count the parent's memory at the fork,
# which Linux folds in at exec.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"seconds": time.perf_counter() - started,
                  "peak_mib": int(hwm.split()[1]) / 1024}}))
"""


def write_orders(path: Path, n: int, seed: int = 0) -> None:
    """A realistic export of ``n`` lines, written a million lines at a time."""
    rng = np.random.default_rng(seed)
    base = np.round(rng.gamma(2, 3, 20_001), 2)
    start = pd.Timestamp("2024-01-01")
    with path.open("w") as fh:
        for first in range(0, n, 1_000_000):
            m = min(1_000_000, n - first)
            item = rng.integers(1, 20_000, m)
            frame = pd.DataFrame({
                "order_id": rng.integers(1, max(n // 4, 2), m),
                "customer_id": rng.integers(1, 200_000, m),
                "created_at": (start + pd.to_timedelta(rng.integers(0, 365 * 86_400, m),
                                                       unit="s")).strftime("%Y-%m-%d %H:%M:%S"),
                "sku": np.char.add("SKU", item.astype(str)),
                "qty": rng.integers(1, 5, m),
                "unit_price": np.round(base[item] * rng.choice([1, 1, 1, 0.9, 0.8], m), 2),
                "category": np.char.add("cat", (item % 200).astype(str)),
            })
            frame.to_csv(fh, index=False, header=first == 0)


def run(path: Path, out: Path, chunk: int | None) -> dict:
    code = CHILD.format(root=str(ROOT), path=str(path), out=str(out), chunk=chunk)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@click.command()
@click.option("--lines", "sizes", type=int, multiple=True, default=(3_000_000,),
              show_default=True)
@click.option("--repeat", type=int, default=3, show_default=True)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("/tmp/bench_import_csv"), show_default=True)
def main(sizes, repeat, workdir) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"| lines | read | peak MiB (median of {repeat}) | seconds |")
    print("|---:|---|---:|---:|")
    for n in sizes:
        path = workdir / f"orders_{n}.csv"
        if not path.exists():
            write_orders(path, n)
        found = {"in chunks": [], "whole (before)": []}
        for _ in range(repeat):
            found["in chunks"].append(run(path, workdir / "chunks", None))
            found["whole (before)"].append(run(path, workdir / "whole", n + 1))
        for table in ("transactions", "items"):
            pd.testing.assert_frame_equal(pd.read_parquet(workdir / "chunks" / f"{table}.parquet"),
                                          pd.read_parquet(workdir / "whole" / f"{table}.parquet"))
        for name, runs in found.items():
            peak = statistics.median(r["peak_mib"] for r in runs)
            seconds = statistics.median(r["seconds"] for r in runs)
            print(f"| {n:,} | {name} | {peak:,.0f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()

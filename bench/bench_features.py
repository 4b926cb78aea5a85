"""Time the member and item feature builders on a data directory.

Usage::

    python bench/bench_features.py DATA_DIR [--as-of 2025-10-01] [--repeat 3]
    python bench/bench_features.py --completejourney [--repeat 3]

Loads the data once with :func:`features.loading.load_dataset` (with
``--completejourney`` the public data set is first imported into a temporary
directory), then runs :func:`build_member_features` and
:func:`build_item_features` ``--repeat`` times each and prints one markdown
table row: the median wall time of each, and the peak resident memory of the
process during loading and during feature building (Linux ``VmHWM``, reset
after loading through ``/proc/self/clear_refs``).
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from pathlib import Path

import click
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_data import bench_dataset  # noqa: E402

from features.item_features import build_item_features  # noqa: E402
from features.member_features import build_member_features  # noqa: E402

HEADER = (
    "| data | lines | members | items | as_of | load s | member features s | "
    "item features s | feature rows x cols | peak RSS load GiB | peak RSS features GiB |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def _peak_rss_gib() -> float:
    """Peak resident set size of this process since start or the last reset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _median_time(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


@click.command()
@click.argument("data_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--completejourney", is_flag=True, help="Import the public data set first.")
@click.option("--as-of", default=None, help="Cutoff (default: the day after the last line).")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1))
@click.option("--header/--no-header", default=True, show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(data_dir, completejourney, as_of, repeat, header, verbose):
    """Benchmark the feature builders on DATA_DIR (or --completejourney)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    started = time.perf_counter()
    ds, name = bench_dataset(data_dir, completejourney)
    load_s = time.perf_counter() - started
    load_peak = _peak_rss_gib()
    cutoff = (
        pd.Timestamp(as_of) if as_of else ds.transactions["timestamp"].max().normalize()
        + pd.Timedelta(days=1)
    )
    reset = _reset_peak_rss()
    member_s, X = _median_time(lambda: build_member_features(ds, cutoff), repeat)
    item_s, _ = _median_time(
        lambda: build_item_features(ds.transactions, ds.items, cutoff), repeat
    )
    feat_peak = _peak_rss_gib() if reset else float("nan")
    counts = ds.row_counts()
    if header:
        click.echo(HEADER)
    click.echo(
        f"| {name} | {counts['transactions']:,} | {counts['members']:,} | {counts['items']:,} "
        f"| {cutoff.date()} | {load_s:.1f} | {member_s:.2f} | {item_s:.2f} "
        f"| {X.shape[0]:,} x {X.shape[1]} | {load_peak:.2f} | {feat_peak:.2f} |"
    )
    click.echo(f"(median of {repeat}; {os.cpu_count()} CPUs)", err=True)


if __name__ == "__main__":
    main()

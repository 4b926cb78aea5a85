"""Churn and spend at several horizons on a data set: churn/value models vs baselines vs BG/NBD.

    .venv/bin/python bench/horizons.py data/completejourney --horizons 28 30 60 61 90

Prints one table per task (the numbers of metrics["horizons"] of ``offers train``,
without training the rest), and the seconds the BG/NBD + Gamma-Gamma fit takes.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from features.loading import load_dataset
from training.horizon_step import fit_purchase_cycle, validate_horizon


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--horizons", type=int, nargs="+", default=[28, 30, 60, 61, 90])
    args = parser.parse_args()
    dataset = load_dataset(args.data_dir)
    as_of = dataset.transactions["timestamp"].max().normalize() + pd.Timedelta(days=1)
    start = time.perf_counter()
    params, summary = fit_purchase_cycle(dataset.transactions, as_of)
    print(f"BG/NBD + Gamma-Gamma fit on {len(summary)} members: "
          f"{time.perf_counter() - start:.2f} s; {params}")
    rows = []
    for h in args.horizons:
        start = time.perf_counter()
        result = validate_horizon(dataset, as_of, h)
        seconds = time.perf_counter() - start
        for task in ("churn", "value"):
            rows += [{"horizon_days": h, "task": task, "model": m, **v, "seconds": seconds}
                     for m, v in result[task].items()]
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.precision", 3):
        for task in ("churn", "value"):
            print(table[table["task"] == task].dropna(axis=1, how="all").to_string(index=False))


if __name__ == "__main__":
    main()

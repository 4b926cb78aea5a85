"""Per-member queries on the lines against the same queries on a table of baskets (issue 11).

Usage::

    python bench/bench_basket_table.py DATA_DIR [--memory-limit 1GB]

At 1M synthetic members the DuckDB engine spends about 40% of a train's wall in
queries, most of them a scan and a hash aggregate of every line (101M). Many of
them need only what a basket has: its member, time, amount and discount. This
measures, on one DuckDB connection as ``offers train --engine duckdb`` opens it
(:func:`features.relational.load_relational` under ``--memory-limit``):

1. one scan of the cleaned lines (``count(*)``): the floor of any query on them;
2. making the basket rows (:func:`features.relational.purchases.basket_rows`: the
   lines summed per member, basket and time) once, into a Parquet file of DuckDB's
   temporary directory as a training run does (``EngineTables.basket_rows``): the
   one-off cost;
3. three of the train's per-member queries: the members' count and first purchase
   (the skip checks' history), the purchase-cycle summary (:func:`models.lifecycle.
   engine_summary.engine_purchase_summary`) and the program KPIs
   (:func:`features.relational.program_kpis`), on the lines and on the basket rows,

and says whether each answer is the same on both. Wall seconds, one run each, in
that order; compare the two columns of one run, not runs on a busy machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--memory-limit", default="1GB")
    args = parser.parse_args()

    from features.relational import connect, load_relational, program_kpis
    from features.relational.portable import stage, to_frame, unstage
    from features.relational.purchases import basket_rows
    from models.lifecycle.engine_summary import engine_purchase_summary

    con = connect(memory_limit=args.memory_limit)
    data, load_s = _timed(lambda: load_relational(con, args.data_dir))
    lines = data.transactions
    print(f"load_relational: {load_s:.1f} s")
    n, scan_s = _timed(lambda: int(to_frame(lines.aggregate(n=lines.count()))["n"].iloc[0]))
    print(f"scan of the cleaned lines: {scan_s:.1f} s ({n:,} lines)")

    baskets, build_s = _timed(lambda: stage(basket_rows(lines), "bench_basket_rows"))
    n_baskets = int(to_frame(baskets.aggregate(n=baskets.count()))["n"].iloc[0])
    print(f"basket rows: {build_s:.1f} s ({n_baskets:,} rows, "
          f"{n_baskets / max(n, 1):.2f} a line)\n")

    last = to_frame(lines.aggregate(last=lines.ts_us.max()))["last"].iloc[0]
    as_of = pd.Timestamp(int(last), unit="us").normalize() + pd.Timedelta(days=1)

    def history(table):
        return to_frame(table.aggregate(members=table.member_id.nunique(),
                                        first=table.ts_us.min()))

    def summary(table):
        return engine_purchase_summary(table, as_of)

    def kpis(table):
        return program_kpis(table, data.members, data.offer_events, "month")

    print("| query | on the lines s | on the basket rows s | same answer |")
    print("|---|---:|---:|---|")
    for name, query in (("members and first purchase", history),
                        ("purchase-cycle summary", summary), ("program KPIs", kpis)):
        on_lines, lines_s = _timed(lambda q=query: q(lines))
        on_baskets, baskets_s = _timed(lambda q=query: q(baskets))
        same = _same(on_lines, on_baskets)
        print(f"| {name} | {lines_s:.1f} | {baskets_s:.1f} | {same} |")
    unstage(con, "bench_basket_rows")  # its Parquet file


def _same(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """Whether two answers agree (floats to 1e-9 relative), or where they differ."""
    if a.shape != b.shape or list(a.columns) != list(b.columns):
        return f"no: shapes {a.shape} / {b.shape}"
    worst = []
    for column in a.columns:
        x, y = a[column].to_numpy(), b[column].to_numpy()
        if np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.number):
            if not np.allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True):
                worst.append(column)
        elif not (pd.Series(x).astype(str).to_numpy() == pd.Series(y).astype(str).to_numpy()).all():
            worst.append(column)
    return "yes" if not worst else f"no: {', '.join(worst)}"


if __name__ == "__main__":
    main()

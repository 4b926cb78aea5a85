"""CPU seconds of the windows' outcome queries on a data directory: one query per cutoff
(the query ``_one_window`` ran before issue 11's one-pass build) against
:func:`models.lifecycle.engine_windows.window_outcomes` (all cutoffs in one query),
alternating, and whether they agree.

Usage::

    python bench/bench_window_outcomes.py DATA_DIR [--horizons 28 30 60 90] [--repeat 3]

Per horizon the cutoffs are those ``validate_horizon`` uses (every window that fits),
on DuckDB, as of the day after the last line, every buyer (no sample).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.relational.portable import to_frame  # noqa: E402
from models.lifecycle.engine_windows import window_outcomes  # noqa: E402
from models.lifecycle.windows import window_cutoffs  # noqa: E402
from training.engines import line_span, load_for_engine  # noqa: E402


def one_at_a_time(past, cutoff, horizon):
    """The per-cutoff outcome query (the former ``_one_window``'s)."""
    cut, h = int(cutoff.value // 1000), int(horizon / pd.Timedelta(microseconds=1))
    seen = past.filter(past.ts_us < cut + h)
    during = seen.ts_us >= cut
    recent = (seen.ts_us >= cut - h) & (seen.ts_us < cut)
    per = seen.group_by("member_id").aggregate(
        first=seen.ts_us.min(), future_baskets=seen.basket_id.nunique(where=during),
        future_spend=seen.amount.sum(where=during), past_spend=seen.amount.sum(where=recent))
    per = to_frame(per.filter(per.first < cut)).set_index("member_id").sort_index()
    per.index = pd.Index(per.index.astype(str), dtype="str", name="member_id")
    return per.drop(columns="first")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--horizons", type=int, nargs="+", default=[28, 30, 60, 90])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    _, tables = load_for_engine("duckdb", args.data)
    past = tables.lines
    first, last = line_span(past)
    as_of = last.normalize() + pd.Timedelta(days=1)
    past = past.filter(past.ts_us < int(as_of.value // 1000))
    sets = [(pd.Timedelta(days=h), window_cutoffs(as_of, h, None, None, first)[1])
            for h in args.horizons]
    times = {"one at a time": [], "one pass": []}
    worst = 0.0
    for _ in range(args.repeat):
        t = time.process_time()
        alone = [{c: one_at_a_time(past, c, hz) for c in cuts} for hz, cuts in sets]
        times["one at a time"].append(time.process_time() - t)
        t = time.process_time()
        together = [window_outcomes(past, cuts, hz) for hz, cuts in sets]
        times["one pass"].append(time.process_time() - t)
        for a, b in zip(alone, together):
            for c in a:
                x, y = a[c].fillna(0), b[c].fillna(0)
                assert x.index.equals(y.index), c
                assert (x["future_baskets"].to_numpy() == y["future_baskets"].to_numpy()).all()
                for col in ("future_spend", "past_spend"):
                    gap = np.abs((x[col] - y[col]).to_numpy())
                    worst = max(worst, float(np.max(gap, initial=0.0)))
    n = sum(len(c) for _, c in sets)
    for name, ts in times.items():
        print(f"{name:14s} {n} cutoffs: CPU s median {statistics.median(ts):.2f} "
              f"({' / '.join(f'{x:.2f}' for x in ts)})")
    print(f"same members and baskets; spend max abs difference {worst:.2e}")
    tables.close()


if __name__ == "__main__":
    main()

"""How many members the churn and value models need: quality and fit time by sample size.

Usage::

    python bench/bench_window_sample.py DATA_DIR [--sizes 25000 50000 100000 200000]
        [--memory-limit 1GB] [--as-of DATE]

Builds the churn/value training windows once on DuckDB with every buyer
(``max_members=None``), then for each size fits the churn and value models on
the training windows of a seeded sample of that many members
(:func:`models.member_sample.member_sample`, as ``make_windows`` samples) and
scores them on the *same* full validation window, so the sizes compare on one
yardstick. Prints a markdown table: members, training rows, fit seconds, churn
ROC-AUC / PR-AUC and spend Spearman / MAE, with the recency-only and
past-spend baselines once. The windows' ``max_members`` (200,000 by default)
sets what every training run pays in the windows, churn, value and horizons
steps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.relational import connect, load_relational  # noqa: E402
from models.lifecycle.churn import ChurnModel, RecencyBaseline, evaluate_churn  # noqa: E402
from models.lifecycle.engine_windows import make_engine_windows  # noqa: E402
from models.lifecycle.value import PastSpendBaseline, ValueModel, evaluate_value  # noqa: E402
from models.member_sample import member_sample  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 50_000, 100_000, 200_000])
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--as-of", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    con = connect(memory_limit=args.memory_limit)
    data = load_relational(con, args.data_dir)
    as_of = (pd.Timestamp(args.as_of) if args.as_of
             else data.last_timestamp.normalize() + pd.Timedelta(days=1))
    small = {"items": data.items, "members": data.members, "offer_events": data.offer_events}
    start = time.perf_counter()
    windows = make_engine_windows(data.transactions, small, as_of, None, max_members=None,
                                  random_state=args.seed)
    print(f"windows of every buyer: {time.perf_counter() - start:.1f} s, horizon "
          f"{windows.horizon_days} days", flush=True)
    X_all, out_all = windows.train()
    X_val, out_val = windows.validation()
    members = X_all.index.get_level_values("member_id").astype(str)
    ids = pd.Index(members.unique())
    rows = []
    with threadpool_limits(1):
        for size in args.sizes:
            keep = ids[member_sample(ids, min(1.0, size / len(ids)), args.seed)]
            mask = members.isin(keep)
            X, out = X_all[mask], out_all[mask]
            start = time.perf_counter()
            churn = ChurnModel(horizon_days=windows.horizon_days, random_state=args.seed).fit(
                X, out["churned"])
            churn_s = time.perf_counter() - start
            start = time.perf_counter()
            value = ValueModel(horizon_days=windows.horizon_days, random_state=args.seed).fit(
                X, out["future_spend"], past_spend=out["past_spend"])
            value_s = time.perf_counter() - start
            c = evaluate_churn(churn, X_val, out_val["churned"],
                               RecencyBaseline().fit(X, out["churned"])).metrics
            v = evaluate_value(value, X_val, out_val["future_spend"],
                               PastSpendBaseline(horizon_days=windows.horizon_days))
            rows.append({"members": len(keep), "training rows": len(X),
                         "churn fit s": round(churn_s, 1), "value fit s": round(value_s, 1),
                         "churn ROC-AUC": c.loc["model", "roc_auc"],
                         "churn PR-AUC": c.loc["model", "pr_auc"],
                         "spend Spearman": v.loc["model", "spearman"],
                         "spend MAE": v.loc["model", "mae"]})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(f"\nvalidation window: {len(X_val)} members; recency only ROC-AUC "
          f"{c.loc['recency_baseline', 'roc_auc']:.4f} PR-AUC "
          f"{c.loc['recency_baseline', 'pr_auc']:.4f}; past spend Spearman "
          f"{v.loc['past_spend_baseline', 'spearman']:.4f} MAE "
          f"{v.loc['past_spend_baseline', 'mae']:.2f}")
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---:|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else f"{v:.4f}"
                                for v in row) + " |")


if __name__ == "__main__":
    main()

"""Churn and spend variants on later windows at several origins: is a change robust, not one split?

    .venv/bin/python bench/horizon_origins.py data/completejourney --offsets 0 28 56

For each origin (``as_of`` = the day after the last line minus each offset, in
days) and horizon h, windows are built as of that origin (nothing after it is
read) and every variant is fitted on the training windows and judged on the
latest window (cutoff ``origin - h``):

- churn: the churn model on 2 training windows (``n_windows=3``, before issue
  13) and on the stacked ones (``n_windows=None``), against recency only
  (PR-AUC, ROC-AUC);
- spend, on the stacked windows: the Poisson booster (before issue 13), the
  absolute-error booster, the latter shrunk halfway toward the past-spend rate
  (the value model since issue 13), against the past-spend rate (MAE,
  Spearman, top-decile capture).

Prints one row per origin and horizon and, per variant, how many rows beat the
baseline on each metric.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from features.loading import load_dataset
from models import metrics as model_metrics
from models.lifecycle import (
    ChurnModel,
    PastSpendBaseline,
    RecencyBaseline,
    ValueModel,
    make_windows,
    sample_buyers,
)

SPEND = {"poisson": dict(loss="poisson", shrink=0.0),
         "abs": dict(loss="absolute_error", shrink=0.0),
         "abs_shrink": dict(loss="absolute_error", shrink=0.5)}


def churn_scores(windows, h: int, seed: int) -> tuple[dict, dict]:
    X_train, out_train = windows.train()
    X_val, out_val = windows.validation()
    y = out_val["churned"].to_numpy().astype(np.float64)
    model = ChurnModel(h, random_state=seed).fit(X_train, out_train["churned"])
    recency = RecencyBaseline().fit(X_train, out_train["churned"])
    return (model_metrics.classification_metrics(y, model.predict_proba(X_val)),
            model_metrics.classification_metrics(y, recency.predict_proba(X_val)))


def one(dataset, origin: pd.Timestamp, h: int, seed: int) -> dict:
    row = {"origin": origin.date().isoformat(), "h": h}
    with sample_buyers(dataset, origin, None, seed) as sample:
        two = make_windows(dataset, origin, h, n_windows=3, random_state=seed, sample=sample)
        stacked = make_windows(dataset, origin, h, n_windows=None, random_state=seed,
                               sample=sample)
    row["train_windows"] = len(stacked.cutoffs) - 1
    before, recency = churn_scores(two, h, seed)
    after, _ = churn_scores(stacked, h, seed)
    row.update(recency_pr=recency["pr_auc"], churn2_pr=before["pr_auc"],
               churn_pr=after["pr_auc"], recency_roc=recency["roc_auc"],
               churn2_roc=before["roc_auc"], churn_roc=after["roc_auc"])
    X_train, out_train = stacked.train()
    X_val, out_val = stacked.validation()
    spend = out_val["future_spend"].to_numpy()
    predictions = {"rate": PastSpendBaseline(h).predict(X_val)}
    for name, options in SPEND.items():
        model = ValueModel(h, random_state=seed, **options).fit(
            X_train, out_train["future_spend"], past_spend=out_train["past_spend"])
        predictions[name] = model.predict(X_val)
    for name, prediction in predictions.items():
        m = model_metrics.regression_metrics(spend, prediction)
        row.update({f"{name}_mae": m["mae"], f"{name}_sp": m["spearman"],
                    f"{name}_top": m["top_decile_capture"]})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--offsets", type=int, nargs="+", default=[0, 28, 56])
    parser.add_argument("--horizons", type=int, nargs="+", default=[28, 61, 90])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dataset = load_dataset(args.data_dir)
    end = dataset.transactions["timestamp"].max().normalize() + pd.Timedelta(days=1)
    start, rows = time.process_time(), []
    for offset in args.offsets:
        for h in args.horizons:
            rows.append(one(dataset, end - pd.Timedelta(days=offset), h, args.seed))
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.precision", 4):
        print(table[["origin", "h", "train_windows", "recency_pr", "churn2_pr", "churn_pr",
                     "recency_roc", "churn2_roc", "churn_roc"]].to_string(index=False))
        for metric in ("mae", "sp", "top"):
            print(table[["origin", "h"] + [f"{n}_{metric}" for n in ("rate", *SPEND)]]
                  .to_string(index=False))
    n = len(table)
    print(f"churn PR-AUC above recency: 2 windows {(table.churn2_pr > table.recency_pr).sum()}"
          f"/{n}, stacked {(table.churn_pr > table.recency_pr).sum()}/{n}; stacked above 2 "
          f"windows: {(table.churn_pr > table.churn2_pr).sum()}/{n}")
    for name in SPEND:
        print(f"{name}: beats the past-spend rate on MAE "
              f"{(table[f'{name}_mae'] < table.rate_mae).sum()}/{n}, Spearman "
              f"{(table[f'{name}_sp'] > table.rate_sp).sum()}/{n}, top-decile "
              f"{(table[f'{name}_top'] > table.rate_top).sum()}/{n}")
    print(f"{time.process_time() - start:.1f} CPU s")


if __name__ == "__main__":
    main()

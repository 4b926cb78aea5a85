"""The CLV's forecast on later windows: does it sum to what groups of members spend?

    .venv/bin/python bench/bench_clv_sums.py data/completejourney --offsets 0 28 56

A CLV is used in sums (a segment's value, a campaign's budget, the retention
offers' cap), so its forecast must be a mean over every group, not only over all
members. For each origin (``as_of`` = the day after the last line minus each
offset, in days), windows are built at the version's horizon ``H`` (or
``--horizon``), both forecasts are fitted on the training windows and judged on
the latest window:

- ``median x ratio``: the value model's median forecast times the training rows'
  total spend over their total forecast (the CLV before the mean booster,
  ``ValueModel(mean_loss=None)``);
- ``mean``: the value model's mean booster (``ValueModel.predict_mean``, Poisson
  deviance), what the CLV carries now.

Per origin and forecast it prints the share of members forecast 0, the predicted
over the actual spend in all and by the time since the last purchase (the report's
bands, :func:`models.lifecycle.reliability.spend_by_recency`), the Poisson
deviance (a mean's proper score), RMSE and Spearman.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from features.loading import load_dataset
from models import metrics as model_metrics
from models.lifecycle import (
    ValueModel,
    default_horizon_days,
    make_windows,
    sample_buyers,
    spend_by_recency,
)


def poisson_deviance(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean Poisson deviance; a forecast of 0 where something was spent is infinite."""
    p = np.asarray(predicted, dtype=float)
    y = np.asarray(actual, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / p), 0.0) - (y - p)
    return float(2.0 * term.mean())


def one(dataset, origin: pd.Timestamp, horizon: int | None, seed: int) -> list[dict]:
    with sample_buyers(dataset, origin, None, seed) as sample:
        windows = make_windows(dataset, origin, horizon, n_windows=None, random_state=seed,
                               sample=sample)
    h = windows.horizon_days
    X_train, out_train = windows.train()
    X_val, out_val = windows.validation()
    actual = out_val["future_spend"].to_numpy(dtype=float)
    model = ValueModel(h, random_state=seed).fit(
        X_train, out_train["future_spend"], past_spend=out_train["past_spend"])
    forecasts = {"median x ratio": model.predict(X_val) * model.mean_ratio_,
                 "mean": model.predict_mean(X_val)}
    groups = spend_by_recency(forecasts, actual, X_val["recency_days"].to_numpy(dtype=float), h)
    rows = []
    for name, p in forecasts.items():
        row = {"origin": origin.date().isoformat(), "h": h, "forecast": name,
               "members": len(p), "zero": float((p == 0).mean()),
               "total": float(p.sum() / actual.sum())}
        part = groups[groups["source"] == name]
        row.update({f"{band}": ratio for band, ratio in zip(part["last_purchase"], part["ratio"])})
        row.update(deviance=poisson_deviance(actual, p),
                   rmse=float(np.sqrt(np.mean((p - actual) ** 2))),
                   spearman=model_metrics.spearman(actual, p))
        rows.append(row)
    share = part.set_index("last_purchase")["actual"] / actual.sum()
    print(f"{origin.date()} h={h}: share of the later spend by last purchase: "
          + ", ".join(f"{band} {s:.1%}" for band, s in share.items()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--offsets", type=int, nargs="+", default=[0, 28, 56])
    parser.add_argument("--horizon", type=int, default=None,
                        help="H in days (default: the data's own, as training picks it)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dataset = load_dataset(args.data_dir)
    end = dataset.transactions["timestamp"].max().normalize() + pd.Timedelta(days=1)
    horizon = args.horizon or default_horizon_days(dataset.transactions)
    start, rows = time.process_time(), []
    for offset in args.offsets:
        rows.extend(one(dataset, end - pd.Timedelta(days=offset), horizon, args.seed))
    with pd.option_context("display.width", 220, "display.precision", 3):
        print(pd.DataFrame(rows).to_string(index=False))
    print(f"{time.process_time() - start:.1f} CPU s")


if __name__ == "__main__":
    main()

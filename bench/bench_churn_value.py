"""Fit and evaluate the churn and value models on a data directory; print markdown tables.

Usage::

    python bench/bench_churn_value.py DATA_DIR [--as-of 2018-01-02] [--horizon-days 28]
    python bench/bench_churn_value.py --completejourney [--n-windows 3] [--step-days 28]

Loads the data (with ``--completejourney`` the public data set is first
imported into a temporary directory), builds the labelled windows ending at
``--as-of`` (default: the day after the last line), fits
:class:`models.lifecycle.churn.ChurnModel` and :class:`models.lifecycle.value.ValueModel` on the
training windows and scores them on the most recent (validation) window,
against a recency-only churn baseline and past-spend value baselines.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_data import bench_dataset  # noqa: E402

from models import metrics as model_metrics  # noqa: E402
from models.lifecycle.churn import ChurnModel, RecencyBaseline, evaluate_churn  # noqa: E402
from models.lifecycle.value import PastSpendBaseline, ValueModel, evaluate_value  # noqa: E402
from models.lifecycle.windows import make_windows  # noqa: E402


def markdown(frame: pd.DataFrame, digits: int = 3, index: bool = True) -> str:
    """A DataFrame as a markdown table (floats rounded to ``digits``)."""
    frame = frame.reset_index() if index else frame

    def cell(value) -> str:
        if isinstance(value, float | np.floating):
            return "nan" if np.isnan(value) else f"{value:,.{digits}f}"
        return str(value)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * frame.shape[1]
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *rows])


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


@click.command()
@click.argument("data_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--completejourney", is_flag=True, help="Import the public data set first.")
@click.option("--as-of", default=None, help="End of the last outcome window (default: the "
              "day after the last line).")
@click.option("--horizon-days", default=None, type=click.IntRange(1),
              help="H (default: from the purchase cadence).")
@click.option("--n-windows", default=3, show_default=True, type=click.IntRange(2))
@click.option("--step-days", default=None, type=click.IntRange(1), help="Default: H.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(data_dir, completejourney, as_of, horizon_days, n_windows, step_days, verbose):
    """Benchmark the churn and value models on DATA_DIR (or --completejourney)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    ds, name = bench_dataset(data_dir, completejourney)
    as_of = (
        pd.Timestamp(as_of) if as_of
        else ds.transactions["timestamp"].max().normalize() + pd.Timedelta(days=1)
    )
    windows_s, windows = _timed(
        lambda: make_windows(ds, as_of, horizon_days, n_windows, step_days)
    )
    X_train, y_train = windows.train()
    X_val, y_val = windows.validation()
    churn_s, churn = _timed(lambda: ChurnModel().fit_windows(windows))
    baseline = RecencyBaseline().fit(X_train, y_train["churned"])
    value_s, value = _timed(lambda: ValueModel().fit_windows(windows))
    reasons_s, reasons = _timed(lambda: churn.reason_codes(X_val))
    H = windows.horizon_days

    click.echo(f"## Churn and value models on {name}\n")
    setup = pd.DataFrame({
        "as_of": [str(as_of.date())],
        "H days": [H],
        "validation cutoff": [str(windows.validation_cutoff.date())],
        "train cutoffs": [", ".join(str(c.date()) for c in windows.cutoffs[1:])],
        "train rows": [len(X_train)],
        "validation rows": [len(X_val)],
        "features": [churn.n_features_in_],
        "windows s": [windows_s],
        "churn fit s": [churn_s],
        "value fit s": [value_s],
        "total fit s": [windows_s + churn_s + value_s],
        "reason codes s": [reasons_s],
    })
    click.echo(markdown(setup, 2, index=False) + "\n")

    evaluation = evaluate_churn(churn, X_val, y_val["churned"], baseline)
    click.echo(f"### Churn (no purchase in {H} days), validation window\n")
    click.echo(markdown(evaluation.metrics) + "\n")
    click.echo("Lift by decile (model):\n")
    click.echo(markdown(evaluation.lift, index=False) + "\n")
    click.echo("Calibration (model, quantile bins):\n")
    click.echo(markdown(evaluation.calibration, index=False) + "\n")

    click.echo(f"### Value (spend in the next {H} days), validation window\n")
    table = evaluate_value(value, X_val, y_val["future_spend"], PastSpendBaseline(H))
    table.loc[f"last_{H}d_spend_baseline"] = model_metrics.regression_metrics(
        y_val["future_spend"], y_val["past_spend"]
    )
    click.echo(markdown(table, 3) + "\n")
    clv = value.predict_clv(X_val)
    click.echo(
        f"12-month CLV: spend retention per period {value.retention_:.3f}, discount rate "
        f"{value.discount_rate:.0%}, multiplier {value.clv_multiplier():.2f}; CLV mean "
        f"{clv.mean():,.0f}, median {np.median(clv):,.0f}, p90 {np.quantile(clv, 0.9):,.0f}\n"
    )

    click.echo("### Churn reason codes (validation window, top 3 per member)\n")
    counts = reasons.groupby("code").agg(
        members=("member_id", "nunique"), rank1=("rank", lambda r: int((r == 1).sum())),
        mean_impact=("impact", "mean"),
    ).sort_values("members", ascending=False)
    click.echo(markdown(counts) + "\n")
    risk = pd.Series(churn.predict_proba(X_val), index=X_val.index)
    top = risk.sort_values(ascending=False).index[:: max(1, len(risk) // 50)][:5]
    examples = reasons[reasons["member_id"].isin(top)]
    click.echo(markdown(examples[["member_id", "rank", "code", "impact", "text"]], index=False))
    click.echo(f"\n({os.cpu_count()} CPUs)", err=True)


if __name__ == "__main__":
    main()

"""What ``offers score --horizon-days N`` answers, judged on the N days after the version.

    .venv/bin/python bench/bench_served_horizons.py data/completejourney \
        --horizons 30 45 61 90 120 --config tune_false.toml

For each ``N``: trains a version on the rows before ``end - N`` days (``end``: the
day after the last line), scores every member who bought before that date at
``N`` days with the version's served answer (the validated models placed on
each member's BG/NBD curve, ``training.artifacts.horizons``) and with BG/NBD +
Gamma-Gamma alone (what it answered before), and measures both on what those
members did in the ``N`` days after, next to recency only (days since the last
purchase; ranks only, so no PR-AUC/ROC-AUC fitting) and the past-spend rate (the
last 90 days' spend scaled to ``N``). The period is the one
``validate_horizon(..., end, N)`` validates on, and its numbers (the models
trained at ``N`` on earlier windows, on its own members) are printed beside.
ROC-AUC and PR-AUC for churn ("no purchase in the N days"), Spearman, MAE and
top-decile capture for spend; a table per task and a CSV under ``--out``.

Spend is also summed: each answer's total over the members' actual total (``sum``),
in all and by days since the last purchase (``sum <= N``, ``sum N-2N``, ``sum 2N-4N``,
``sum > 4N``),
for the served median (``expected_spend_<N>d``), the served mean (``mean_spend_<N>d``:
the spend model's mean forecast carried along the BG/NBD curve, or BG/NBD + Gamma-Gamma
where that summed closer on the version's own later periods), BG/NBD + Gamma-Gamma
and the past-spend rate: the revenue forecast of a segment is such a sum.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd

from features.loading import load_dataset
from models import metrics
from models.lifecycle import spend_by_recency, spend_sums
from models.lifecycle.reliability import recency_bands
from training.artifacts import open_version
from training.artifacts.horizons import HorizonScorer, load_horizon_scorer
from training.config import load_config
from training.horizon_step import validate_horizon
from training.pipeline import train


def outcomes(transactions: pd.DataFrame, start: pd.Timestamp, days: int) -> pd.DataFrame:
    """Per member: ``churned`` (no line in [start, start + days)) and ``spend`` there."""
    after = transactions[(transactions["timestamp"] >= start)
                         & (transactions["timestamp"] < start + pd.Timedelta(days=days))]
    spend = after.groupby("member_id")["amount"].sum()
    return spend.rename("spend").to_frame()


def scored(artifacts_dir, version: str, transactions: pd.DataFrame, as_of: pd.Timestamp,
           days: int) -> pd.DataFrame:
    """The members who bought before ``as_of``: each answer at ``days`` and what they did."""
    version = open_version(artifacts_dir, version)
    served = load_horizon_scorer(version)
    cycle = HorizonScorer({k: v for k, v in served.params.items() if k != "served"},
                          served.summary.reset_index(drop=True).assign(
                              member_id=served.summary.index))
    ids = served.summary.index[served.summary["T"].notna()]
    out = pd.DataFrame(index=ids)
    for name, scorer in (("served", served), ("bgnbd", cycle)):
        found = scorer.columns(ids, [days])
        out[f"{name}_risk"] = found[f"churn_risk_{days}d"].to_numpy()
        out[f"{name}_spend"] = found[f"expected_spend_{days}d"].to_numpy()
        if name == "served":
            out["mean_spend"] = found[f"mean_spend_{days}d"].to_numpy()
    summary = served.summary.loc[ids]
    out["recency_risk"] = (summary["T"] - summary["recency"]).to_numpy()  # days since last
    tx = transactions.assign(member_id=transactions["member_id"].astype(str))
    before = tx[(tx["timestamp"] < as_of) & (tx["timestamp"] >= as_of - pd.Timedelta(days=90))]
    recent = before.groupby("member_id")["amount"].sum().reindex(ids).fillna(0.0)
    out["past_rate_spend"] = recent.to_numpy() * days / 90.0
    actual = outcomes(tx, as_of, days).reindex(ids)
    out["spend"] = actual["spend"].fillna(0.0).to_numpy()
    out["churned"] = actual["spend"].isna().to_numpy().astype(float)
    out.attrs["served"] = served.served  # the model chosen for each task
    out.attrs["days"] = days
    out.attrs["mean"] = (served.params.get("served") or {}).get("mean", "bgnbd_gamma_gamma")
    return out


def measure(table: pd.DataFrame) -> list[dict]:
    rows = []
    chosen = table.attrs["served"]
    for name in ("served", "bgnbd", "recency"):
        score = table[f"{name}_risk"].to_numpy()
        rows.append({"task": "churn", "answer": name if name != "served"
                     else f"served: {chosen['churn']}",
                     "roc_auc": metrics.roc_auc(table["churned"], score),
                     "pr_auc": metrics.pr_auc(table["churned"], score)})
    names = ("served", "mean", "bgnbd", "past_rate")
    spend = {name: table[f"{name}_spend"].to_numpy() for name in names}
    days = table.attrs["days"]
    sums = spend_sums(spend_by_recency(spend, table["spend"], table["recency_risk"], days))
    bands = ("sum <= N", "sum N-2N", "sum 2N-4N", "sum > 4N")  # days since the last purchase
    for name in names:
        pred = spend[name]
        found = sums[name]["by_last_purchase"]
        rows.append({"task": "value", "answer": {
                         "served": f"served: {chosen['value']}",
                         "mean": f"served mean: {table.attrs['mean']}"}.get(name, name),
                     "spearman": metrics.spearman(table["spend"], pred),
                     "mae": metrics.mae(table["spend"], pred),
                     "top_decile_capture": metrics.top_decile_capture(table["spend"], pred),
                     "sum": sums[name]["total_ratio"],
                     **{label: found.get(band) for band, label in zip(recency_bands(days), bands)}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--horizons", type=int, nargs="+", default=[30, 45, 61, 90, 120])
    parser.add_argument("--config", help="a training settings TOML (e.g. tune = false)")
    parser.add_argument("--out", default="bench_served_horizons.csv")
    args = parser.parse_args()
    config = load_config(args.config) if args.config else None
    dataset = load_dataset(args.data_dir)
    tx = dataset.transactions
    end = tx["timestamp"].max().normalize() + pd.Timedelta(days=1)
    rows = []
    for days in args.horizons:
        as_of = end - pd.Timedelta(days=days)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            version, _ = train(args.data_dir, tmp, as_of=as_of, config=config)
            print(f"{days} days: trained before {as_of.date()} in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            table = scored(tmp, version, tx, as_of, days)
        for row in measure(table):
            rows.append({"horizon_days": days, "members": len(table), **row})
        reference = validate_horizon(dataset, end, days)
        for task, models in (("churn", ("churn_model", "recency_only")),
                             ("value", ("value_model", "past_spend_rate"))):
            for model in models:
                rows.append({"horizon_days": days, "task": task,
                             "answer": f"validate_horizon {model}",
                             "members": reference["validation_members"],
                             **reference[task][model]})
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out, index=False)
    with pd.option_context("display.width", 160, "display.precision", 4):
        for task in ("churn", "value"):
            print(frame[frame["task"] == task].dropna(axis=1, how="all").to_string(index=False))


if __name__ == "__main__":
    main()

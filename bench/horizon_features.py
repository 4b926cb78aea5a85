"""Do BG/NBD outputs help the boosted churn and value models as features? Before/after.

    .venv/bin/python bench/horizon_features.py data/completejourney --horizons 28 61

At each horizon h: windows with horizon h, the churn and value models trained on
the earlier windows with the usual member features ("before") and with three more
("after"): BG/NBD P(alive), expected purchase days in the next h days and
Gamma-Gamma spend per purchase, each fitted at the window's own cutoff on the
purchases before it. Both are judged on the latest window.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from features.loading import load_dataset
from features.member_features import build_member_features
from models import metrics as model_metrics
from models.lifecycle import (
    BetaGeoModel,
    ChurnModel,
    GammaGammaModel,
    ValueModel,
    make_windows,
    purchase_summary,
)


def with_cycle(horizon: int):
    def builder(dataset, cutoff):
        feats = build_member_features(dataset, cutoff)
        feats.index = feats.index.astype(str)
        summary = purchase_summary(dataset.transactions, cutoff)
        bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
        gg = GammaGammaModel().fit(summary["frequency"], summary["monetary"])
        x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
        extra = pd.DataFrame({
            "bg_p_alive": bg.p_alive(x, t_x, age),
            "bg_expected_purchases": bg.expected_purchases(horizon, x, t_x, age),
            "gg_spend_per_purchase": gg.expected_spend(x, summary["monetary"]),
        }, index=summary.index)
        return feats.join(extra, how="left")
    return builder


def scores(windows, seed=0) -> dict:
    X_train, out_train = windows.train()
    X_val, out_val = windows.validation()
    churn = ChurnModel(random_state=seed).fit(X_train, out_train["churned"])
    value = ValueModel(random_state=seed).fit(X_train, out_train["future_spend"],
                                              past_spend=out_train["past_spend"])
    c = model_metrics.classification_metrics(out_val["churned"].to_numpy().astype(np.float64),
                                             churn.predict_proba(X_val))
    v = model_metrics.regression_metrics(out_val["future_spend"].to_numpy(), value.predict(X_val))
    return {"churn_roc_auc": c["roc_auc"], "churn_pr_auc": c["pr_auc"],
            "spend_spearman": v["spearman"], "spend_mae": v["mae"],
            "spend_top_decile": v["top_decile_capture"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--horizons", type=int, nargs="+", default=[28, 61])
    args = parser.parse_args()
    dataset = load_dataset(args.data_dir)
    as_of = dataset.transactions["timestamp"].max().normalize() + pd.Timedelta(days=1)
    rows = []
    for h in args.horizons:
        rows.append({"horizon_days": h, "features": "member features",
                     **scores(make_windows(dataset, as_of, h))})
        rows.append({"horizon_days": h, "features": "+ BG/NBD, Gamma-Gamma",
                     **scores(make_windows(dataset, as_of, h, feature_builder=with_cycle(h)))})
    with pd.option_context("display.width", 160, "display.precision", 4):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()

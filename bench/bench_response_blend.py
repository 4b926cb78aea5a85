"""Issue 12 (brief resp82b): would a blend of logistic and boosted trees, or one model per
offer type, beat the pooled logistic model on later Complete Journey sends?

Usage::

    python bench/bench_response_blend.py --data DIR [--split 2017-08-01 2017-09-01]

Prints ROC-AUC and PR-AUC on the sends after each split of: logistic, hgb, the mean of
their probabilities, the mean of their logits, and one logistic model per offer type
(types with >200 training sends; others keep the pooled model's score), and the pooled
logistic model with type-B x member-feature columns (every numeric ``m__`` column, or the
coupon-use / redemption ones only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.loading import load_dataset  # noqa: E402
from models.metrics import pr_auc, roc_auc  # noqa: E402
from models.offer_response import offer_specs_from_events  # noqa: E402
from models.offer_response.evaluation import time_split_rows  # noqa: E402
from models.offer_response.model import OfferResponseModel  # noqa: E402
from models.offer_response.rows import LABEL  # noqa: E402


def per_type(train, test, pooled: np.ndarray) -> np.ndarray:
    out = pooled.copy()
    for t in test["type"].astype(str).unique():
        in_train = train["type"].astype(str) == t
        in_test = (test["type"].astype(str) == t).to_numpy()
        if in_train.sum() > 200 and train.loc[in_train, LABEL].nunique() == 2:
            out[in_test] = OfferResponseModel(estimator="logistic", random_state=0) \
                .fit(train[in_train]).predict_proba_rows(test[in_test])
    return out


def type_b_interactions(rows: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    is_b = (rows["type"].astype(str) == "Type B").astype(float)
    return pd.concat([rows, pd.DataFrame({f"{c}_x_type_b": rows[c] * is_b for c in cols},
                                         index=rows.index)], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", nargs="+", default=["2017-08-01", "2017-09-01"])
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        dataset = load_dataset(args.data, now="2018-01-01")
        offers = offer_specs_from_events(dataset, args.data)
        for split in args.split:
            train, test = time_split_rows(dataset, offers, split)
            y = test[LABEL].to_numpy(dtype=bool)
            p = {kind: OfferResponseModel(estimator=kind, random_state=0).fit(train)
                 .predict_proba_rows(test) for kind in ("logistic", "hgb")}
            lo, hg = (np.clip(p[k], 1e-6, 1 - 1e-6) for k in ("logistic", "hgb"))
            p["blend mean p"] = (lo + hg) / 2
            p["blend mean logit"] = expit((logit(lo) + logit(hg)) / 2)
            p["per-type logistic"] = per_type(train, test, p["logistic"])
            numeric = [c for c in train.columns
                       if c.startswith("m__") and pd.api.types.is_numeric_dtype(train[c])]
            for name, cols in (("B x all m__", numeric),
                               ("B x coupon/redeem",
                                [c for c in numeric if "coupon" in c or "redemp" in c])):
                p[name] = OfferResponseModel(estimator="logistic", random_state=0) \
                    .fit(type_b_interactions(train, cols)) \
                    .predict_proba_rows(type_b_interactions(test, cols))
            print(f"\nsplit {split}: {len(train)} training sends, {len(test)} test sends")
            for name, score in p.items():
                print(f"  {name:18s} ROC-AUC {roc_auc(y, score):.4f} PR-AUC {pr_auc(y, score):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

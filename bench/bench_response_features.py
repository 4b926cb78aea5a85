"""Would per-type redemption history help the offer-response model? Complete Journey, by time.

Usage::

    python bench/bench_response_features.py --data DIR [--split 2017-08-01 2017-09-01]

Trains on the campaigns sent before each split (labels as known then) and
scores the later ones (models.offer_response.evaluation.time_split_rows), with
today's features and with candidate features added as member columns (the
model learns from every numeric ``m__`` column):

- ``type_sends``, ``type_redemptions``: the member's earlier sends and
  redemptions of offers of the same type, before the send;
- ``type_redemption_rate``: their ratio (NaN: never sent that type);
- ``days_since_type_redemption``: days since the member last redeemed that type.

Today's features already hold the member's overall redemption rate, days since
the last redemption and coupon-use share (features.member_features). Prints
ROC-AUC and PR-AUC of each variant, logistic and boosted trees, and two baselines:
the member's past redemption rate, and gradient boosting on recency, frequency and
monetary value only (issue 12).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.loading import load_dataset  # noqa: E402
from models.metrics import pr_auc, roc_auc  # noqa: E402
from models.offer_response import offer_specs_from_events  # noqa: E402
from models.offer_response.evaluation import baseline_scores, time_split_rows  # noqa: E402
from models.offer_response.model import OfferResponseModel  # noqa: E402
from models.offer_response.rows import LABEL  # noqa: E402

CANDIDATES = ("type_sends", "type_redemptions", "type_redemption_rate",
              "days_since_type_redemption")


def type_history(events: pd.DataFrame, offers: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The candidate features of each row, from offer events strictly before its send."""
    kind = offers.set_index("offer_id")["type"]
    ev = events[events["event"].isin(["sent", "redeemed"])].copy()
    ev = ev.assign(member_id=ev["member_id"].astype(str), type=ev["offer_id"].astype(str).map(kind),
                   t=ev["timestamp"].to_numpy().astype("datetime64[ns]").astype("int64"))
    groups = {key: (g.loc[g["event"] == "sent", "t"].sort_values().to_numpy(),
                    g.loc[g["event"] == "redeemed", "t"].sort_values().to_numpy())
              for key, g in ev.groupby(["member_id", "type"], observed=True)}
    t = rows["sent_at"].to_numpy().astype("datetime64[ns]").astype("int64")
    types = rows["offer_id"].astype(str).map(kind).to_numpy()
    out = np.full((len(rows), 4), np.nan)
    for i, (member, typ, when) in enumerate(zip(rows["member_id"].astype(str), types, t)):
        sent, redeemed = groups.get((member, typ), (np.empty(0), np.empty(0)))
        n_sent = np.searchsorted(sent, when, side="left")
        n_red = np.searchsorted(redeemed, when, side="left")
        last = redeemed[n_red - 1] if n_red else np.nan
        out[i] = (n_sent, n_red, n_red / n_sent if n_sent else np.nan,
                  (when - last) / 86_400e9 if n_red else np.nan)
    return pd.DataFrame(out, index=rows.index, columns=[f"m__{c}" for c in CANDIDATES])


RFM = ["m__recency_days", "m__frequency", "m__monetary_total"]


def rfm_boosting(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Issue 12's second baseline: gradient boosting on the member's recency, frequency and
    monetary value alone (as of each send), fitted on the training sends."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(random_state=0)
    model.fit(train[RFM].astype("float64"), train[LABEL].to_numpy(dtype=bool))
    return model.predict_proba(test[RFM].astype("float64"))[:, 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", nargs="+", default=["2017-08-01", "2017-09-01"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    with threadpool_limits(args.threads):
        dataset = load_dataset(args.data, now="2018-01-01")
        offers = offer_specs_from_events(dataset, args.data)
        for split in args.split:
            started = time.perf_counter()
            train, test = time_split_rows(dataset, offers, split)
            y = test[LABEL].to_numpy(dtype=bool)
            base = float(train[LABEL].mean())
            print(f"\nsplit {split}: {len(train)} training sends, {len(test)} test sends "
                  f"({y.mean():.3f} redeemed)")
            extra = [type_history(dataset.offer_events, offers, part) for part in (train, test)]
            variants = {"today": ([], train, test)}
            for name, cols in (("+type rate", ["type_redemption_rate"]),
                               ("+type counts", ["type_sends", "type_redemptions"]),
                               ("+type recency", ["days_since_type_redemption"]),
                               ("+all four", list(CANDIDATES))):
                keep = [f"m__{c}" for c in cols]
                variants[name] = (cols, pd.concat([train, extra[0][keep]], axis=1),
                                  pd.concat([test, extra[1][keep]], axis=1))
            print(f"  {'features':16s} {'estimator':10s} {'ROC-AUC':>8s} {'PR-AUC':>8s}")
            for name, (_, tr, te) in variants.items():
                for kind in ("logistic", "hgb"):
                    p = OfferResponseModel(estimator=kind, random_state=0).fit(tr) \
                        .predict_proba_rows(te)
                    print(f"  {name:16s} {kind:10s} {roc_auc(y, p):8.3f} {pr_auc(y, p):8.3f}")
            rate = baseline_scores(test, base)["past_redemption_rate"]
            print(f"  {'past rate':16s} {'-':10s} {roc_auc(y, rate):8.3f} {pr_auc(y, rate):8.3f}")
            rfm = rfm_boosting(train, test)
            print(f"  {'RFM only':16s} {'hgb':10s} {roc_auc(y, rfm):8.3f} {pr_auc(y, rfm):8.3f}"
                  f"   [{time.perf_counter() - started:.0f}s]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

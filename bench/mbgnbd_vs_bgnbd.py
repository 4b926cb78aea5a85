"""BG/NBD against the modified BG/NBD (MBG/NBD) as churn scores, at several cutoffs.

    .venv/bin/python bench/mbgnbd_vs_bgnbd.py DATA_DIR --horizons 30 60 90 --offsets 0 45 90

BG/NBD gives members without a repeat purchase P(alive) = 1; MBG/NBD (Batislam,
Denizel & Filiztekin 2007) lets them drop out at their first purchase. For each
offset and horizon h, both are fitted on the purchase summary at ``cutoff = end -
offset - h`` and their P(no purchase in h) is judged on the h days after, with
recency only beside them (PR-AUC, ROC-AUC, total log-likelihood). MBG/NBD is a
subclass here, not a model of the project (bench/RESULTS.md: not added).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.special import betaln, gammaln

from features.loading import load_dataset
from models.lifecycle.bgnbd import BetaGeoModel, _arrays, purchase_summary
from models.metrics import pr_auc, roc_auc


class ModifiedBetaGeo(BetaGeoModel):
    """MBG/NBD: BG/NBD whose members may also drop out at their first purchase."""

    @staticmethod
    def _log_likelihood(params, x, t_x, age) -> np.ndarray:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x + 1) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + age)
        a4 = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
        return a1 + a2 + np.logaddexp(a3, a4)

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        r, alpha, a, b = self._params()
        x, t_x, age = _arrays(frequency, recency, T)
        log_ratio = (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
        return 1.0 / (1.0 + np.exp(np.log(a) - np.log(b + x) + np.minimum(log_ratio, 700.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--horizons", type=int, nargs="+", default=[28, 61, 90])
    parser.add_argument("--offsets", type=int, nargs="+", default=[0, 28, 56])
    args = parser.parse_args()
    tx = load_dataset(args.data_dir).transactions
    end = tx["timestamp"].max().normalize() + pd.Timedelta(days=1)
    rows = []
    for offset in args.offsets:
        for h in args.horizons:
            cutoff = end - pd.Timedelta(days=offset + h)
            s = purchase_summary(tx, cutoff)
            later = tx[(tx["timestamp"] >= cutoff)
                       & (tx["timestamp"] < cutoff + pd.Timedelta(days=h))]
            y = (~s.index.isin(later["member_id"].astype(str).unique())).astype(float)
            inputs = [s[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
            row = {"cutoff": cutoff.date().isoformat(), "h": h, "churners": int(y.sum()),
                   "members": len(y), "one_time": float((s["frequency"] == 0).mean())}
            scores = {"recency": (s["T"] - s["recency"]).to_numpy()}
            for name, cls in (("bgnbd", BetaGeoModel), ("mbgnbd", ModifiedBetaGeo)):
                model = cls().fit(*inputs)
                scores[name] = model.p_no_purchase(h, *inputs)
                row[f"{name}_ll"] = float(model._log_likelihood(
                    np.array(list(model.params_.values())), *inputs).sum())
            for name, score in scores.items():
                row[f"{name}_pr"] = pr_auc(y, score)
                row[f"{name}_roc"] = roc_auc(y, score)
            rows.append(row)
    with pd.option_context("display.width", 250, "display.precision", 4):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()

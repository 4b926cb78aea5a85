"""Planned-send scores on later campaigns: the learned P(redeem) vs the old heuristic.

Usage::

    offers train DATA_DIR --out ART --as-of 2017-09-01
    python bench/bench_planned_sends.py ART DATA_DIR

Scores every send of the data made at or after the version's ``as_of`` (campaigns
the model never saw) as ``offers predict-response --data`` does
(:class:`serving.engine.data_offers.DataOffers`), labels it from the full data
(redeemed within the offer's window), and prints, overall and per offer type,
ROC-AUC, PR-AUC and the Brier score of

* ``model``: the learned response model (what the engine and predict-response use);
* ``heuristic``: the engine's estimate before issue 12, ``prior(type) x
  responsiveness(member) x (0.5 + 0.5 x lift)`` (responsiveness: the member's
  ``p_redeem_base`` over its mean, clipped as the engine clips it);
* ``past rate``: the member's past redemption rate (a ranking baseline; no Brier);

and the model's and the heuristic's reliability curves (ten bins of predicted P).
With ``--bootstrap N`` it also prints a 95% interval of the model's ROC-AUC (and of
its margin over the heuristic) from N resamples of the members, each with all of
its sends (a member's sends are not independent): how far apart two measured
ROC-AUCs must be before the difference means something.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.metrics import brier, pr_auc, roc_auc  # noqa: E402
from models.offer_response import OfferResponsePrior  # noqa: E402
from models.offer_response.rows import LABEL, label_sends  # noqa: E402
from serving.engine import load_bundle  # noqa: E402
from serving.engine.data_offers import DataOffers  # noqa: E402
from serving.engine.member_context import RESPONSIVENESS_BOUNDS  # noqa: E402


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate per quantile bin of ``p``."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"bin": which, "p": p, "y": y})
    return frame.groupby("bin").agg(n=("y", "size"), predicted=("p", "mean"),
                                    observed=("y", "mean"))


def member_bootstrap(y: np.ndarray, scores: dict[str, np.ndarray], members: np.ndarray,
                     n: int, seed: int = 0) -> pd.DataFrame:
    """ROC-AUC of each score on ``n`` resamples of the members (all sends of each drawn
    member), as rows of a frame with one column per score."""
    codes, uniq = pd.factorize(members)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        drawn = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([order[starts[d]:starts[d + 1]] for d in drawn])
        if len(np.unique(y[idx])) < 2:
            continue
        rows.append({name: roc_auc(y[idx], p[idx]) for name, p in scores.items()})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("data_dir")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="resamples of the members for a 95%% interval of ROC-AUC")
    args = parser.parse_args()
    bundle = load_bundle(args.artifacts_dir)
    data = DataOffers(bundle, args.data_dir)
    events = data.dataset.offer_events
    end = events["timestamp"].max() + pd.Timedelta(days=1)
    sends = label_sends(events, data.specs, as_of=end)
    sends = sends[sends["sent_at"] >= bundle.as_of].reset_index(drop=True)
    members = sends["member_id"].astype(str).to_numpy()
    offers = sends["offer_id"].astype(str).to_numpy()
    y = sends[LABEL].to_numpy(dtype=bool)
    p_model = data.p_redeem(members, offers)

    specs = data.specs.set_index(data.specs["offer_id"].astype(str))
    kinds = specs.loc[offers, "type"].astype(str).to_numpy()
    prior = OfferResponsePrior().fit()
    rows = np.array([bundle.row(m) for m in members])
    base = bundle.members.numeric["p_redeem_base"]
    resp = np.where(rows >= 0, base[np.maximum(rows, 0)] / np.nanmean(base), 1.0)
    resp = np.clip(np.where(np.isfinite(resp), resp, 1.0), *RESPONSIVENESS_BOUNDS)
    from models.offer_response import compute_affinity

    uniq_m, uniq_o = pd.Index(pd.unique(members)), pd.Index(pd.unique(offers))
    aff = compute_affinity(data.dataset, specs.loc[uniq_o].reset_index(drop=True),
                           bundle.as_of, uniq_m.to_numpy())
    lift = aff.lift[uniq_m.get_indexer(members), uniq_o.get_indexer(offers)]
    lift = np.minimum(np.where(np.isfinite(lift), lift, 1.0), 3.0)
    p_heur = np.clip(np.array([prior.prior_for(k) for k in kinds]) * resp * (0.5 + 0.5 * lift),
                     0, 0.95)
    names = bundle.response.model.member_columns_
    rate = bundle.response.members[np.maximum(rows, 0), names.index("redemption_rate")]
    rate = np.where((rows >= 0) & np.isfinite(rate), rate, 0.0)

    print(f"version {bundle.version} (as_of {bundle.as_of.date()}): {len(y):,} later sends of "
          f"{len(uniq_o)} campaigns, {y.mean():.3f} redeemed")
    print(f"{'type':>8} {'sends':>7} {'rate':>6} | {'ROC model':>9} {'heur':>6} {'past':>6} | "
          f"{'PR model':>8} {'heur':>6} {'past':>6} | {'Brier model':>11} {'heur':>6}")
    groups = [("all", np.ones(len(y), bool))] + [(k, kinds == k) for k in sorted(set(kinds))]
    for name, m in groups:
        if len(np.unique(y[m])) < 2:
            continue
        print(f"{name:>8} {int(m.sum()):>7} {y[m].mean():6.3f} | "
              f"{roc_auc(y[m], p_model[m]):9.3f} {roc_auc(y[m], p_heur[m]):6.3f} "
              f"{roc_auc(y[m], rate[m]):6.3f} | {pr_auc(y[m], p_model[m]):8.3f} "
              f"{pr_auc(y[m], p_heur[m]):6.3f} {pr_auc(y[m], rate[m]):6.3f} | "
              f"{brier(y[m], p_model[m]):11.4f} {brier(y[m], p_heur[m]):6.4f}")
    for label, p in (("model", p_model), ("heuristic", p_heur)):
        curve = reliability(y, p)
        print(f"reliability, {label}: " + "; ".join(
            f"{r.predicted:.3f}->{r.observed:.3f}" for r in curve.itertuples()))
    if args.bootstrap:
        draws = member_bootstrap(y, {"model": p_model, "heuristic": p_heur}, members,
                                 args.bootstrap)
        margin = draws["model"] - draws["heuristic"]
        for label, values in (("model ROC-AUC", draws["model"]),
                              ("model - heuristic", margin)):
            low, high = np.quantile(values, [0.025, 0.975])
            print(f"{label}: 95% interval [{low:.3f}, {high:.3f}] over {len(values)} "
                  f"resamples of {len(np.unique(members)):,} members (sd {values.std():.4f})")


if __name__ == "__main__":
    main()

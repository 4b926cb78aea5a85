"""How well calibrated the engine's P(redeem) is on later sends, next to the old heuristic.

:func:`later_sends_calibration` splits the training rows by send time as the
model's own estimator choice does (the latest ``validation_fraction`` of sends
held out), fits the chosen estimator on the earlier sends and scores the later
ones three ways:

- ``model``: the response model with every feature of the row;
- ``engine``: the same model fed what the offer engine feeds it
  (:mod:`serving.engine.response_model`: its engine variant, fitted without the
  per-member item purchase counts and product features);
- ``heuristic``: the engine's estimate before the learned model was used,
  ``prior(type) x responsiveness(member) x (0.5 + 0.5 x min(lift, 4))``, with the
  documented priors (:data:`~models.offer_response.prior.DEFAULT_PRIORS`) and
  the member's responsiveness as the engine computes it: the model's P(redeem)
  of a reference whole-basket offer over its mean (here: over the held-out
  sends' members), clipped to 0.25..4.

It returns the Brier score of each, overall and per offer type, and
reliability curves (mean predicted against observed redemption rate in
quantile bins of the prediction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.offer_response.inputs import MEMBER_PREFIX
from models.offer_response.model import OfferResponseModel
from models.offer_response.prior import OfferResponsePrior
from models.offer_response.products import PRODUCT_FEATURES
from models.offer_response.rows import LABEL

#: The engine's bounds on responsiveness, its lift cap and its largest P(redeem)
#: (serving.engine.member_context.RESPONSIVENESS_BOUNDS, EngineConfig.lift_cap and p_max;
#: a test keeps them equal).
RESPONSIVENESS_BOUNDS = (0.25, 4.0)
LIFT_CAP = 4.0
P_MAX = 0.95
SOURCES = ("engine", "model", "heuristic")


@dataclass(frozen=True)
class ResponseCalibration:
    """Brier scores and reliability curves of P(redeem) on the held-out later sends.

    Attributes
    ----------
    brier : DataFrame
        One row per offer type plus ``"all"``: ``offer_type``, ``sends``,
        ``redeemed_rate``, and ``brier_<source>`` for each of :data:`SOURCES`.
    curve : DataFrame
        ``source``, ``bin``, ``mean_predicted``, ``observed_rate``, ``sends``.
    split : Timestamp
        Sends at or after it were held out.
    """

    brier: pd.DataFrame
    curve: pd.DataFrame
    split: pd.Timestamp

    def summary(self) -> dict:
        """JSON-ready: the split, and per type the Brier scores and send counts."""
        return {
            "split": str(self.split), "brier": {
                row["offer_type"]: {k: (int(v) if k == "sends" else float(v))
                                    for k, v in row.items() if k != "offer_type"}
                for row in self.brier.to_dict("records")}}


def later_sends_calibration(rows: pd.DataFrame, estimator: str, *,
                            validation_fraction: float = 0.25, random_state=0,
                            bins: int = 10) -> ResponseCalibration | None:
    """See the module docstring; None when either part lacks a redeemed and a not-redeemed send."""
    sent_at = rows["sent_at"].to_numpy().astype("datetime64[ns]").astype("int64")
    split = np.quantile(sent_at, 1 - validation_fraction)
    late = sent_at >= split
    early_y = rows.loc[~late, LABEL].to_numpy(dtype=bool)
    y = rows.loc[late, LABEL].to_numpy(dtype=bool)
    if len(np.unique(early_y)) < 2 or len(np.unique(y)) < 2:
        return None
    model = OfferResponseModel(estimator=estimator, random_state=random_state).fit(
        rows.loc[~late])
    test = rows.loc[late].reset_index(drop=True)
    p = {"model": model.predict_proba_rows(test),
         "engine": model.engine_variant().predict_proba_rows(test),
         "heuristic": _heuristic(model, test)}
    types = test["type"].astype(str).to_numpy()
    records = []
    for name, mask in [("all", np.ones(len(y), bool)),
                       *((t, types == t) for t in sorted(set(types)))]:
        records.append({"offer_type": name, "sends": int(mask.sum()),
                        "redeemed_rate": float(y[mask].mean()),
                        **{f"brier_{s}": float(np.mean((p[s][mask] - y[mask]) ** 2))
                           for s in SOURCES}})
    curve = pd.concat([_reliability(p[s], y, bins).assign(source=s) for s in SOURCES],
                      ignore_index=True)
    return ResponseCalibration(pd.DataFrame(records), curve[["source", "bin", "mean_predicted",
                                                             "observed_rate", "sends"]],
                               pd.Timestamp(int(split), unit="ns"))


def _heuristic(model: OfferResponseModel, rows: pd.DataFrame) -> np.ndarray:
    """prior(type) x responsiveness x (0.5 + 0.5 x min(lift, cap)), as the engine computed it."""
    frequency = MEMBER_PREFIX + "frequency"
    buyer = (rows[frequency].to_numpy(dtype="float64") > 0 if frequency in rows.columns
             else rows["category_share"].notna().to_numpy())
    reference = rows.assign(type="unknown", depth=np.nan, n_categories=0.0, population_share=1.0,
                            category_share=np.where(buyer, 1.0, np.nan),
                            lift=np.where(buyer, 1.0, np.nan), item_purchases=np.nan,
                            **dict.fromkeys(PRODUCT_FEATURES, np.nan))
    base = model.predict_proba_rows(reference)
    mean = float(np.mean(base))
    responsiveness = np.clip(base / mean, *RESPONSIVENESS_BOUNDS) if mean > 0 else 1.0
    priors = OfferResponsePrior().fit()
    prior = rows["type"].map(priors.prior_for).to_numpy(dtype="float64")
    lift = np.minimum(rows["lift"].to_numpy(dtype="float64"), LIFT_CAP)
    lift = np.where(np.isnan(lift), 1.0, lift)
    return np.clip(prior * responsiveness * (0.5 + 0.5 * lift), 0.0, P_MAX)


def _reliability(p: np.ndarray, y: np.ndarray, bins: int) -> pd.DataFrame:
    """Mean prediction and observed rate in (at most) ``bins`` quantile bins of ``p``."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    frame = pd.DataFrame({"bin": which, "p": p, "y": y.astype(float)})
    out = frame.groupby("bin").agg(mean_predicted=("p", "mean"), observed_rate=("y", "mean"),
                                   sends=("y", "size")).reset_index()
    return out

"""Held-out-by-time evaluation of the offer-response model against simple baselines.

Train on the sends before ``split`` with their labels as known at ``split``
(sends whose window was still open then are dropped); test on the sends at or
after ``split``, labelled with everything the data set knows (sends whose
window outlasts the data are dropped). Features of both come from before
each send, so nothing after a send leaks into its features.

Scores compared on the test sends (ROC-AUC, PR-AUC = average precision):

- ``model``: :class:`OfferResponseModel` (``estimator="auto"``), and each
  estimator forced (``model_hgb``, ``model_logistic``);
- ``prior``: :class:`OfferResponsePrior` (types with no prior get the default);
- ``affinity``: the member's spend share in the offer's categories;
- ``affinity_lift``: that share over everyone's;
- ``item_purchases``: past purchase lines of the offer's items;
- ``past_redemption_rate``: the member's redemption rate before the send
  (members never sent an offer get the training base rate).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import DataError
from models.metrics import pr_auc, roc_auc
from models.offer_response.inputs import MEMBER_PREFIX
from models.offer_response.model import OfferResponseModel, OfferResponsePrior
from models.offer_response.products import attach_product_columns
from models.offer_response.rows import (
    LABEL,
    attach_offer_columns,
    default_as_of,
    label_sends,
    response_features,
)
from models.offer_response.specs import validate_offer_specs

logger = logging.getLogger(__name__)

KEYS = ["member_id", "offer_id", "sent_at"]


def time_split_rows(
    dataset: Dataset,
    offers: pd.DataFrame,
    split: pd.Timestamp | str,
    *,
    horizon_days: float = 60.0,
    cutoff_freq: str = "D",
    member_features=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows (sends before ``split``, labels as of ``split``) and test rows (after).

    Features are built once for all sends. Parameters are those of
    :func:`~models.offer_response.rows.build_response_rows`.

    Returns
    -------
    train, test : DataFrame
        Row frames as :func:`build_response_rows` returns them.
    """
    offers = validate_offer_specs(offers)
    split = pd.Timestamp(split)
    end = default_as_of(dataset)
    train = label_sends(dataset.offer_events, offers, as_of=split, horizon_days=horizon_days)
    test = label_sends(dataset.offer_events, offers, as_of=end, horizon_days=horizon_days)
    test = test[test["sent_at"] >= split]
    if not len(train) or not len(test):
        raise DataError(
            f"split={split} leaves {len(train)} training and {len(test)} test sends; "
            "pick a date between the first and the last campaign."
        )
    sends = pd.concat([train, test], ignore_index=True).drop_duplicates(KEYS)
    features = response_features(dataset, offers, sends, cutoff_freq=cutoff_freq,
                                 member_features=member_features)
    rows = attach_product_columns(
        attach_offer_columns(pd.concat([sends[KEYS], features], axis=1), offers), dataset, offers)
    merged = [
        part.merge(rows, on=KEYS, how="left", validate="many_to_one").reset_index(drop=True)
        for part in (train, test)
    ]
    return merged[0], merged[1]


def baseline_scores(rows: pd.DataFrame, base_rate: float) -> dict[str, np.ndarray]:
    """Scores of the simple baselines for each row (NaN features filled neutrally)."""
    rate_column = MEMBER_PREFIX + "redemption_rate"
    scores = {
        "affinity": rows["category_share"].fillna(0.0).to_numpy(),
        "affinity_lift": rows["lift"].fillna(0.0).to_numpy(),
        "item_purchases": rows["item_purchases"].fillna(0.0).to_numpy(),
    }
    if rate_column in rows.columns:
        scores["past_redemption_rate"] = rows[rate_column].astype("float64").fillna(
            base_rate).to_numpy()
    return scores


def within_offer_auc(offer_ids, y_true, y_score) -> float:
    """ROC-AUC within each offer, averaged with weights = rows (offers with one class skipped).

    How well a score ranks the members who got the same offer, free of the
    differences in redemption rate between offers.
    """
    frame = pd.DataFrame({"offer": np.asarray(offer_ids), "y": np.asarray(y_true, dtype=bool),
                          "s": np.asarray(y_score, dtype="float64")})
    aucs, weights = [], []
    for _, group in frame.groupby("offer", sort=False):
        value = roc_auc(group["y"], group["s"])
        if not np.isnan(value):
            aucs.append(value)
            weights.append(len(group))
    return float(np.average(aucs, weights=weights)) if aucs else float("nan")


def evaluate_time_split(
    dataset: Dataset,
    offers: pd.DataFrame,
    split: pd.Timestamp | str,
    *,
    horizon_days: float = 60.0,
    cutoff_freq: str = "D",
    random_state=0,
    member_features=None,
) -> dict:
    """Fit on sends before ``split``, score the later ones; see the module docstring.

    Returns
    -------
    dict
        ``split``, ``n_train``, ``n_test``, ``base_rate_train``, ``base_rate_test``,
        ``chosen`` (the estimator ``"auto"`` picked), ``validation`` (its
        internal scores) and ``scores``:
        ``{name: {"roc_auc", "pr_auc", "roc_auc_within_offer"}}``.
    """
    train, test = time_split_rows(dataset, offers, split, horizon_days=horizon_days,
                                  cutoff_freq=cutoff_freq, member_features=member_features)
    y_train = train[LABEL].to_numpy(dtype=bool)
    y_test = test[LABEL].to_numpy(dtype=bool)
    base_rate = float(y_train.mean())
    scores: dict[str, np.ndarray] = {}
    auto = OfferResponseModel(random_state=random_state).fit(train)
    scores["model"] = auto.predict_proba_rows(test)
    for kind in ("hgb", "logistic"):
        model = OfferResponseModel(estimator=kind, random_state=random_state).fit(train)
        scores[f"model_{kind}"] = model.predict_proba_rows(test)
    scores["prior"] = OfferResponsePrior().fit().predict_proba_rows(test)
    scores.update(baseline_scores(test, base_rate))
    result = {
        "split": str(pd.Timestamp(split).date()),
        "n_train": len(train), "n_test": len(test),
        "positives_train": int(y_train.sum()), "positives_test": int(y_test.sum()),
        "base_rate_train": base_rate, "base_rate_test": float(y_test.mean()),
        "chosen": auto.estimator_kind_, "validation": auto.validation_scores_,
        "scores": {
            name: {"roc_auc": roc_auc(y_test, s), "pr_auc": pr_auc(y_test, s),
                   "roc_auc_within_offer": within_offer_auc(test["offer_id"], y_test, s)}
            for name, s in scores.items()
        },
    }
    logger.info("time split at %s: %s", result["split"], result["scores"])
    return result

"""The learned offer-response model as plain numbers, so that serving never unpickles it.

Serving loads no pickle (tests/faults/test_signing.py): :func:`export_model` turns a
fitted :class:`~models.offer_response.model.OfferResponseModel` whose estimator is
the logistic pipeline (log-scale, impute with missing indicators, standardise,
logistic regression) into a JSON-ready dict, and :func:`import_model` rebuilds an
``OfferResponseModel`` that predicts the same numbers with numpy alone. A model
with the gradient-boosting estimator is not exported (None): the engine then keeps
its priors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features.errors import ArtifactError
from models.offer_response.model import OfferResponseModel

FORMAT = 1


class LogisticArrays:
    """``predict_proba`` of the fitted logistic pipeline, from its arrays."""

    def __init__(self, statistics, indicator, mean, scale, coef, intercept):
        self.statistics = np.asarray(statistics, dtype="float64")
        self.indicator = np.asarray(indicator, dtype=np.int64)
        self.mean = np.asarray(mean, dtype="float64")
        self.scale = np.asarray(scale, dtype="float64")
        self.coef = np.asarray(coef, dtype="float64")
        self.intercept = float(intercept)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype="float64")
        X = np.sign(X) * np.log1p(np.abs(X))
        missing = np.isnan(X)
        Z = np.hstack([np.where(missing, self.statistics[None, :], X),
                       missing[:, self.indicator].astype("float64")])
        logit = ((Z - self.mean) / self.scale) @ self.coef + self.intercept
        p = 1.0 / (1.0 + np.exp(-logit))
        return np.column_stack([1.0 - p, p])


def export_model(model: OfferResponseModel) -> dict[str, Any] | None:
    """``model`` as a JSON-ready dict; None when its estimator is not the logistic pipeline."""
    if getattr(model, "estimator_kind_", None) != "logistic":
        return None
    steps = dict(model.estimator_.steps)
    imputer, scaler = steps["simpleimputer"], steps["standardscaler"]
    regression = steps["logisticregression"]
    indicator = imputer.indicator_.features_ if imputer.indicator_ is not None else []
    return {
        "format": FORMAT, "member_columns": list(model.member_columns_),
        "types": list(model.types_),
        "product_columns": list(getattr(model, "product_columns_", [])),
        "used_features": [bool(u) for u in model.used_features_],
        "base_rate": float(model.base_rate_),
        "statistics": imputer.statistics_.tolist(), "indicator": [int(i) for i in indicator],
        "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
        "coef": regression.coef_[0].tolist(), "intercept": float(regression.intercept_[0]),
        # The engine's model, without the item-level features it cannot have (absent: this one).
        **({"engine": export_model(model.engine_model_)}
           if getattr(model, "engine_model_", None) is not None else {}),
    }


def import_model(data: dict[str, Any]) -> OfferResponseModel:
    """An ``OfferResponseModel`` predicting from :func:`export_model`'s dict (numpy only)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArtifactError(f"the exported offer-response model is not format {FORMAT}; "
                            "retrain with this program.")
    model = OfferResponseModel(estimator="logistic")
    model.member_columns_ = list(data["member_columns"])
    model.types_ = list(data["types"])
    model.product_columns_ = list(data.get("product_columns", []))  # absent: older versions
    model.used_features_ = np.asarray(data["used_features"], dtype=bool)
    model.base_rate_ = float(data["base_rate"])
    model.estimator_kind_ = "logistic"
    model.estimator_ = LogisticArrays(data["statistics"], data["indicator"], data["mean"],
                                      data["scale"], data["coef"], data["intercept"])
    model.engine_model_ = import_model(data["engine"]) if data.get("engine") else None
    return model

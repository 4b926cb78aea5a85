"""Churn risk and member value over time: labelled windows, the two models and their baselines.

- :func:`make_windows` builds labelled training windows (features as of a
  cutoff, outcomes over the next ``H`` days), split by time;
  :func:`make_engine_windows` builds the same on a relational engine (DuckDB);
- :class:`ChurnModel` (calibrated gradient boosting, with reason codes, as a long
  table or as flat per-member :class:`ReasonLists`) and
  :class:`RecencyBaseline`, compared by :func:`evaluate_churn`;
- :class:`ValueModel` (expected spend over ``H`` days, and the CLV from its mean
  forecast) and :class:`PastSpendBaseline`, compared by :func:`evaluate_value` (or
  :func:`spend_metrics`, on forecasts already made),
  their reliability by decile (:func:`spend_reliability`) and their sums by time
  since the last purchase (:func:`spend_by_recency`, :func:`spend_sums`);
- :class:`BetaGeoModel` (BG/NBD) and :class:`GammaGammaModel`, purchase-cycle
  models answering at any horizon, on :func:`purchase_summary` (on a relational
  engine: :func:`engine_purchase_summary`);
- :class:`BuyerSample` (:func:`sample_buyers`, :func:`engine_sample_buyers`):
  the members who bought before a date, or a seeded sample of them, drawn once
  for several window sets and purchase summaries.

Imports: :mod:`features` and :mod:`models` only.
"""

from models.lifecycle.bgnbd import (
    BetaGeoModel,
    GammaGammaModel,
    predict_at_horizon,
    purchase_summary,
)
from models.lifecycle.buyer_sample import BuyerSample, engine_sample_buyers, sample_buyers
from models.lifecycle.churn import ChurnModel, RecencyBaseline, evaluate_churn
from models.lifecycle.churn_reasons import ReasonLists
from models.lifecycle.engine_summary import engine_purchase_summary
from models.lifecycle.engine_windows import make_engine_windows
from models.lifecycle.reliability import (
    CLV_SOURCE,
    MEDIAN_SOURCE,
    spend_by_recency,
    spend_reliability,
    spend_sums,
)
from models.lifecycle.value import (
    PastSpendBaseline,
    ValueModel,
    clv_multiplier,
    evaluate_value,
    spend_metrics,
)
from models.lifecycle.windows import TrainingWindows, default_horizon_days, make_windows

__all__ = [
    "BetaGeoModel", "BuyerSample", "GammaGammaModel", "predict_at_horizon", "purchase_summary",
    "ChurnModel", "PastSpendBaseline", "ReasonLists", "RecencyBaseline", "TrainingWindows",
    "ValueModel",
    "clv_multiplier", "default_horizon_days", "engine_purchase_summary", "evaluate_churn",
    "engine_sample_buyers", "evaluate_value", "make_engine_windows", "make_windows",
    "sample_buyers", "spend_by_recency", "spend_metrics", "spend_reliability", "spend_sums",
    "CLV_SOURCE", "MEDIAN_SOURCE",
]

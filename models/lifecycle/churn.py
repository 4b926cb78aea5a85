"""Churn risk: the probability that a member makes no purchase in the next ``H`` days.

:class:`ChurnModel` is a histogram gradient-boosted tree classifier on the
numeric member features (:mod:`models.lifecycle.tabular`), calibrated with
``CalibratedClassifierCV`` (sigmoid by default) so that its output is a
probability that can be averaged, thresholded and compared across retrains.
It learns from :class:`~models.lifecycle.windows.TrainingWindows`: features as of a
cutoff, label ``churned`` over ``[cutoff, cutoff + H)``.

:meth:`ChurnModel.reason_codes` explains a member's risk with codes such as
``RECENCY_HIGH`` and a sentence (:mod:`models.lifecycle.churn_reasons`).

:class:`RecencyBaseline` is the yardstick: a logistic regression on
``log1p(recency_days)`` alone (same ranking as "longest since last purchase
first"). :func:`evaluate_churn` scores both on a labelled window.

>>> from models.lifecycle.windows import make_windows                        # doctest: +SKIP
>>> windows = make_windows(dataset, as_of="2018-01-02")           # doctest: +SKIP
>>> model = ChurnModel().fit_windows(windows)                     # doctest: +SKIP
>>> X_val, y_val = windows.validation()                           # doctest: +SKIP
>>> evaluate_churn(model, X_val, y_val["churned"]).metrics        # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from features.errors import ConfigError, DataError
from models import metrics as model_metrics
from models.lifecycle.churn_reasons import (
    REASON_COLUMNS,
    ReasonLists,
    driver_impacts,
    reason_frame,
    reason_lists,
    risky_side,
    usable_drivers,
)
from models.lifecycle.tabular import (
    booster_settings,
    check_fitted,
    check_horizon,
    informative_columns,
    numeric_feature_names,
    to_matrix,
)
from models.lifecycle.windows import TrainingWindows
from models.threads import tree_threads
from models.tree_input import by_columns

logger = logging.getLogger(__name__)

CALIBRATION_METHODS = ("isotonic", "sigmoid")


def _check_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"y has shape {y.shape}; expected one label per row, ({n},).")
    if y.dtype == bool:
        return y.astype(np.int64)
    values = pd.to_numeric(pd.Series(y), errors="coerce").to_numpy(dtype=np.float64)
    if not np.isin(values, (0.0, 1.0)).all():
        raise DataError("y must be 0/1 or bool (1 = churned).")
    return values.astype(np.int64)


class ChurnModel:
    """Calibrated gradient-boosted churn risk over a horizon of ``H`` days.

    Parameters
    ----------
    horizon_days : int, optional
        ``H``. When given, :meth:`fit_windows` refuses windows with another
        horizon; when None, the horizon is taken from the windows.
    random_state : int
        Seed of the boosting and of the calibration folds.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to ``HistGradientBoostingClassifier``. 75 rounds at a rate of
        0.1 score as 150 at 0.05 did on The Complete Journey (validation
        ROC-AUC 0.871, Brier 0.106) at half the fitting time: each fit is
        repeated per calibration fold, and on small data a round costs about
        the same whatever its number of rows.
    calibration : {"sigmoid", "isotonic"}
        Calibration method of ``CalibratedClassifierCV``. Sigmoid by default:
        isotonic's step function gave 172 of the 2,469 Complete Journey members
        a risk of exactly 0 (its lowest bin held no churner), which a member's
        profile should never claim. Sigmoid validates as well there (ROC-AUC
        0.8714 vs 0.8712, Brier 0.1056 vs 0.1059, PR-AUC 0.601 vs 0.602,
        top-decile lift 3.51 vs 3.53); its lowest member risk is 0.004.
    cv : int
        Calibration folds.
    n_threads : int, "auto" or None
        OpenMP threads for fitting and predicting ("auto": every core from
        :data:`models.threads.PARALLEL_ROWS` rows on, else the limit in force; None:
        the limit in force); see :func:`models.threads.tree_threads`.

    Attributes
    ----------
    calibrated_ : CalibratedClassifierCV
    feature_names_in_ : ndarray of str
        The feature columns, in model order.
    n_features_in_ : int
    reference_ : pandas.Series
        Median of every feature over the training rows (the "typical member"
        of the reason codes).
    base_rate_ : float
        Churn rate of the training rows.
    horizon_days_ : int or None
    """

    def __init__(
        self,
        horizon_days: int | None = None,
        random_state: int = 0,
        max_iter: int = 75,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 7,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        calibration: str = "sigmoid",
        cv: int = 3,
        n_threads: int | str | None = "auto",
    ):
        self.horizon_days = horizon_days
        self.random_state = random_state
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.calibration = calibration
        self.cv = cv
        self.n_threads = n_threads

    def fit(self, X: pd.DataFrame, y) -> ChurnModel:
        """Fit on member features ``X`` (n, n_features) and labels ``y`` (n,), 1 = churned.

        Returns
        -------
        ChurnModel
            ``self``.
        """
        if self.calibration not in CALIBRATION_METHODS:
            raise ConfigError(
                f"calibration={self.calibration!r} should be one of {CALIBRATION_METHODS}."
            )
        names = numeric_feature_names(X)
        matrix = to_matrix(X, names)
        labels = _check_labels(y, len(matrix))
        names, matrix = informative_columns(names, matrix, self.min_samples_leaf)
        n_pos = int(labels.sum())
        n_min = min(n_pos, len(labels) - n_pos)
        if n_min < self.cv:
            raise DataError(
                f"n_churned={n_pos} and n_retained={len(labels) - n_pos}: each class needs "
                f"at least cv={self.cv} rows to fit and calibrate."
            )
        booster = HistGradientBoostingClassifier(**booster_settings(self))
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        calibrated = CalibratedClassifierCV(booster, method=self.calibration, cv=folds)
        with tree_threads(self.n_threads, len(matrix)):
            calibrated.fit(matrix, labels)
        self.calibrated_ = calibrated
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.reference_ = pd.Series(np.nanmedian(matrix, axis=0), index=names)
        self.base_rate_ = float(labels.mean())
        self.horizon_days_ = self.horizon_days
        logger.info(
            "churn model fitted on %d rows x %d features, churn rate %.3f",
            len(labels), len(names), self.base_rate_,
        )
        return self

    def fit_windows(self, windows: TrainingWindows, *, include_validation: bool = False):
        """Fit on the training windows (or on all windows, once validated).

        Parameters
        ----------
        windows : TrainingWindows
        include_validation : bool
            Also learn from the most recent window (for the model that goes to
            production after validation).

        Returns
        -------
        ChurnModel
            ``self``.
        """
        check_horizon(self.horizon_days, windows.horizon_days)
        X, outcomes = windows.all() if include_validation else windows.train()
        self.fit(X, outcomes["churned"].to_numpy())
        self.horizon_days_ = windows.horizon_days
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Churn risk per member: P(no purchase in the next ``H`` days), shape (n,)."""
        check_fitted(self, "calibrated_")
        return self._predict(to_matrix(X, list(self.feature_names_in_)))

    def _predict(self, matrix: np.ndarray) -> np.ndarray:
        with tree_threads(self.n_threads, len(matrix)):
            return self.calibrated_.predict_proba(by_columns(matrix))[:, 1]

    def reason_codes(self, X: pd.DataFrame, top: int = 3, min_impact: float = 0.01):
        """The top drivers of each member's churn risk, with a readable text.

        Parameters
        ----------
        X : pandas.DataFrame
            Member features indexed by member id.
        top : int
            Most drivers per member.
        min_impact : float
            Smallest risk drop (probability points) worth reporting.

        Returns
        -------
        pandas.DataFrame
            Long table, columns ``member_id``, ``rank`` (1 = strongest),
            ``code`` (e.g. ``"RECENCY_HIGH"``), ``impact`` (how much the risk
            would fall with a typical value, in probability) and ``text``
            (e.g. ``"no purchase for 45 days, 3.0x the usual interval"``).
            Members with no driver above ``min_impact`` have no rows.
        """
        found = self.reason_lists(X, top, min_impact)
        if found is None:
            return pd.DataFrame({c: [] for c in REASON_COLUMNS})
        return reason_frame(X.index, found)

    def reason_lists(self, X: pd.DataFrame, top: int = 3, min_impact: float = 0.01,
                     risk: np.ndarray | None = None) -> ReasonLists | None:
        """:meth:`reason_codes` as flat arrays, one list per row of ``X`` (no long frame).

        Parameters
        ----------
        X, top, min_impact
            As :meth:`reason_codes`.
        risk : ndarray, shape (n,), optional
            ``predict_proba(X)`` when the caller has it already (saves one prediction).

        Returns
        -------
        ReasonLists or None
            None when ``X`` is empty or the model has none of the drivers' key features.
        """
        check_fitted(self, "calibrated_")
        if int(top) != top or top < 1:
            raise ConfigError(f"top={top} should be a positive whole number.")
        names = list(self.feature_names_in_)
        matrix = to_matrix(X, names)
        drivers = usable_drivers(names)
        if len(matrix) == 0 or not drivers:
            return None
        if risk is not None and np.shape(risk) != (len(matrix),):
            raise ValueError(f"risk has shape {np.shape(risk)}; expected ({len(matrix)},), "
                             "predict_proba(X).")
        # A driver is re-predicted only for members on its risky side: the others
        # cannot have it as a reason (about half the work of predicting everyone).
        impacts = driver_impacts(
            self._predict, matrix, names, self.reference_.to_numpy(), drivers,
            rows=risky_side(X, self.reference_, drivers), base=risk,
        )
        return reason_lists(X, impacts, self.reference_, drivers, int(top), min_impact)


class RecencyBaseline:
    """Churn risk from recency alone: logistic regression on ``log1p(recency_days)``.

    Its ranking is that of ``recency_days``; the logistic link gives it
    probabilities so that its Brier score can be compared.

    Attributes
    ----------
    coef_, intercept_ : float
    """

    def __init__(self, feature: str = "recency_days"):
        self.feature = feature

    def _column(self, X: pd.DataFrame) -> np.ndarray:
        if self.feature not in X:
            raise DataError(f"the feature frame has no '{self.feature}' column.")
        values = to_matrix(X, [self.feature])
        fill = np.nanmax(values) if np.isfinite(values).any() else 0.0
        return np.log1p(np.clip(np.nan_to_num(values, nan=fill), 0, None))

    def fit(self, X: pd.DataFrame, y) -> RecencyBaseline:
        """Fit on ``X[feature]`` and the churn labels ``y``; returns ``self``."""
        column = self._column(X)
        labels = _check_labels(y, len(column))
        if labels.min() == labels.max():
            raise DataError("y has a single class; the baseline needs churned and retained rows.")
        logistic = LogisticRegression().fit(column, labels)
        self.coef_ = float(logistic.coef_[0, 0])
        self.intercept_ = float(logistic.intercept_[0])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Churn risk per member, shape (n,)."""
        check_fitted(self, "coef_")
        z = self.coef_ * self._column(X)[:, 0] + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))


@dataclass
class ChurnEvaluation:
    """Churn metrics on one labelled window.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per model (``"model"``, ``"recency_baseline"``), columns
        ``roc_auc``, ``pr_auc``, ``brier``, ``lift_top_decile``, ``base_rate``.
    calibration : pandas.DataFrame
        Reliability curve of the model: ``mean_predicted``, ``observed_rate``.
    lift : pandas.DataFrame
        Lift by decile of the model (:func:`models.metrics.lift_by_decile`).
    n : int
        Members evaluated.
    se : dict
        Standard errors of the model's ``roc_auc``, ``pr_auc`` and ``brier`` over
        resamples of the members (:func:`models.metrics.standard_errors`).
    baseline_se : dict
        Standard errors of the model's margin over the baseline in ``roc_auc`` and
        ``pr_auc``, both scored on each resample
        (:func:`models.metrics.paired_standard_errors`); empty without a baseline.
    """

    metrics: pd.DataFrame
    calibration: pd.DataFrame
    lift: pd.DataFrame
    n: int
    se: dict = field(default_factory=dict)
    baseline_se: dict = field(default_factory=dict)


def evaluate_churn(
    model: ChurnModel, X: pd.DataFrame, y, baseline: RecencyBaseline | None = None
) -> ChurnEvaluation:
    """Score ``model`` (and optionally a fitted ``baseline``) on features ``X`` and labels ``y``."""
    labels = _check_labels(y, len(X))
    risk = model.predict_proba(X)
    rows = {"model": model_metrics.classification_metrics(labels, risk)}
    ranking = {"roc_auc": model_metrics.roc_auc, "pr_auc": model_metrics.pr_auc}
    baseline_se = {}
    if baseline is not None:
        recency = baseline.predict_proba(X)
        rows["recency_baseline"] = model_metrics.classification_metrics(labels, recency)
        baseline_se = model_metrics.paired_standard_errors(labels, risk, recency, ranking)
    return ChurnEvaluation(
        metrics=pd.DataFrame.from_dict(rows, orient="index"),
        calibration=model_metrics.calibration_table(labels, risk),
        lift=model_metrics.lift_by_decile(labels, risk),
        n=len(labels),
        se=model_metrics.standard_errors(labels, risk, {**ranking, "brier": model_metrics.brier}),
        baseline_se=baseline_se,
    )

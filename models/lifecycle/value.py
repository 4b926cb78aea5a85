"""Member value: expected spend over the next ``H`` days and a 12-month CLV built on it.

:class:`ValueModel` is a histogram gradient-boosted regressor on the numeric
member features (:mod:`models.lifecycle.tabular`), fitted on
:class:`~models.lifecycle.windows.TrainingWindows` with target ``future_spend``, the
money spent in ``[cutoff, cutoff + H)``.

The forecast of a member's spend (``expected_spend``) is judged by its mean
absolute error, which the median minimises; a Poisson booster's mean lost to
the past-spend rate on MAE at 28 days on the Complete Journey (72.5 against
70.5). So the booster minimises the absolute error by default, and the
forecast is shrunk halfway toward the past-spend rate
(``(1 - shrink) * booster + shrink * spend_recent * H / trend_days``,
``shrink = 0.5``): an equal-weight combination of two forecasts with different
errors, fixed rather than fitted (a weight fitted on the training rows is 1.0,
as the booster's in-sample errors are too small). On later windows at three
origins and 28/61/90 days (``bench/horizon_origins.py``) it beat the past-spend
rate on MAE 7 times in 9 (the booster alone 5, the Poisson booster 2), on
Spearman every time (bench/RESULTS.md, issue 13). ``loss="poisson", shrink=0``
gives the former model.

Sums need a mean, and a median is 0 for every member more likely than not to
buy nothing in the next ``H`` days: on the CDNOW data (one-time buyers
mostly) 84% of the members, who spend a third of the next 90 days' money; on
the Complete Journey a tenth of the members at highest risk. So the CLV comes
from a second booster, fitted with the Poisson deviance on the same rows
(``mean_loss``, :meth:`ValueModel.predict_mean`): a mean forecast, above 0 for
everyone, whose sums over groups of members (by recency, by segment) match
what they spend on later windows (bench/RESULTS.md, "CLV from a mean
forecast"). Versions fitted before it (no ``mean_regressor_``), and
``mean_loss=None``, turn the median into a mean by :attr:`ValueModel.mean_ratio_`,
the training rows' total spend over their total forecast, which sums right
over all members only.

CLV derivation
--------------
The prediction ``s`` is a member's expected spend over the next period of
``H`` days; it already accounts for the chance that the member buys nothing
(a member at high churn risk gets a low ``s``). The customer lifetime value
over ``D`` days (365 for 12 months) carries ``s`` forward period by period::

    CLV = m * s * sum_{t=0}^{n-1} w_t * rho**t / (1 + d) ** (t * H / 365)

- ``n = ceil(D / H)`` periods; ``w_t = 1`` except the last, which counts for
  the fraction of a period left (``D / H - (n - 1)``);
- ``rho``, the *spend retention* per period: of the money a closed group of
  members spends in one period, the share they spend again in the next. It is
  estimated from the training windows as ``sum(future_spend) / sum(past_spend)``
  over the same members (``past_spend`` = spend in the ``H`` days before the
  cutoff), clipped to ``[0.5, 1]`` (a closed group does not grow; seasonality
  can make the raw ratio exceed 1), unless ``retention`` is given;
- ``d``, the yearly discount rate (``discount_rate``, 10% by default);
- ``m``, :attr:`ValueModel.mean_scale_`, the training rows' total spend over their total
  mean forecast (about 1; :attr:`ValueModel.mean_ratio_` for the median of a version
  without a mean booster).

and ``s`` is the mean forecast (:meth:`ValueModel.predict_mean`). So with ``H = 28``,
``rho = 1``, ``d = 0`` and ``m = 1``, ``CLV = 365 / 28 * s = 13.04 s``
(spend rate x 365 / H); ``rho < 1`` and ``d > 0`` shrink the later periods.

:class:`PastSpendBaseline` is the naive yardstick: the spend of the last
``trend_days`` days (the ``spend_recent`` feature) scaled to ``H`` days.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from features.errors import ConfigError, DataError
from models import metrics as model_metrics
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

LOSSES = ("absolute_error", "poisson", "squared_error")
#: Losses of the mean booster (the ones whose minimiser is the mean); None: no mean booster.
MEAN_LOSSES = ("poisson", "squared_error", None)
#: Bounds of the estimated per-period spend retention.
RETENTION_BOUNDS = (0.5, 1.0)


def _check_target(y, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"y has shape {y.shape}; expected one spend value per row, ({n},).")
    if not np.isfinite(y).all() or (y < 0).any():
        raise DataError("y (future spend) must be finite and >= 0.")
    return y


class ValueModel:
    """Expected spend over the next ``H`` days, and CLV (see the module docstring).

    Parameters
    ----------
    horizon_days : int, optional
        ``H``. When given, :meth:`fit_windows` refuses windows with another
        horizon; when None it is taken from the windows (and :meth:`fit` alone
        leaves it unknown, so :meth:`predict_clv` needs ``fit_windows`` or it).
    random_state : int
    loss : {"absolute_error", "poisson", "squared_error"}
        The absolute error by default (module docstring).
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to ``HistGradientBoostingRegressor``.
    discount_rate : float
        Yearly discount rate of the CLV.
    retention : float, optional
        Per-period spend retention ``rho`` in ``(0, 1]``; estimated from the
        windows when None (1.0 when fitted without ``past_spend``).
    mean_loss : {"poisson", "squared_error"} or None
        Loss of the second booster, the mean forecast the CLV is built on
        (module docstring); None: no second booster, the CLV scales the median.
    shrink : float
        Weight in ``[0, 1]`` of the past-spend rate in the forecast (module
        docstring); needs the horizon (``horizon_days`` or :meth:`fit_windows`) and a
        ``spend_recent`` column, else the booster alone is the forecast.
    trend_days : float
        Window of ``spend_recent`` (the feature builder's ``trend_days``).
    n_threads : int, "auto" or None
        OpenMP threads ("auto": every core from :data:`models.threads.PARALLEL_ROWS` rows
        on); see :func:`models.threads.tree_threads`.

    Attributes
    ----------
    regressor_ : HistGradientBoostingRegressor
    feature_names_in_ : ndarray of str
    n_features_in_ : int
    retention_ : float
    mean_target_ : float
        Mean future spend of the training rows.
    mean_ratio_ : float
        Total future spend of the training rows over their total forecast.
    mean_regressor_ : HistGradientBoostingRegressor or None
        The mean forecast's booster (None with ``mean_loss=None``).
    mean_scale_ : float
        Total future spend of the training rows over their total mean forecast
        (the factor ``m`` of the CLV; :attr:`mean_ratio_` without a mean booster).
    horizon_days_ : int or None
    """

    def __init__(
        self,
        horizon_days: int | None = None,
        random_state: int = 0,
        loss: str = "absolute_error",
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 7,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        discount_rate: float = 0.10,
        retention: float | None = None,
        shrink: float = 0.5,
        trend_days: float = 90.0,
        n_threads: int | str | None = "auto",
        mean_loss: str | None = "poisson",
    ):
        self.horizon_days = horizon_days
        self.random_state = random_state
        self.loss = loss
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.discount_rate = discount_rate
        self.retention = retention
        self.shrink = shrink
        self.trend_days = trend_days
        self.n_threads = n_threads
        self.mean_loss = mean_loss

    def fit(self, X: pd.DataFrame, y, *, past_spend=None, horizon_days: int | None = None,
            ) -> ValueModel:
        """Fit on member features ``X`` (n, n_features) and future spend ``y`` (n,).

        Parameters
        ----------
        X : pandas.DataFrame
        y : array-like of float, shape (n,)
            Spend over the ``H`` days after each row's cutoff, >= 0.
        past_spend : array-like of float, shape (n,), optional
            Spend over the ``H`` days before each row's cutoff; used to estimate
            the spend retention when ``retention`` is None.
        horizon_days : int, optional
            ``H`` of ``y`` when the model was not configured with one (the shrink
            toward the past-spend rate needs it).

        Returns
        -------
        ValueModel
            ``self``.
        """
        if self.loss not in LOSSES:
            raise ConfigError(f"loss={self.loss!r} should be one of {LOSSES}.")
        if self.mean_loss not in MEAN_LOSSES:
            raise ConfigError(f"mean_loss={self.mean_loss!r} should be one of {MEAN_LOSSES}.")
        if self.retention is not None and not 0.0 < self.retention <= 1.0:
            raise ConfigError(f"retention={self.retention} should be in (0, 1].")
        if not 0.0 <= self.discount_rate < 1.0:
            raise ConfigError(f"discount_rate={self.discount_rate} should be in [0, 1).")
        if not 0.0 <= self.shrink <= 1.0 or not self.trend_days > 0:
            raise ConfigError(f"shrink={self.shrink} should be in [0, 1] and "
                              f"trend_days={self.trend_days} > 0.")
        names = numeric_feature_names(X)
        matrix = to_matrix(X, names)
        target = _check_target(y, len(matrix))
        if target.sum() <= 0:
            raise DataError("y is zero everywhere: nobody spent anything to learn from.")
        names, matrix = informative_columns(names, matrix, self.min_samples_leaf)
        regressor = self._booster(self.loss)
        mean_regressor = None if self.mean_loss is None else self._booster(self.mean_loss)
        with tree_threads(self.n_threads, len(matrix)):
            regressor.fit(matrix, target)
            if mean_regressor is not None:
                mean_regressor.fit(matrix, target)
        self.regressor_ = regressor
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.mean_target_ = float(target.mean())
        check_horizon(self.horizon_days, horizon_days or self.horizon_days)
        self.horizon_days_ = self.horizon_days or horizon_days
        self.shrink_ = (float(self.shrink) if self.horizon_days_ is not None
                        and "spend_recent" in X else 0.0)
        forecast = self._forecast(X, matrix).sum()
        self.mean_ratio_ = float(target.sum() / forecast) if forecast > 0 else 1.0
        self.mean_regressor_ = mean_regressor
        mean_forecast = (self._mean_forecast(matrix).sum() if mean_regressor is not None
                         else forecast)
        self.mean_scale_ = (float(target.sum() / mean_forecast) if mean_forecast > 0
                            else 1.0)
        self.retention_ = self._retention(target, past_spend)
        logger.info(
            "value model fitted on %d rows x %d features, mean spend %.2f, retention %.3f, "
            "mean / forecast %.3f, mean / mean forecast %.3f", len(target), len(names),
            self.mean_target_, self.retention_, self.mean_ratio_, self.mean_scale_,
        )
        return self

    def _booster(self, loss: str) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(loss=loss, **booster_settings(self))

    def _retention(self, target: np.ndarray, past_spend) -> float:
        if self.retention is not None:
            return float(self.retention)
        if past_spend is None:
            return 1.0
        past = _check_target(past_spend, len(target))
        if past.sum() <= 0:
            return 1.0
        raw = float(target.sum() / past.sum())
        logger.info("spend retention per period: raw %.3f", raw)
        return float(np.clip(raw, *RETENTION_BOUNDS))

    def fit_windows(self, windows: TrainingWindows, *, include_validation: bool = False):
        """Fit on the training windows (or all windows), estimating the retention too.

        Returns
        -------
        ValueModel
            ``self``.
        """
        check_horizon(self.horizon_days, windows.horizon_days)
        X, outcomes = windows.all() if include_validation else windows.train()
        return self.fit(X, outcomes["future_spend"].to_numpy(),
                        past_spend=outcomes["past_spend"].to_numpy(),
                        horizon_days=windows.horizon_days)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Forecast spend per member over the next ``H`` days, shape (n,), >= 0 (a median
        under the default loss; :meth:`predict_clv` makes it a mean)."""
        check_fitted(self, "regressor_")
        return self._forecast(X, to_matrix(X, list(self.feature_names_in_)))

    def _forecast(self, X: pd.DataFrame, matrix: np.ndarray) -> np.ndarray:
        with tree_threads(self.n_threads, len(matrix)):
            booster = np.clip(self.regressor_.predict(by_columns(matrix)), 0.0, None)
        shrink = float(getattr(self, "shrink_", 0.0))  # versions before it: the booster
        if shrink == 0.0:
            return booster
        rate = PastSpendBaseline(self.horizon_days_, self.trend_days).predict(X)
        return (1.0 - shrink) * booster + shrink * np.clip(rate, 0.0, None)

    def predict_mean(self, X: pd.DataFrame) -> np.ndarray:
        """Mean spend per member over the next ``H`` days, shape (n,): the forecast the CLV
        is built on (module docstring). A model without a mean booster (``mean_loss=None``,
        versions before it) returns :meth:`predict` times :attr:`mean_ratio_`."""
        return self.predict_with_mean(X)[1]

    def predict_with_mean(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` and :meth:`predict_mean` of ``X`` from one feature matrix."""
        check_fitted(self, "regressor_")
        matrix = to_matrix(X, list(self.feature_names_in_))
        forecast = self._forecast(X, matrix)
        if getattr(self, "mean_regressor_", None) is None:
            return forecast, forecast * float(getattr(self, "mean_ratio_", 1.0))
        return forecast, self._mean_forecast(matrix) * self.mean_scale_

    def _mean_forecast(self, matrix: np.ndarray) -> np.ndarray:
        with tree_threads(self.n_threads, len(matrix)):
            return np.clip(self.mean_regressor_.predict(by_columns(matrix)), 0.0, None)

    def clv_multiplier(self, days: float = 365.0) -> float:
        """The factor that carries one period's mean spend over ``days`` (``m = 1``)."""
        check_fitted(self, "regressor_")
        if self.horizon_days_ is None:
            raise ConfigError(
                "the horizon is unknown: fit with fit_windows or set horizon_days to get a CLV."
            )
        return clv_multiplier(self.horizon_days_, self.retention_, self.discount_rate, days)

    def predict_clv(self, X: pd.DataFrame, months: int = 12) -> np.ndarray:
        """Customer lifetime value over ``months`` months per member, shape (n,):
        :meth:`predict_mean` carried over that many days (:meth:`clv_multiplier`)."""
        if months <= 0:
            raise ConfigError(f"months={months} should be > 0.")
        return self.predict_mean(X) * self.clv_multiplier(365.0 * months / 12.0)


def clv_multiplier(
    horizon_days: float, retention: float, discount_rate: float, days: float = 365.0
) -> float:
    """``sum_t w_t * retention**t / (1 + discount_rate)**(t * H / 365)`` (module docstring).

    >>> round(clv_multiplier(28, 1.0, 0.0), 4)
    13.0357
    >>> clv_multiplier(30, 0.5, 0.0, days=60)
    1.5
    """
    ratio = days / horizon_days
    n = max(1, math.ceil(ratio - 1e-9))
    t = np.arange(n, dtype=np.float64)
    weights = np.ones(n)
    weights[-1] = ratio - (n - 1)
    factors = retention**t / (1.0 + discount_rate) ** (t * horizon_days / 365.0)
    return float((weights * factors).sum())


class PastSpendBaseline:
    """Naive expected spend: the last ``trend_days`` days' spend scaled to ``H`` days.

    Reads the ``spend_recent`` feature (spend in the ``trend_days`` days before
    the cutoff; 90 by default in the feature builder).

    Parameters
    ----------
    horizon_days : int
    trend_days : float
        Window of ``spend_recent``.
    """

    def __init__(self, horizon_days: int, trend_days: float = 90.0):
        self.horizon_days = horizon_days
        self.trend_days = trend_days

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """``spend_recent * horizon_days / trend_days``, shape (n,); NaN read as 0."""
        if self.horizon_days <= 0 or self.trend_days <= 0:
            raise ConfigError(
                f"horizon_days={self.horizon_days} and trend_days={self.trend_days} "
                "should be > 0."
            )
        if "spend_recent" not in X:
            raise DataError("the feature frame has no 'spend_recent' column.")
        recent = np.nan_to_num(to_matrix(X, ["spend_recent"])[:, 0], nan=0.0)
        return recent * (self.horizon_days / self.trend_days)


def evaluate_value(
    model: ValueModel, X: pd.DataFrame, y, baseline: PastSpendBaseline | None = None
) -> pd.DataFrame:
    """Regression metrics of ``model`` (and ``baseline``) against the actual spend ``y``.

    Returns
    -------
    pandas.DataFrame
        One row per model (``"model"``, ``"past_spend_baseline"``), columns
        ``mae``, ``spearman``, ``top_decile_capture``, ``mean_actual``,
        ``mean_predicted``.
    """
    _check_target(y, len(X))
    predictions = {"model": model.predict(X)}
    if baseline is not None:
        predictions["past_spend_baseline"] = baseline.predict(X)
    return spend_metrics(y, predictions)


def spend_metrics(y, predictions: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`evaluate_value`'s table from forecasts already made (``{name: prediction}``, each
    aligned with ``y``), so a caller that needs them anyway does not predict twice."""
    target = _check_target(y, len(y))
    return pd.DataFrame.from_dict(
        {name: model_metrics.regression_metrics(target, np.asarray(p, dtype=np.float64))
         for name, p in predictions.items()}, orient="index")

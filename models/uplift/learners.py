"""Meta-learners of the uplift (treatment effect) of an offer, from a randomised experiment.

Both compose scikit-learn estimators (by default histogram gradient boosting,
which takes missing feature values as they are):

- :class:`TwoModelUplift` (T-learner): one outcome model on the treated, one
  on the control; the uplift is the difference of their predictions.
- :class:`XLearnerUplift` (Künzel et al. 2019): the two outcome models, then
  each group's *imputed* effects (treated: outcome minus the control model's
  prediction; control: the treated model's prediction minus the outcome) are
  regressed on the features, and the two effect models are averaged with the
  share treated as weight. It does better than the T-learner when one group is
  small or the effect is simpler than the outcomes. Its effect models are
  regularised harder than the outcome models (:func:`effect_estimator`).

Outcomes are continuous (spend: regressors) or 1/0 (retained: classifiers,
with probabilities as predictions; ``binary=True``). Treatment is assumed
randomised, so the propensity is the share of treated rows.

>>> rng = np.random.default_rng(0)
>>> X = rng.random((400, 2)); t = rng.random(400) < 0.5
>>> y = X[:, 0] * t + rng.normal(0, 0.1, 400)
>>> model = TwoModelUplift().fit(X, y, t)
>>> bool(np.corrcoef(model.predict(X), X[:, 0])[0, 1] > 0.5)
True
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from features.errors import ConfigError, DataError, NotFittedError
from models.threads import tree_threads
from models.tree_input import by_columns
from models.uplift.metrics import check_experiment

#: Smallest number of treated and of control rows a learner is fitted on.
MIN_GROUP_ROWS = 20


def take_rows(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``X[mask]``, without a copy when the rows chosen are one run (a slice: same values,
    same order; :func:`models.uplift.fit.training_order` puts each fit's rows in runs)."""
    where = np.flatnonzero(mask)
    if len(where) and where[-1] - where[0] + 1 == len(where):
        return X[where[0]:where[-1] + 1]
    return X[mask]


def default_estimator(binary: bool, random_state=0, max_iter: int = 150):
    """A regularised gradient-boosting model: outcomes of single sends are noisy."""
    params = {"max_iter": max_iter, "learning_rate": 0.05, "max_leaf_nodes": 15,
              "min_samples_leaf": 40, "l2_regularization": 1.0, "random_state": random_state}
    if binary:
        return HistGradientBoostingClassifier(**params)
    return HistGradientBoostingRegressor(**params)


#: Leaves of an effect model, and the most rows a leaf must hold (fewer on small fits).
EFFECT_LEAVES, EFFECT_LEAF_ROWS = 7, 200


def effect_estimator(n_rows: int, random_state=0, max_iter: int = 150):
    """The regressor of an X-learner's imputed effects: few, large leaves.

    An imputed effect is one send's outcome minus a prediction, so it carries
    the whole noise of a single outcome, and the effect itself is far simpler
    than the outcomes (on the synthetic program it depends on the member's
    segment and spend rate). With the outcome models' leaves (15 of 40 rows) the
    effect models fitted the noise of the biggest spenders, whose outcomes vary
    most, and ranked them first: on the 1,500-member test program the engine's
    picks for the same number of discounts then carried a quarter of the true
    incremental spend they carry with these (280 against 1,130; bench/RESULTS.md,
    2026-12-07). A leaf holds at least :data:`EFFECT_LEAF_ROWS` rows, or a tenth of
    the rows on smaller fits.
    """
    leaf_rows = max(MIN_GROUP_ROWS, min(EFFECT_LEAF_ROWS, n_rows // 10))
    return HistGradientBoostingRegressor(
        max_iter=max_iter, learning_rate=0.05, max_leaf_nodes=EFFECT_LEAVES,
        min_samples_leaf=leaf_rows, l2_regularization=1.0, random_state=random_state)


class _MetaLearner:
    """Shared checks of the meta-learners: input validation, fitted check, outcome models."""

    def __init__(self, binary: bool = False, estimator=None, random_state=0,
                 max_iter: int = 150):
        self.binary = binary
        self.estimator = estimator
        self.random_state = random_state
        self.max_iter = max_iter

    def _validate(self, X, y, treated) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise DataError(f"X should be 2-dimensional (rows, features), got shape {X.shape}.")
        y, treated = check_experiment(y, treated)
        if len(X) != len(y):
            raise DataError(f"X has {len(X)} rows but y has {len(y)}; give one outcome per row.")
        for name, rows in (("treated", int(treated.sum())), ("control", int((~treated).sum()))):
            if rows < MIN_GROUP_ROWS:
                raise DataError(f"only {rows} {name} row(s); an uplift model needs at least "
                                f"{MIN_GROUP_ROWS} treated and {MIN_GROUP_ROWS} control rows.")
        if self.binary:
            if not np.isin(y, (0.0, 1.0)).all():
                raise DataError("binary=True needs outcomes of 0 or 1 only.")
            for name, group in (("treated", treated), ("control", ~treated)):
                if len(np.unique(y[group])) < 2:
                    raise DataError(
                        f"the outcome is always {y[group][0]:g} among the {name} rows; a binary "
                        "outcome needs both values in both groups (try a longer window)."
                    )
        return X, y, treated

    def _outcome_model(self, X: np.ndarray, y: np.ndarray):
        model = clone(self.estimator) if self.estimator is not None else default_estimator(
            self.binary, self.random_state, self.max_iter)
        with tree_threads("auto", len(X)):
            return model.fit(X, y.astype(int) if self.binary else y)

    def _effect_model(self, X: np.ndarray, y: np.ndarray):
        with tree_threads("auto", len(X)):
            return effect_estimator(len(X), self.random_state, self.max_iter).fit(X, y)

    def _predict_outcome(self, model, X: np.ndarray) -> np.ndarray:
        X = by_columns(X)
        with tree_threads("auto", len(X)):
            return model.predict_proba(X)[:, 1] if self.binary else model.predict(X)

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. "
                                 "Call 'fit' with the rows of a randomised experiment first.")

    def _check_X(self, X) -> np.ndarray:
        self._check_fitted()
        X = by_columns(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise DataError(f"X has shape {X.shape}; this model was fitted on "
                            f"{self.n_features_in_} features.")
        return X


class TwoModelUplift(_MetaLearner):
    """T-learner: uplift = treated outcome model - control outcome model.

    Parameters
    ----------
    binary : bool
        The outcome is 1/0 (fit classifiers and difference their probabilities).
    estimator : scikit-learn estimator, optional
        Cloned for each outcome model; default :func:`default_estimator`.
    random_state : int
    max_iter : int
        Boosting iterations of the default estimators (fewer: faster, coarser).
    """

    def fit(self, X, y, treated) -> TwoModelUplift:
        """Fit on rows ``X`` (n, features), outcomes ``y`` (n,) and treatment flags (n,)."""
        X, y, treated = self._validate(X, y, treated)
        self.model_treated_ = self._outcome_model(take_rows(X, treated), y[treated])
        self.model_control_ = self._outcome_model(take_rows(X, ~treated), y[~treated])
        self.treated_share_ = float(treated.mean())
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """(n,) predicted uplift: expected outcome if sent minus if held out."""
        X = self._check_X(X)
        return (self._predict_outcome(self.model_treated_, X)
                - self._predict_outcome(self.model_control_, X))

    def predict_outcomes(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(if sent, if held out) expected outcomes, each (n,)."""
        X = self._check_X(X)
        return (self._predict_outcome(self.model_treated_, X),
                self._predict_outcome(self.model_control_, X))


class XLearnerUplift(TwoModelUplift):
    """X-learner: effect models on imputed effects, weighted by the share treated.

    Parameters are those of :class:`TwoModelUplift`; the effect models are
    always regressors (:func:`effect_estimator`).
    """

    def fit(self, X, y, treated) -> XLearnerUplift:
        """Fit on rows ``X`` (n, features), outcomes ``y`` (n,) and treatment flags (n,)."""
        super().fit(X, y, treated)
        X, y, treated = self._validate(X, y, treated)
        sent, held = take_rows(X, treated), take_rows(X, ~treated)
        imputed_t = y[treated] - self._predict_outcome(self.model_control_, sent)
        imputed_c = self._predict_outcome(self.model_treated_, held) - y[~treated]
        self.effect_treated_ = self._effect_model(sent, imputed_t)
        self.effect_control_ = self._effect_model(held, imputed_c)
        return self

    def predict(self, X) -> np.ndarray:
        """(n,) predicted uplift: the two effect models weighted by the share treated."""
        X = self._check_X(X)
        g = self.treated_share_
        with tree_threads("auto", len(X)):
            return (g * self.effect_control_.predict(X)
                    + (1 - g) * self.effect_treated_.predict(X))


#: Learner names accepted by :func:`make_learner`.
LEARNERS = {"two_model": TwoModelUplift, "x_learner": XLearnerUplift}


def make_learner(name: str, binary: bool, random_state=0, max_iter: int = 150
                 ) -> TwoModelUplift:
    """A fresh learner by name (see :data:`LEARNERS`)."""
    if name not in LEARNERS:
        raise ConfigError(f"learner={name!r} is not known; use one of {sorted(LEARNERS)}.")
    return LEARNERS[name](binary=binary, random_state=random_state, max_iter=max_iter)

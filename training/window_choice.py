"""Out-of-time choice of the churn and value models' training windows and value form.

Inside training, before the report's validation window is looked at: the models are
fitted on the earlier training windows and scored on the *latest training* window
(``cutoffs[1]``), never on the validation window (``cutoffs[0]``), which stays strictly
later than anything chosen on. Chosen, per version:

- the number of stacked windows (2..4, the validation window included): churn PR-AUC
  of the churn model fitted on the k = 1.. training windows before ``cutoffs[1]``; k
  best keeps k + 1 windows, except that when every earlier window scores best all of
  them are kept (on 4 windows: 2 or 4);
- the value model's number of windows and form: a Poisson booster, or an
  absolute-error booster shrunk toward the past-spend rate with a weight in
  :data:`SHRINKS`, by MAE on ``cutoffs[1]`` (the shrink is a blend of predictions, so
  each loss is fitted once per number of windows).

The inner fits' outcome periods may overlap the latest training window's by up to
``H - 28`` days when ``H > 28`` (cutoffs four weeks apart); the report's validation
window is never read.

With fewer than 3 windows there is nothing to choose on: the defaults are kept.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from models.lifecycle.churn import ChurnModel
from models.lifecycle.value import ValueModel
from models.lifecycle.windows import TrainingWindows
from models.metrics import pr_auc

#: Shrink weights toward the past-spend rate tried for the absolute-error booster.
SHRINKS = (0.0, 0.25, 0.5, 0.75)
#: What is kept when there is nothing to choose on (the defaults before the choice).
DEFAULT_VALUE = {"loss": "absolute_error", "shrink": 0.5}


def first_windows(windows: TrainingWindows, n: int) -> TrainingWindows:
    """The ``n`` most recent windows of ``windows`` (validation first), as windows."""
    cutoffs = windows.cutoffs[:n]
    keep = windows.features.index.get_level_values("cutoff").isin(cutoffs)
    return dataclasses.replace(windows, features=windows.features[keep],
                               outcomes=windows.outcomes[keep], cutoffs=cutoffs)


def _inner(windows: TrainingWindows, k: int):
    """Rows of the ``k`` training windows before the latest one, and the latest's."""
    level = windows.features.index.get_level_values("cutoff")
    fit = level.isin(windows.cutoffs[2:2 + k])
    X_score, out_score = windows.window(windows.cutoffs[1])
    return windows.features[fit], windows.outcomes[fit], X_score, out_score


def _outer(k: int, n: int) -> int:
    """Windows kept (validation included) when ``k`` inner training windows score best:
    ``k + 1``, or all ``n`` when ``k`` was every earlier window (more rows helped)."""
    return n if k == n - 2 else k + 1


def choose_windows(windows: TrainingWindows, *, random_state: int = 0) -> dict:
    """The number of windows (validation included) whose churn model scores best out of
    time; ``{"n_windows", "scores", "chosen_on"}`` (scores: PR-AUC by ``n_windows``)."""
    n = len(windows.cutoffs)
    if n < 3:
        return {"n_windows": n, "scores": {}, "chosen_on": None}
    scores = {}
    for k in range(1, n - 1):
        X, out, X_score, out_score = _inner(windows, k)
        y = out["churned"].to_numpy()
        if y.all() or not y.any():
            continue
        model = ChurnModel(horizon_days=windows.horizon_days, random_state=random_state)
        model.fit(X, y)
        scores[_outer(k, n)] = pr_auc(out_score["churned"].to_numpy(), model.predict_proba(X_score))
    if not scores:
        return {"n_windows": n, "scores": {}, "chosen_on": None}
    best = max(scores, key=lambda m: (round(scores[m], 4), m))  # ties: more rows
    return {"n_windows": int(best), "scores": {str(m): v for m, v in scores.items()},
            "chosen_on": str(windows.cutoffs[1].date())}


def choose_value_form(windows: TrainingWindows, *, random_state: int = 0) -> dict:
    """The value model's number of windows, loss and shrink with the lowest MAE out of
    time; ``{"n_windows", "loss", "shrink", "scores", "chosen_on"}`` (scores: MAE by
    option name)."""
    n = len(windows.cutoffs)
    default = {"n_windows": n, **DEFAULT_VALUE, "scores": {}, "chosen_on": None}
    if n < 3:
        return default
    scores, options = {}, {}
    for k in range(1, n - 1):
        X, out, X_score, out_score = _inner(windows, k)
        if out["future_spend"].sum() <= 0:
            continue
        truth = out_score["future_spend"].to_numpy()
        for loss, shrinks in (("poisson", (0.0,)), ("absolute_error", SHRINKS)):
            model = ValueModel(horizon_days=windows.horizon_days, random_state=random_state,
                               loss=loss, shrink=0.0).fit(X, out["future_spend"].to_numpy())
            for shrink in shrinks:
                model.shrink_ = shrink if "spend_recent" in X_score else 0.0
                name = f"{_outer(k, n)}w_{loss}_shrink_{shrink:g}"
                scores[name] = float(np.mean(np.abs(model.predict(X_score) - truth)))
                options[name] = {"n_windows": _outer(k, n), "loss": loss,
                                 "shrink": float(shrink)}
    if not scores:
        return default
    best = min(scores, key=lambda name: (round(scores[name], 6), -options[name]["n_windows"]))
    return {**options[best], "scores": scores, "chosen_on": str(windows.cutoffs[1].date())}

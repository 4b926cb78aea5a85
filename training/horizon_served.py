"""Which model answers churn and spend at any horizon, and its member scores (step "horizons").

The step "horizons" (:mod:`training.horizon_step`) validates, at each horizon
``h``, the version's own churn and value models placed on each member's BG/NBD
curve (:data:`CARRIED`), the models retrained at ``h``, the baselines and the
purchase-cycle models. Here: the choice of one model per task from those numbers
(:func:`served_models`; for the mean spend, the figure to sum: :func:`served_mean`),
the horizons it scores every member at
(:func:`served_anchors`), its fit there (:func:`fit_served`) and the file its
scores go to (:func:`horizon_summary`). :mod:`training.artifacts.horizons`
answers from them.

Imports: :mod:`features`, :mod:`models`, :mod:`training.artifacts` and
:mod:`training.member_scoring`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.errors import DataError
from models.lifecycle import (
    BuyerSample,
    ChurnModel,
    PastSpendBaseline,
    RecencyBaseline,
    TrainingWindows,
    ValueModel,
    make_engine_windows,
    make_windows,
)
from training.artifacts.horizons import CYCLE_MODELS, LABELS
from training.member_scoring import HorizonModels

#: Models compared per horizon, the version's own first (they win ties).
CHURN_MODELS = ("churn_model_at_H", "churn_model", "recency_only", "bgnbd")
VALUE_MODELS = ("value_model_at_H", "value_model", "past_spend_rate", "bgnbd_gamma_gamma")
#: The version's own models at its horizon H, placed on each member's BG/NBD curve.
CARRIED = {"churn": "churn_model_at_H", "value": "value_model_at_H"}
#: The version's value model's mean forecast at H, placed so: what ``mean_spend_<N>d`` is.
CARRIED_MEAN = "value_mean_at_H"
#: The measure each task's served model is chosen on at the validated horizons: the one the
#: issue's targets and the flags judge (PR-AUC for churn, MAE for spend).
MAIN_MEASURE = {"churn": "pr_auc", "value": "mae"}


def served_models(validation: dict) -> dict:
    """``{"churn": model, "value": model}``: per task, the one model that answers at every
    horizon (``validation``: :func:`validate_horizon`'s result per horizon).

    By default the version's own churn and value models, placed on each member's
    BG/NBD curve (:data:`CARRIED`: one model, learnt from the most windows, the one
    that gives ``churn_risk`` and ``expected_spend``). Another model answers instead
    only where it beats them on the task's :data:`MAIN_MEASURE` by more than twice
    the margin's standard error (``carried_se``) at more than half of the validated
    horizons; of several, the one that does so most often. At H itself no margin's
    noise is measured (the version's models there are the steps "churn" and "value"'s,
    judged against their baselines by the flags), so H counts as no win: a leaning
    toward the version's own models, which the noise rule intends anyway. Choosing on point
    estimates alone flip-flopped between models from one training cut-off to the
    next on the Complete Journey (PR-AUC margins of 0.0005). One model per task, not
    one per horizon: answers that switch model between two horizons jump there (a
    member's churn risk moved by up to 0.87 from one day to the next, at 29, 45 or 75
    days, when BG/NBD won at 60 days and the churn model at 28, 30 and 90). Without
    the version's own models (none trained), the model best at the most horizons
    answers.

    >>> served_models({"60": {"churn": {"churn_model_at_H": {"pr_auc": 0.47},
    ...                                 "bgnbd": {"pr_auc": 0.49}},
    ...                       "value": {"value_model_at_H": {"mae": 121.0},
    ...                                 "past_spend_rate": {"mae": 123.3}},
    ...                       "carried_se": {"churn": {"bgnbd": 0.008}}}})
    {'churn': 'bgnbd', 'value': 'value_model_at_H'}
    """
    chosen = {}
    for task, names in (("churn", CHURN_MODELS), ("value", VALUE_MODELS)):
        measure, own = MAIN_MEASURE[task], CARRIED[task]
        sign = 1.0 if measure == "mae" else -1.0  # the smallest sign * value is best
        wins = dict.fromkeys(names, 0)
        if all(own in result[task] for result in validation.values()):
            for result in validation.values():
                noise = (result.get("carried_se") or {}).get(task) or {}
                base = sign * result[task][own][measure]
                for m, se in noise.items():
                    margin = base - sign * result[task][m][measure]  # > 0: m is better
                    wins[m] += bool(np.isfinite(se) and margin > 2 * se)
            best = max(names, key=lambda m: (wins[m], -names.index(m)))
            chosen[task] = best if 2 * wins[best] > len(validation) else own
            continue
        for result in validation.values():
            values = {m: sign * result[task][m][measure] for m in names if m in result[task]}
            lowest = min(values.values())
            for m, value in values.items():
                wins[m] += value == lowest
        chosen[task] = max(names, key=lambda m: (wins[m], -names.index(m)))
    return chosen


def sum_distance(actual, predicted) -> float:
    """How far a forecast's total is from the actual total, in log terms (0: exact; a
    factor of 2 either way: log 2); infinite when either total is not positive.

    >>> round(sum_distance([1.0, 1.0], [1.0, 3.0]), 4)
    0.6931
    """
    spent = float(np.sum(actual))
    return _log_distance(float(np.sum(predicted)) / spent) if spent > 0 else float("inf")


def served_mean(validation: dict) -> str:
    """The spend answer ``mean_spend_<N>d`` gives, the one to sum over members: the version's
    value model's mean forecast (:data:`CARRIED_MEAN`, the CLV's) or BG/NBD + Gamma-Gamma's
    expected spend (also a mean), from ``validation`` (:func:`validate_horizon`'s result
    per horizon).

    As :func:`served_models`: the value model's mean, unless BG/NBD + Gamma-Gamma's total
    came closer to the validation window's actual spend (:func:`sum_distance`) by more
    than twice that margin's standard error (``sums_se``) at more than half of the
    validated horizons. At H the value model's mean is the value step's own forecast, its
    noise measured on the same windows; where those windows were not reused (no paired
    noise) H counts as no win. On the Complete Journey the value model's mean sums within
    0.96-1.00 of the spend at 30-120 days; on CDNOW, a single 1997 cohort that decays,
    it over-forecasts by 1.27-1.56 where BG/NBD + Gamma-Gamma gives 0.95-1.13.

    >>> served_mean({"90": {"value_sums": {"value_mean_at_H": {"total_ratio": 1.27},
    ...                                    "bgnbd_gamma_gamma": {"total_ratio": 1.13}},
    ...                     "sums_se": 0.02}})
    'bgnbd_gamma_gamma'
    """
    wins = 0
    for result in validation.values():
        sums, se = result.get("value_sums") or {}, result.get("sums_se")
        own, cycle = ((sums.get(m) or {}).get("total_ratio") for m in (CARRIED_MEAN,
                                                                      CYCLE_MODELS["value"]))
        if own is None or cycle is None or se is None or not np.isfinite(se):
            continue  # not measured here (no mean of the version's, or no paired noise)
        margin = _log_distance(own) - _log_distance(cycle)  # > 0: BG/NBD sums closer
        wins += bool(margin > 2 * se)
    return CYCLE_MODELS["value"] if 2 * wins > len(validation) else CARRIED_MEAN


def _log_distance(ratio: float) -> float:
    return abs(float(np.log(ratio))) if ratio > 0 else float("inf")


def served_anchors(model: str, validated: list[int], own_h: int | None) -> list[int]:
    """The horizons at which ``model`` is fitted and scores every member: the version's
    horizon for its own models, each validated horizon for the models fitted per horizon,
    none for the purchase-cycle models (their parameters answer at any horizon)."""
    if model in CYCLE_MODELS.values():
        return []
    if model in CARRIED.values():
        return [int(own_h)] if own_h else []
    return list(validated)


def fit_served(run, served: dict, anchors: dict, sample: BuyerSample,
               reused: dict) -> tuple[HorizonModels, ...]:
    """The served models at each of their anchor horizons, fitted on every window there
    (the validation window too, as the steps "churn" and "value" fit theirs). The
    version's own models serve as they are; a horizon's windows are built again, one
    horizon at a time, only when a model fitted per horizon is served."""
    seed, out = run.config["seed"], []
    own = {"churn": getattr(run, "churn", None), "value": getattr(run, "value", None)}
    for h in sorted(set(anchors["churn"]) | set(anchors["value"])):
        fitted, windows = {}, reused.get(h)
        for task in ("churn", "value"):
            model = served[task] if h in anchors[task] else None
            if model is None:
                continue
            # The version's own model: served when chosen (it exists then: the choice is
            # offered only when it does), and equal to a refit at H on the same windows.
            if model in CARRIED.values() or (
                    own[task] is not None and model in ("churn_model", "value_model")
                    and windows is not None and windows is getattr(run, "windows", None)):
                if own[task] is None:
                    raise DataError(f"the version's {task} model was not trained.")
                fitted[task] = own[task]
                continue
            if windows is None:
                windows = horizon_windows(run.dataset, run.as_of, h, seed, run.engine_tables,
                                          sample)
            X, outcomes = windows.all()
            fitted[task] = {
                "churn_model": lambda: ChurnModel(horizon_days=h, random_state=seed)
                .fit_windows(windows, include_validation=True),
                "value_model": lambda: ValueModel(horizon_days=h, random_state=seed, mean_loss=None)
                .fit_windows(windows, include_validation=True),
                "recency_only": lambda: RecencyBaseline().fit(X, outcomes["churned"]),
                "past_spend_rate": lambda: PastSpendBaseline(h),
            }[model]()
        out.append(HorizonModels(int(h), fitted.get("churn"), fitted.get("value")))
    return tuple(out)


def served_by(served: dict) -> str:
    """The models that answer churn, spend and mean spend at any horizon, in words.

    >>> served_by({"churn": "churn_model_at_H", "value": "value_model",
    ...            "mean": "bgnbd_gamma_gamma"}).split("; ")
    ['churn: churn model at H', 'spend: spend model retrained per horizon', \
'mean spend: BG/NBD + Gamma-Gamma spend']
    """
    def said(model: str) -> str:
        return LABELS[model] + (" retrained per horizon" if model in ("churn_model",
                                                                     "value_model") else "")

    mean = f"; mean spend: {said(served['mean'])}" if served.get("mean") else ""
    return f"churn: {said(served['churn'])}; spend: {said(served['value'])}{mean}"


def horizon_summary(summary: pd.DataFrame, scores: pd.DataFrame | None) -> pd.DataFrame:
    """``horizon_summary.parquet``: each member's purchase summary (``member_id`` a column)
    and the validated horizons' member columns (:class:`~training.member_scoring.HorizonModels`),
    matched by member id."""
    out = summary.reset_index()
    if scores is not None and len(scores.columns):
        found = scores.set_axis(scores.index.astype(str)).reindex(out["member_id"].astype(str))
        for column in scores.columns:
            out[column] = found[column].to_numpy()
    return out


def horizon_windows(dataset, as_of, horizon: int, seed: int, engine,
                    sample: BuyerSample) -> TrainingWindows:
    """The churn and value windows at ``horizon`` (the step "windows"' recipe): the
    validation cutoff ``as_of - horizon``, training cutoffs as far back as the history allows."""
    if engine is None:
        return make_windows(dataset, as_of, horizon, n_windows=None, random_state=seed,
                            sample=sample)
    return make_engine_windows(engine.lines, engine.small, as_of, horizon, n_windows=None,
                               random_state=seed, sample=sample)

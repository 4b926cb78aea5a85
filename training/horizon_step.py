"""The training step "horizons": churn and spend at horizons other than the version's own.

The churn and value models answer at the version's horizon ``H`` only. This
step fits the purchase-cycle models (:mod:`models.lifecycle.bgnbd`: BG/NBD for
``P(no purchase in the next N days)`` and expected purchases, Gamma-Gamma for
spend per purchase), which answer at any ``N``, and validates every answer on
the later period, per horizon ``h`` (``H`` and ``churn.validate_horizons``,
30/60/90 days by default; an empty list turns the validation off, not the fit):

- windows with horizon ``h`` (:func:`models.lifecycle.windows.make_windows`):
  validation cutoff ``as_of - h``; a horizon whose windows do not fit in the
  data is left out, with the reason;
- churn: the gradient-boosted churn model trained at ``h`` on the earlier
  windows, recency only, and BG/NBD fitted on the purchases before the cutoff;
  ROC-AUC and PR-AUC;
- spend over ``h`` days: the value model trained at ``h``, the past-spend rate,
  and BG/NBD expected purchases x Gamma-Gamma spend per purchase; Spearman,
  MAE and top-decile capture.

It records ``metrics["horizons"]`` (``{"trained": True, "params", "validation":
{"<h>": {"churn": {model: metrics}, "value": {...}}}, "left_out": {...}}``, or
``{"trained": False, "reason"}``), ``tables["horizon_metrics"]`` for the report
and, for ``offers score --horizon-days`` and the profile endpoint, the fitted
parameters (``run.horizon_model``, written as ``horizon_model.json``) and each
member's purchase summary as of ``as_of`` (``run.horizon_summary``). A model
that loses to its baseline at a horizon is flagged (:func:`horizon_flags`).

Imports: :mod:`features`, :mod:`models`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError
from models import metrics as model_metrics
from models.lifecycle import (
    BetaGeoModel,
    ChurnModel,
    GammaGammaModel,
    PastSpendBaseline,
    RecencyBaseline,
    ValueModel,
    engine_purchase_summary,
    make_engine_windows,
    make_windows,
    predict_at_horizon,
    purchase_summary,
)

logger = logging.getLogger(__name__)

#: Models compared per horizon, the baseline each is judged against and their metrics.
CHURN_MODELS = ("churn_model", "recency_only", "bgnbd")
VALUE_MODELS = ("value_model", "past_spend_rate", "bgnbd_gamma_gamma")
CHURN_METRICS = ("roc_auc", "pr_auc")
VALUE_METRICS = ("spearman", "mae", "top_decile_capture")
LABELS = {"churn_model": "churn model", "bgnbd": "BG/NBD churn", "value_model": "spend model",
          "bgnbd_gamma_gamma": "BG/NBD + Gamma-Gamma spend",
          "recency_only": "recency only", "past_spend_rate": "past-spend rate"}


def fit_purchase_cycle(transactions: pd.DataFrame | None, as_of, *,
                       lines=None) -> tuple[dict, pd.DataFrame]:
    """BG/NBD and Gamma-Gamma fitted on the purchases before ``as_of``.

    The purchase summary comes from ``lines`` (an engine's Ibis table,
    :func:`models.lifecycle.engine_purchase_summary`) when given, else from the
    ``transactions`` frame.

    Returns
    -------
    params : dict
        ``{"bgnbd": ..., "gamma_gamma": ..., "as_of": iso date}`` (JSON-ready).
    summary : pandas.DataFrame
        :func:`models.lifecycle.purchase_summary` as of ``as_of``.
    """
    summary = (engine_purchase_summary(lines, as_of) if lines is not None
               else purchase_summary(transactions, as_of))
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    gg = GammaGammaModel().fit(summary["frequency"], summary["monetary"])
    return {"bgnbd": bg.to_json(), "gamma_gamma": gg.to_json(),
            "as_of": pd.Timestamp(as_of).isoformat()}, summary


def fit_horizon_step(run) -> None:
    """Fit, validate and record the purchase-cycle models of a ``TrainingRun`` (module doc)."""
    run.horizon_model, run.horizon_summary = None, None
    engine = run.engine_tables  # None: pandas
    try:
        params, summary = (fit_purchase_cycle(run.dataset.transactions, run.as_of)
                           if engine is None else
                           fit_purchase_cycle(None, run.as_of, lines=engine.lines))
    except DataError as exc:
        logger.info("purchase-cycle models not trained: %s", exc)
        run.metrics["horizons"] = {"trained": False, "reason": str(exc)}
        return
    run.horizon_model, run.horizon_summary = params, summary
    wanted = {int(h) for h in run.config["churn"]["validate_horizons"]}  # empty: no validation
    horizons = sorted(wanted | ({int(run.horizon_days)} if wanted and run.horizon_days else set()))
    validation, left_out, rows = {}, {}, []
    for h in horizons:
        try:
            validation[str(h)] = result = validate_horizon(run.dataset, run.as_of, h,
                                                           run.config["seed"], engine)
        except (ConfigError, DataError) as exc:
            left_out[str(h)] = str(exc)
            logger.info("horizon %d days not validated: %s", h, exc)
            continue
        for task in ("churn", "value"):
            rows += [{"horizon_days": h, "task": task, "model": m, **v}
                     for m, v in result[task].items()]
    run.tables["horizon_metrics"] = pd.DataFrame(rows)
    run.metrics["horizons"] = {"trained": True, "served_by": "bgnbd + gamma_gamma",
                               "params": params, "validation": validation,
                               "left_out": left_out}


def validate_horizon(dataset, as_of, horizon: int, seed: int = 0, engine=None) -> dict:
    """Churn and spend metrics of the three models of each at ``horizon`` (module docstring).

    ``engine`` (an open :class:`training.engines.EngineTables`) builds the
    windows and purchase summaries on its engine; ``dataset`` is then not read.

    Raises
    ------
    ConfigError
        The data are too short for windows at this horizon.
    DataError
        A model cannot be fitted on the earlier windows or purchases.
    """
    if engine is None:
        windows = make_windows(dataset, as_of, horizon, random_state=seed)
    else:
        windows = make_engine_windows(engine.lines, engine.small, as_of, horizon,
                                      random_state=seed)
    X_train, out_train = windows.train()
    X_val, out_val = windows.validation()
    params, summary = (fit_purchase_cycle(dataset.transactions, windows.validation_cutoff)
                       if engine is None else
                       fit_purchase_cycle(None, windows.validation_cutoff, lines=engine.lines))
    cycle = predict_at_horizon(params, summary.reindex(X_val.index), horizon)
    churned = out_val["churned"].to_numpy().astype(np.float64)
    churn = ChurnModel(horizon_days=horizon, random_state=seed).fit(X_train, out_train["churned"])
    recency = RecencyBaseline().fit(X_train, out_train["churned"])
    scores = {"churn_model": churn.predict_proba(X_val),
              "recency_only": recency.predict_proba(X_val),
              "bgnbd": cycle["churn_risk"].to_numpy()}
    spend = out_val["future_spend"].to_numpy()
    value = ValueModel(horizon_days=horizon, random_state=seed).fit(
        X_train, out_train["future_spend"], past_spend=out_train["past_spend"])
    predictions = {"value_model": value.predict(X_val),
                   "past_spend_rate": PastSpendBaseline(horizon).predict(X_val),
                   "bgnbd_gamma_gamma": cycle["expected_spend"].to_numpy()}
    return {
        "validation_cutoff": windows.validation_cutoff.isoformat(),
        "validation_members": int(len(X_val)),
        "churn": {m: _pick(model_metrics.classification_metrics(churned, s), CHURN_METRICS)
                  for m, s in scores.items()},
        "value": {m: _pick(model_metrics.regression_metrics(spend, p), VALUE_METRICS)
                  for m, p in predictions.items()},
    }


def _pick(values: dict, names: tuple[str, ...]) -> dict:
    return {n: float(values[n]) for n in names}


def horizon_flags(metrics: dict) -> list[dict]:
    """Flags (as :func:`training.baseline_flags.baseline_flags` writes them) per horizon.

    At each validated horizon, the churn model and BG/NBD are judged against
    recency only (ROC-AUC, PR-AUC), the spend model and BG/NBD + Gamma-Gamma
    against the past-spend rate (Spearman, MAE, top-decile capture); the
    version's own models at its horizon ``H`` are left to ``baseline_flags``.
    """
    found = metrics.get("horizons") or {}
    # The version's own churn and value models at H are flagged by baseline_flags already.
    own = str((metrics.get("churn") or {}).get("horizon_days"))
    flags = []
    for h, result in (found.get("validation") or {}).items():
        for task, baseline, names in (("churn", "recency_only", CHURN_METRICS),
                                      ("value", "past_spend_rate", VALUE_METRICS)):
            table = result[task]
            for model in table:
                if model == baseline or (h == own and model in ("churn_model", "value_model")):
                    continue
                for name in names:
                    value, base = table[model][name], table[baseline][name]
                    if (value > base) if name == "mae" else (value < base):
                        flags.append({
                            "model": f"horizon_{h}d", "metric": f"{LABELS[model]} {name} at "
                            f"{h} days", "value": float(value), "baseline": LABELS[baseline],
                            "baseline_value": float(base), "subject": LABELS[model],
                            "measure": name, "horizon_days": int(h)})
    return flags

"""The training step "horizons": churn and spend at horizons other than the version's own.

The churn and value models answer at the version's horizon ``H`` only. This
step fits the purchase-cycle models (:mod:`models.lifecycle.bgnbd`: BG/NBD for
``P(no purchase in the next N days)`` and expected purchases, Gamma-Gamma for
spend per purchase), which answer at any ``N``, and validates every answer on
the later period, per horizon ``h`` (``H`` and ``churn.validate_horizons``,
30/60/90 days by default; an empty list turns the validation off, not the fit):

- windows with horizon ``h`` (:func:`models.lifecycle.windows.make_windows`):
  validation cutoff ``as_of - h``, training cutoffs stacked as far back as the
  history allows (``n_windows=None``, as the step "windows"); a horizon whose
  windows do not fit in the data is left out, with the reason;
- churn: the gradient-boosted churn model trained at ``h`` on the earlier
  windows, recency only, and BG/NBD fitted on the purchases before the cutoff;
  ROC-AUC and PR-AUC;
- spend over ``h`` days: the value model trained at ``h``, the past-spend rate,
  and BG/NBD expected purchases x Gamma-Gamma spend per purchase; Spearman,
  MAE and top-decile capture;
- both: the version's own churn and value models (at its horizon ``H``), fitted
  on ``H``-day windows ending at the validation cutoff and placed on each
  member's BG/NBD curve at ``h``: what ``offers score --horizon-days h`` serves
  by default (``churn_model_at_H``, ``value_model_at_H``);
- sums over members (``value_sums``, ``tables["horizon_sums"]``): every spend
  answer's predicted over actual spend of the validation window, in all and by
  time since the last purchase, with the version's mean forecast placed so
  (``value_mean_at_H``): what ``mean_spend_<h>d`` sums to.

One model per task then answers at every horizon (:mod:`training.horizon_served`:
the version's own unless another beats it beyond twice its noise at most
horizons), with member scores where it was fitted (``run.horizon_models``,
scored by the member-table step into ``horizon_summary.parquet``).

Large data: above ``max_members`` members who bought before ``as_of``
(50,000, as the windows) the parameters are fitted, and every horizon is
validated, on one seeded sample of them (:func:`draw_buyers`, the windows'
sample: BG/NBD and Gamma-Gamma have 4 and 3 population-level parameters); the
summary, and so ``offers score --horizon-days``, still covers every member. The
sample is drawn once for all horizons (on an engine its lines are one
temporary table), member features at a cutoff that two horizons share are
built once, and at the version's own horizon ``H`` the windows step's windows
and the churn and value steps' metrics are reused. Below the limit the numbers
are those of every member.

It records ``metrics["horizons"]`` (``{"trained": True, "params", "validation":
{"<h>": {"churn": {model: metrics}, "value": {...}, "value_sums": {...}}},
"left_out": {...},
"members_before_as_of", "sample_fraction"}``, or
``{"trained": False, "reason"}``), ``tables["horizon_metrics"]`` and
``tables["horizon_sums"]`` for the report
and, for ``offers score --horizon-days`` and the profile endpoint, the fitted
parameters (``run.horizon_model``, written as ``horizon_model.json``) and each
member's purchase summary as of ``as_of`` (``run.horizon_summary``). A model
that loses to its baseline at a horizon is flagged (:func:`horizon_flags`), with
the noise of that loss: each horizon's ``baseline_se`` holds, for every measure a
model loses on, the standard error of its margin over the baseline on the same
resampled members (only losses are resampled, so a model that wins costs nothing).

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
    BuyerSample,
    ChurnModel,
    GammaGammaModel,
    PastSpendBaseline,
    RecencyBaseline,
    TrainingWindows,
    ValueModel,
    engine_purchase_summary,
    engine_sample_buyers,
    make_engine_windows,
    make_windows,
    predict_at_horizon,
    purchase_summary,
    sample_buyers,
)
from models.lifecycle.engine_windows import prefetch_features
from models.lifecycle.purchase_days import PurchaseDays
from models.lifecycle.reliability import (
    recency_bands,
    spend_by_recency,
    spend_sums,
)
from models.lifecycle.windows import DEFAULT_MAX_MEMBERS
from training.artifacts.horizons import CYCLE_MODELS, LABELS, place_on_curve
from training.horizon_served import (
    CARRIED,
    CARRIED_MEAN,
    CHURN_MODELS,
    MAIN_MEASURE,
    VALUE_MODELS,
    fit_served,
    horizon_windows,
    served_anchors,
    served_by,
    served_mean,
    served_models,
    sum_distance,
)

logger = logging.getLogger(__name__)

#: The measures of each task per horizon.
CHURN_METRICS = ("roc_auc", "pr_auc")
VALUE_METRICS = ("spearman", "mae", "top_decile_capture")


def fit_purchase_cycle(transactions: pd.DataFrame | None, as_of, *, lines=None,
                       members: pd.Index | None = None,
                       days: PurchaseDays | None = None) -> tuple[dict, pd.DataFrame]:
    """BG/NBD and Gamma-Gamma fitted on the purchases before ``as_of``.

    The purchase summary comes from ``lines`` (an engine's Ibis table,
    :func:`models.lifecycle.engine_purchase_summary`) when given, else from the
    ``transactions`` frame, or from their purchase ``days`` grouped already (a
    midnight ``as_of``). ``members`` (ids), when given, are the members the
    parameters are fitted on (a seeded sample: the parameters describe the
    population, :class:`models.lifecycle.BuyerSample`); the summary still has
    every member.

    Returns
    -------
    params : dict
        ``{"bgnbd": ..., "gamma_gamma": ..., "as_of": iso date}`` (JSON-ready).
    summary : pandas.DataFrame
        :func:`models.lifecycle.purchase_summary` as of ``as_of``.
    """
    summary = (engine_purchase_summary(lines, as_of) if lines is not None
               else days.summary(as_of) if days is not None
               else purchase_summary(transactions, as_of))
    fit_on = summary if members is None else summary[summary.index.isin(members)]
    if members is not None:
        logger.info("purchase-cycle models fitted on a sample of %d of %d members",
                    len(fit_on), len(summary))
    bg = BetaGeoModel().fit(fit_on["frequency"], fit_on["recency"], fit_on["T"])
    gg = GammaGammaModel().fit(fit_on["frequency"], fit_on["monetary"])
    return {"bgnbd": bg.to_json(), "gamma_gamma": gg.to_json(),
            "as_of": pd.Timestamp(as_of).isoformat()}, summary


def draw_buyers(dataset, as_of, seed: int = 0, engine=None,
                max_members: int | None = DEFAULT_MAX_MEMBERS) -> BuyerSample:
    """The members the validation and the fit learn from: every buyer before ``as_of``, or a
    seeded sample of ``max_members`` of them (:mod:`models.lifecycle.buyer_sample`; the same
    members on pandas and on ``engine``). Close it when done (a temporary table on the engine).
    """
    if engine is None:
        return sample_buyers(dataset, as_of, max_members, seed)
    return engine_sample_buyers(engine.lines, as_of, max_members, seed)


def fit_horizon_step(run, *, max_members: int | None = DEFAULT_MAX_MEMBERS) -> None:
    """Fit, validate and record the purchase-cycle models of a ``TrainingRun`` (module doc).

    Above ``max_members`` members who bought before ``as_of`` the parameters
    and the validation come from a seeded sample of them (module docstring).
    """
    run.horizon_model, run.horizon_summary, run.horizon_models = None, None, ()
    engine, seed = run.engine_tables, run.config["seed"]  # engine None: pandas
    # The windows step's sample when it is this one (closed here: its last user).
    sample, run.buyer_sample = getattr(run, "buyer_sample", None), None
    try:
        if sample is None or not sample.drawn_as(run.as_of, max_members, seed):
            if sample is not None:
                sample.close()
            sample = draw_buyers(run.dataset, run.as_of, seed, engine, max_members)
    except DataError as exc:
        logger.info("purchase-cycle models not trained: %s", exc)
        run.metrics["horizons"] = {"trained": False, "reason": str(exc)}
        return
    with sample:
        _fit_and_validate(run, sample)
    run.value_validation = None  # the value step's forecasts: used up


def _fit_and_validate(run, sample: BuyerSample) -> None:
    engine, seed = run.engine_tables, run.config["seed"]
    # pandas: the lines grouped into purchase days once, for the summaries at as_of and at
    # every horizon's validation cutoff (midnights when as_of is one).
    days = (PurchaseDays.of(run.dataset.transactions)
            if engine is None and run.as_of == run.as_of.normalize() else None)
    try:
        params, summary = fit_purchase_cycle(
            None if engine is not None else run.dataset.transactions, run.as_of,
            lines=None if engine is None else engine.basket_rows(), members=sample.kept,
            days=days)
    except DataError as exc:
        logger.info("purchase-cycle models not trained: %s", exc)
        run.metrics["horizons"] = {"trained": False, "reason": str(exc)}
        return
    run.horizon_model, run.horizon_summary = params, summary
    if days is not None and sample.kept is not None:
        days = days.of_members(sample.kept)  # the sample's, as its lines
    wanted = {int(h) for h in run.config["churn"]["validate_horizons"]}  # empty: no validation
    horizons = sorted(wanted | ({int(run.horizon_days)} if wanted and run.horizon_days else set()))
    validation, left_out, rows, sums = {}, {}, [], []
    reused = {h: _reusable_windows(run, h) for h in horizons}
    # The version's own models, carried to each horizon, are candidates when both exist.
    own_h = (int(run.horizon_days) if run.horizon_days and getattr(run, "churn", None) is not None
             and getattr(run, "value", None) is not None else None)
    if engine is not None:  # the member features of every horizon's windows in one pass
        try:
            prefetch_features(sample, engine.small, [h for h in horizons if reused[h] is None])
        except (ConfigError, DataError) as exc:  # each horizon then says why, as before
            logger.info("member features not built in one pass: %s", exc)
    for h in horizons:
        built = reused[h]
        try:
            if built is None:
                built = horizon_windows(run.dataset, run.as_of, h, seed, engine, sample)
            validation[str(h)] = result = validate_horizon(
                run.dataset, run.as_of, h, seed, engine, sample=sample, windows=built,
                measured=None if reused[h] is None else _measured_at(
                    run.metrics, h, getattr(run, "value_validation", None)),
                purchase_days=days, carry_from=own_h)
        except (ConfigError, DataError) as exc:
            validation.pop(str(h), None)
            left_out[str(h)] = str(exc)
            logger.info("horizon %d days not validated: %s", h, exc)
            continue
        for task in ("churn", "value"):
            rows += [{"horizon_days": h, "task": task, "model": m, **v}
                     for m, v in result[task].items()]
        sums += sum_rows(h, result["value_sums"])
    built = None  # the last horizon's windows: released before the served models are fitted
    served = served_models(validation) if validation else dict(CYCLE_MODELS)
    validated = sorted(int(h) for h in validation)
    anchors = {task: served_anchors(served[task], validated, own_h) for task in served}
    run.horizon_models = fit_served(run, served, anchors, sample, reused)
    # horizon_model.json: the model that answers each task, the horizons it was chosen on
    # and those it has member scores at (none: answered from BG/NBD's parameters).
    params["served"] = {**served, "horizons": validated, "anchors": anchors}
    # mean_spend_<N>d: the value model's mean forecast at H (the CLV's), carried to N, or
    # BG/NBD + Gamma-Gamma's where that summed closer on the later periods (or is the only).
    if (own_h and getattr(run.value, "mean_regressor_", None) is not None
            and served_mean(validation) == CARRIED_MEAN):
        params["served"] |= {"mean": CARRIED_MEAN, "mean_anchor": own_h}
    else:
        params["served"]["mean"] = CYCLE_MODELS["value"]
    run.tables["horizon_metrics"] = pd.DataFrame(rows)
    run.tables["horizon_sums"] = pd.DataFrame(sums)
    run.metrics["horizons"] = {"trained": True, "served": params["served"],
                               "served_by": served_by(params["served"]),
                               "params": {k: v for k, v in params.items() if k != "served"},
                               "validation": validation,
                               "left_out": left_out,
                               "members_before_as_of": int(sample.n_members),
                               "sample_fraction": float(sample.fraction)}


def _reusable_windows(run, h: int) -> TrainingWindows | None:
    """The windows step's windows when they are at ``h`` (those validate_horizon would build)."""
    built = run.windows
    return built if (built is not None and built.horizon_days == h
                     and built.as_of == run.as_of) else None


def _measured_at(metrics: dict, h: int, forecasts: dict | None = None) -> dict | None:
    """The churn and value steps' validation metrics (model and baseline) when they were
    measured at ``h``: on the windows step's windows, with the models and seed that
    :func:`validate_horizon` would fit there; None otherwise. ``forecasts``: the value
    step's own forecasts of that window (``{"median", "mean"}``), kept for the sums."""
    churn, value = metrics.get("churn") or {}, metrics.get("value") or {}
    if not churn.get("horizon_days") == value.get("horizon_days") == h:
        return None
    try:
        found = {"churn": {"churn_model": _pick(churn, CHURN_METRICS),
                           "recency_only": _pick(churn["baseline"], CHURN_METRICS)},
                 "value": {"value_model": _pick(value, VALUE_METRICS),
                           "past_spend_rate": _pick(value["baseline"], VALUE_METRICS)}}
    except KeyError:
        return None
    return found | ({"forecasts": forecasts} if forecasts else {})


def validate_horizon(dataset, as_of, horizon: int, seed: int = 0, engine=None, *,
                     max_members: int | None = DEFAULT_MAX_MEMBERS,
                     sample: BuyerSample | None = None,
                     windows: TrainingWindows | None = None,
                     measured: dict | None = None,
                     purchase_days: PurchaseDays | None = None,
                     carry_from: int | None = None) -> dict:
    """Churn and spend metrics of the three models of each at ``horizon`` (module docstring).

    ``engine`` (an open :class:`training.engines.EngineTables`) builds the
    windows and purchase summaries on its engine; ``dataset`` is then not read.
    The windows, and the BG/NBD + Gamma-Gamma fit at the validation cutoff,
    cover the members who bought before ``as_of``, or a seeded sample of
    ``max_members`` of them when there are more; ``sample`` (:func:`draw_buyers`
    as of ``as_of``) gives that choice made once for several horizons.
    ``windows``: the windows at ``horizon`` already built from that sample
    (the pipeline's step "windows" at its own horizon); ``measured``: the
    metrics of the churn and value models and their baselines on those windows
    (``{"churn": {"churn_model": ..., "recency_only": ...}, "value":
    {"value_model": ..., "past_spend_rate": ...}}``, the pipeline's steps
    "churn" and "value"), which are then not refitted. ``purchase_days``: the
    sample's lines grouped into purchase days (pandas, a midnight ``as_of``), for
    the purchase summary at the validation cutoff. ``carry_from``: the version's
    horizon ``H``; its churn and value models, fitted on ``H``-day windows ending at
    the validation cutoff and placed on each member's BG/NBD curve at ``horizon``
    (as served), are judged too (``churn_model_at_H``, ``value_model_at_H``; at
    ``H`` itself they are the models fitted at ``horizon``). None: not judged.

    Raises
    ------
    ConfigError
        The data are too short for windows at this horizon; a bad ``max_members``;
        ``sample`` or ``windows`` not of this ``as_of`` and ``horizon``.
    DataError
        A model cannot be fitted on the earlier windows or purchases.

    Returns
    -------
    dict
        ``validation_cutoff``, ``validation_members``, ``churn`` and ``value``
        (``{model: {measure: value}}``) and ``baseline_se`` (``{task: {model:
        {measure: se}}}`` for the measures a model loses to its baseline on).
    """
    as_of = pd.Timestamp(as_of)
    if measured is not None and windows is None:
        raise ConfigError("measured metrics come with the windows they were measured on; "
                          "pass windows= too, or neither.")
    if sample is None:
        with draw_buyers(dataset, as_of, seed, engine, max_members) as drawn:
            return validate_horizon(dataset, as_of, horizon, seed, engine, sample=drawn,
                                    windows=windows, measured=measured,
                                    purchase_days=purchase_days, carry_from=carry_from)
    sample.check(as_of)
    if windows is None:
        windows = horizon_windows(dataset, as_of, horizon, seed, engine, sample)
    elif (windows.horizon_days, windows.as_of) != (horizon, as_of):
        raise ConfigError(f"the windows given are at {windows.horizon_days} days as of "
                          f"{windows.as_of}, not {horizon} days as of {as_of}.")
    X_train, out_train = windows.train()
    X_val, out_val = windows.validation()
    cutoff = windows.validation_cutoff
    # The sample's purchases before the cutoff: every buyer's below max_members.
    params, summary = (fit_purchase_cycle(sample.dataset.transactions, cutoff,
                                          days=purchase_days)
                       if engine is None else fit_purchase_cycle(None, cutoff, lines=sample.lines))
    cycle = predict_at_horizon(params, summary.reindex(X_val.index), horizon)
    churned = out_val["churned"].to_numpy().astype(np.float64)
    spend = out_val["future_spend"].to_numpy()
    scores = _baseline_scores(X_train, out_train, X_val, horizon)
    scores["churn"]["bgnbd"] = cycle["churn_risk"].to_numpy()
    scores["value"]["bgnbd_gamma_gamma"] = cycle["expected_spend"].to_numpy()
    if measured is None:
        for task, fitted in _fit_models(X_train, out_train, X_val, horizon, seed).items():
            scores[task].update(fitted)
        measured = {"churn": {m: _churn_metrics(churned, scores["churn"][m])
                              for m in ("churn_model", "recency_only")},
                    "value": {m: _value_metrics(spend, scores["value"][m])
                              for m in ("value_model", "past_spend_rate")}}
    churn = {"bgnbd": _churn_metrics(churned, scores["churn"]["bgnbd"])} | measured["churn"]
    value = {"bgnbd_gamma_gamma": _value_metrics(spend, scores["value"]["bgnbd_gamma_gamma"])
             } | measured["value"]
    if carry_from == horizon:  # at H the version's models are the models fitted at h
        churn[CARRIED["churn"]] = churn["churn_model"]
        value[CARRIED["value"]] = value["value_model"]
    carried = {}
    if carry_from is not None and carry_from != horizon:
        try:
            carried = _carried_scores(sample, engine, cutoff, carry_from, horizon, seed,
                                      params, summary.reindex(X_val.index), X_val, cycle)
        except (ConfigError, DataError) as exc:  # too little history before the cutoff
            logger.info("the %d-day models not validated at %d days: %s", carry_from,
                        horizon, exc)
        for task in ("churn", "value"):
            if task in carried:
                scores[task][CARRIED[task]] = carried[task]
        if carried:
            churn[CARRIED["churn"]] = _churn_metrics(churned, carried["churn"])
            value[CARRIED["value"]] = _value_metrics(spend, carried["value"])
    result = {
        "validation_cutoff": windows.validation_cutoff.isoformat(),
        "validation_members": int(len(X_val)),
        "churn": {m: churn[m] for m in CHURN_MODELS if m in churn},
        "value": {m: value[m] for m in VALUE_MODELS if m in value},
    }
    # Sums over members, what a segment's revenue forecast is made of (mean_spend_<N>d).
    summed = dict(scores["value"])
    own = (measured or {}).get("forecasts") or {}
    if carry_from == horizon and len(own.get("mean", ())) == len(spend):
        # At H the version's forecasts are the value step's, on these same windows: listed
        # as both the model fitted at h and the version's, as in the metrics.
        summed |= {"value_model": own["median"], CARRIED["value"]: own["median"],
                   CARRIED_MEAN: own["mean"]}
    elif "mean" in carried:
        summed[CARRIED_MEAN] = carried["mean"]
    result["value_sums"] = spend_sums(spend_by_recency(
        summed, spend, X_val["recency_days"].to_numpy(dtype=float), horizon))
    if CARRIED_MEAN in summed:  # the noise of which of the two means sums closer (served_mean)
        result["sums_se"] = float(model_metrics.paired_standard_errors(
            spend, summed[CARRIED_MEAN], scores["value"]["bgnbd_gamma_gamma"],
            {"sum": sum_distance}, seed=seed)["sum"])
    actual = {"churn": churned, "value": spend}
    result["baseline_se"] = _losses_noise(result, scores, actual, seed)
    noise = _wins_over_carried_noise(result, scores, actual, seed)
    if noise:
        result["carried_se"] = noise
    return result


def _wins_over_carried_noise(result: dict, scores: dict, actual: dict, seed: int) -> dict:
    """``{task: {model: se}}``: for each model that beats the version's own models
    (:data:`CARRIED`) on the task's :data:`MAIN_MEASURE` here, the standard error of that
    margin, both scored on the same resampled members (:func:`served_models` lets such a
    model answer instead only when it wins beyond its noise). Models whose scores this call
    did not compute (at ``H``, the version's own) are left out."""
    noise = {}
    for task, names in (("churn", CHURN_MODELS), ("value", VALUE_MODELS)):
        own, measure = CARRIED[task], MAIN_MEASURE[task]
        if own not in scores[task]:
            continue
        table = result[task]
        for model in names:
            if model == own or model not in scores[task] or not _worse(
                    measure, table[own][measure], table[model][measure]):
                continue
            se = model_metrics.paired_standard_errors(
                actual[task], scores[task][model], scores[task][own],
                {measure: MEASURE_FUNCTIONS[measure]}, seed=seed)[measure]
            noise.setdefault(task, {})[model] = float(se)
    return noise


def _carried_scores(sample: BuyerSample, engine, cutoff: pd.Timestamp, carry_from: int,
                    horizon: int, seed: int, params: dict, summary: pd.DataFrame,
                    X_val: pd.DataFrame, cycle: pd.DataFrame) -> dict:
    """The churn and value models at ``carry_from`` (the version's H), fitted as the steps
    "churn" and "value" fit theirs but on windows ending at the validation ``cutoff``,
    then placed on each validation member's BG/NBD curve at ``horizon`` (``cycle``:
    BG/NBD's answer there, already computed by the caller;
    :func:`training.artifacts.horizons.place_on_curve`, as served): ``{"churn": risk,
    "value": median spend, "mean": mean spend}``. The H-day windows as of the cutoff come
    from the same members."""
    # The same members. The H-day windows' features at their own cutoffs are built in one
    # pass here and dropped with them: prefetched with the others (the windows step's
    # pass), 3 horizons' worth at 200k synthetic members raised that step's peak by 460 MiB.
    ending = sample.ending_at(cutoff)
    if engine is None:
        windows = make_windows(sample.dataset, cutoff, carry_from, n_windows=None,
                               random_state=seed, sample=ending)
    else:
        windows = make_engine_windows(sample.lines, engine.small, cutoff, carry_from,
                                      n_windows=None, random_state=seed, sample=ending)
    churn = ChurnModel(horizon_days=carry_from, random_state=seed).fit_windows(
        windows, include_validation=True)
    value = ValueModel(horizon_days=carry_from, random_state=seed).fit_windows(
        windows, include_validation=True)
    del windows
    at_h = predict_at_horizon(params, summary, carry_from)
    median, mean = value.predict_with_mean(X_val)

    def spend(at_carry):
        return place_on_curve(horizon, [carry_from], at_carry[:, None],
                              at_h[["expected_spend"]].to_numpy(),
                              cycle["expected_spend"].to_numpy())

    return {"churn": place_on_curve(horizon, [carry_from], churn.predict_proba(X_val)[:, None],
                                    at_h[["churn_risk"]].to_numpy(),
                                    cycle["churn_risk"].to_numpy(), cap=1.0, flat=1.0),
            "value": spend(median), "mean": spend(mean)}


def _baseline_scores(X_train, out_train, X_val, horizon: int) -> dict:
    """Recency only and the past-spend rate on the validation members (cheap: no model)."""
    return {"churn": {"recency_only": RecencyBaseline().fit(
                X_train, out_train["churned"]).predict_proba(X_val)},
            "value": {"past_spend_rate": PastSpendBaseline(horizon).predict(X_val)}}


def _fit_models(X_train, out_train, X_val, horizon: int, seed: int) -> dict:
    """The churn and value models fitted at ``horizon``: their validation scores."""
    churn = ChurnModel(horizon_days=horizon, random_state=seed).fit(X_train, out_train["churned"])
    value = ValueModel(horizon_days=horizon, random_state=seed, mean_loss=None).fit(
        X_train, out_train["future_spend"], past_spend=out_train["past_spend"])
    return {"churn": {"churn_model": churn.predict_proba(X_val)},
            "value": {"value_model": value.predict(X_val)}}


#: ``horizon_sums``' columns for :func:`~models.lifecycle.reliability.recency_bands`, by h.
SUM_BANDS = ("last bought <= h days ago", "h-2h", "2h-4h", "> 4h")


def sum_rows(horizon: int, sums: dict) -> list[dict]:
    """``horizon_sums``' rows at ``horizon``: per spend answer (``value_sums``), its predicted
    over actual spend of the validation window, in all and by :data:`SUM_BANDS`, the
    version's mean (what ``mean_spend_<N>d`` sums to) first.

    >>> row = sum_rows(30, {"bgnbd_gamma_gamma": {
    ...     "total_ratio": 0.9, "by_last_purchase": {"<= 30 days ago": 0.95}}})[0]
    >>> row["total"], row["last bought <= h days ago"]
    (0.9, 0.95)
    """
    bands = dict(zip(recency_bands(horizon), SUM_BANDS))
    order = sorted(sums, key=lambda m: m != CARRIED_MEAN)
    return [{"horizon_days": int(horizon), "model": model,
             "total": sums[model]["total_ratio"],
             **{bands[b]: r for b, r in sums[model]["by_last_purchase"].items()}}
            for model in order]


def _churn_metrics(churned, score) -> dict:
    return _pick(model_metrics.classification_metrics(churned, score), CHURN_METRICS)


def _value_metrics(spend, prediction) -> dict:
    return _pick(model_metrics.regression_metrics(spend, prediction), VALUE_METRICS)


#: Each measure's function, for the standard error of a model's loss to its baseline.
MEASURE_FUNCTIONS = {"roc_auc": model_metrics.roc_auc, "pr_auc": model_metrics.pr_auc,
                     "spearman": model_metrics.spearman, "mae": model_metrics.mae,
                     "top_decile_capture": model_metrics.top_decile_capture}


def _losses_noise(result: dict, scores: dict, actual: dict, seed: int) -> dict:
    """``{task: {model: {measure: se}}}``: for each measure on which a model does worse than
    its baseline (:func:`horizon_flags`' rule), the standard error of the margin, both scored
    on the same resampled members (:func:`models.metrics.paired_standard_errors`). Only the
    losses are resampled: a model that beats its baseline costs nothing here. A model whose
    scores this call did not compute (the version's own, reused at ``H``) is left out."""
    noise = {}
    for task, baseline, names in TASKS:
        table = result[task]
        for model, values in table.items():
            if model == baseline or model not in scores[task]:
                continue
            lost = {n: MEASURE_FUNCTIONS[n] for n in names
                    if _worse(n, values[n], table[baseline][n])}
            if lost:
                noise.setdefault(task, {})[model] = model_metrics.paired_standard_errors(
                    actual[task], scores[task][model], scores[task][baseline], lost, seed=seed)
    return noise


#: (task, its baseline, its measures), as :func:`horizon_flags` judges them.
TASKS = (("churn", "recency_only", CHURN_METRICS), ("value", "past_spend_rate", VALUE_METRICS))


def _worse(name: str, value: float, base: float) -> bool:
    return (value > base) if name == "mae" else (value < base)


def _pick(values: dict, names: tuple[str, ...]) -> dict:
    return {n: float(values[n]) for n in names}


def horizon_flags(metrics: dict) -> list[dict]:
    """Flags (as :func:`training.baseline_flags.baseline_flags` writes them) per horizon.

    At each validated horizon, the churn model and BG/NBD are judged against
    recency only (ROC-AUC, PR-AUC), the spend model and BG/NBD + Gamma-Gamma
    against the past-spend rate (Spearman, MAE, top-decile capture); the
    version's own models at its horizon ``H`` are left to ``baseline_flags``.
    A flag whose margin's standard error was measured (``baseline_se``) has
    ``noise``, twice it.
    """
    found = metrics.get("horizons") or {}
    # The version's own churn and value models at H are flagged by baseline_flags already.
    own = str((metrics.get("churn") or {}).get("horizon_days"))
    flags = []
    for h, result in (found.get("validation") or {}).items():
        for task, baseline, names in TASKS:
            table = result[task]
            noise = (result.get("baseline_se") or {}).get(task) or {}
            for model in table:
                if model == baseline or (h == own and model in (
                        "churn_model", "value_model", *CARRIED.values())):
                    continue
                for name in names:
                    value, base = table[model][name], table[baseline][name]
                    if _worse(name, value, base):
                        flag = {
                            "model": f"horizon_{h}d", "metric": f"{LABELS[model]} {name} at "
                            f"{h} days", "value": float(value), "baseline": LABELS[baseline],
                            "baseline_value": float(base), "subject": LABELS[model],
                            "measure": name, "horizon_days": int(h)}
                        se = (noise.get(model) or {}).get(name)
                        if se is not None and np.isfinite(se):
                            flag["noise"] = 2 * float(se)
                        flags.append(flag)
    return flags

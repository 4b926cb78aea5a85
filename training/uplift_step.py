"""The training step "uplift": validate uplift models on the data's randomised control groups.

An uplift model needs sends with a randomised control: ``holdout`` offer events
(docs/data.md), which the engine's own control groups produce and
``offers synth`` plants. The step fits :func:`models.uplift.fit_uplift` per
offer type and outcome (incremental spend, retention), validated on held-out
members against random targeting and against targeting by P(redeem), and
records what it found:

- ``metrics["uplift"]``: ``{"trained": True, "learner", "models": [one record per
  offer type and outcome, VALIDATION_COLUMNS], "better_than_random": [...]}``, or
  ``{"trained": False, "reason": ...}`` when the data cannot support it (no
  control group, too few rows);
- ``tables["uplift_validation"]`` and ``tables["uplift_curves"]`` (the Qini
  curves of the validation members), shown in the report;
- ``tables["uplift_scores"]`` (:data:`training.artifacts.schema.UPLIFT_SCORES`):
  every member's predicted uplift as of ``as_of`` for each offer type whose
  *spend* model validated better than random and than targeting by P(redeem)
  (:func:`models.uplift.member_uplift`). The served models are the validated
  ones (fitted on the training members), so the report's curves describe
  exactly what the engine ranks on. The offer engine ranks offers of those
  types by expected incremental profit (``serving/engine/uplift.py``).

Uplift is not a model the offer engine needs (without a validated one it ranks
by expected value, and says so), so a step that cannot run is not one of the
pipeline's *skipped* steps, which withhold offers.

On a relational engine (``run.engine_tables``) the rows are built from the
lines of the members sent or held out only, fetched from the engine
(:mod:`training.member_steps`), and every member is scored with features and
affinities computed on the engine (:func:`models.uplift.engine_member_uplift`);
on Spark, where the member features stay after the segmentation, in partitions
on the executors (:mod:`training.spark_uplift`).

Imports: :mod:`features`, :mod:`models`, :mod:`training` (member_steps, spark_members,
spark_uplift).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.errors import DataError
from models.member_source import event_kinds
from models.offer_response import offer_specs_from_events
from models.uplift import compact_scores, engine_member_uplift, fit_uplift, member_uplift
from training.heap import release_free_heap
from training.member_steps import member_source, offer_events
from training.spark_members import SparkMembers

logger = logging.getLogger(__name__)

#: Learner, outcome window and boosting rounds of the step's uplift models.
LEARNER, WINDOW_DAYS, MAX_ITER = "x_learner", 14.0, 60


def control_group_reason(offer_events) -> str | None:
    """Why the offer events (a frame, or a table on the run's engine: one query there) cannot
    support uplift models; None when they may."""
    kinds = event_kinds(offer_events)
    if "holdout" not in kinds:
        return ("no randomised control group: the offer events have no 'holdout' rows "
                "(members chosen for a campaign and held out of it; docs/data.md). The "
                "engine's control groups produce them: export them with 'offers events "
                "export' and add them to the data.")
    if "sent" not in kinds:
        return "no sends: the offer events have 'holdout' rows but no 'sent' rows."
    return None


def fit_uplift_step(run) -> None:
    """Fit and validate the uplift models of a :class:`training.pipeline.TrainingRun`.

    The last reader of the features step's staged spend pairs (``EngineTables.spend``):
    they are dropped when it ends."""
    try:
        _fit_uplift(run)
    finally:
        if run.engine_tables is not None:
            run.engine_tables.release_spend()


def _fit_uplift(run) -> None:
    reason = control_group_reason(offer_events(run))
    if reason is None:
        extras = Path(run.data_dir) / "extras" / "campaigns.parquet"
        source = member_source(run)
        offers = offer_specs_from_events(source, str(run.data_dir) if extras.is_file() else None)
        try:
            # The scoring needs the rows' sends (which offer each type sent last), not
            # their features: those are freed once the feature matrix holds them.
            fit = fit_uplift(source, run.as_of, offers, learner=LEARNER,
                             window_days=WINDOW_DAYS, random_state=run.config["seed"],
                             max_iter=MAX_ITER, keep_row_features=False)
        except DataError as exc:
            reason = str(exc)
    if reason is not None:
        logger.info("uplift not trained: %s", reason)
        run.metrics["uplift"] = {"trained": False, "reason": reason}
        return
    table = fit.validation
    run.tables["uplift_validation"] = table
    run.tables["uplift_curves"] = pd.concat(
        [curve.assign(offer_type=t, outcome=o) for (t, o), curve in fit.curves.items()],
        ignore_index=True)
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
               for row in table.to_dict("records")]
    served = sorted(r["offer_type"] for r in records
                    if r["outcome"] == "spend" and r["better_than_random"])
    run.metrics["uplift"] = {
        "trained": True, "learner": LEARNER, "window_days": WINDOW_DAYS,
        "validation_members": len(fit.validation_members), "models": records,
        "better_than_random": [f"{r['offer_type']}/{r['outcome']}" for r in records
                               if r["better_than_random"]],
        "served_types": served,
    }
    if served:
        fit.models = {key: model for key, model in fit.models.items() if key[0] in served}
        release_free_heap()  # the rows' pages go back before every member is scored
        run.tables["uplift_scores"] = compact_scores(_member_uplift(run, fit, offers))
        logger.info("the engine ranks offers of type(s) %s by incremental profit", served)
    else:
        logger.info("no uplift model beat random and P(redeem) targeting: the engine ranks "
                    "every offer by expected value")


def _member_uplift(run, fit, offers: pd.DataFrame) -> pd.DataFrame:
    """Every member's uplift as of ``as_of``: on the run's engine when it has one, in
    partitions on Spark's executors when the member features are there
    (:mod:`training.spark_uplift`)."""
    ids = run.member_features.index
    tables = run.engine_tables
    if tables is None:
        return member_uplift(fit, run.dataset, offers, run.as_of, ids)
    if isinstance(run.member_features, SparkMembers):
        from training.spark_uplift import spark_member_uplift

        return spark_member_uplift(tables.con, fit, tables.lines, tables.small, offers,
                                   run.as_of, run.member_features,
                                   base_trend_days=run.config["features"]["trend_days"])
    return engine_member_uplift(fit, tables.lines, tables.small, offers, run.as_of, ids,
                                base=run.member_features,
                                base_trend_days=run.config["features"]["trend_days"],
                                spend=tables.spend)

"""The training pipeline behind ``offers train``.

Load and validate the data, build features as of ``as_of``, fit every model
(each evaluated on a time-based validation split inside the training data),
assemble the member table and the report, and write one new artifact version
(:mod:`training.artifacts.store`, its files and member table as
:mod:`training.artifacts.schema` says). Each step (:data:`STEPS`) does one
thing and is timed and logged; a failure anywhere leaves the previous version
current. The churn and value models learn from the same training windows,
built once in their own ``windows`` step so that each model's step times only
its own fit and evaluation.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from features.contract import TABLES
from features.errors import DataError
from features.item_features import build_item_features
from features.member_features import build_member_features
from features.reading import part_files
from models.lifecycle.churn import ChurnModel, RecencyBaseline, evaluate_churn
from models.lifecycle.reliability import (
    CLV_SOURCE,
    MEDIAN_SOURCE,
    spend_by_recency,
    spend_reliability,
    spend_sums,
)
from models.lifecycle.value import PastSpendBaseline, ValueModel, spend_metrics
from models.lifecycle.windows import TrainingWindows, make_windows
from models.metrics import (
    mae,
    paired_standard_errors,
    spearman,
    standard_errors,
    top_decile_capture,
)
from models.offer_response.calibration import later_sends_calibration
from models.offer_response.export import export_model
from models.offer_response.model import OfferResponseModel, fit_offer_response
from models.recommenders import BlendRecommender, item_categories, recommend_categories
from models.recommenders.category import category_lists, excluded_items, without_categories
from models.recommenders.tuning import DEFAULT_GRID, fit_tuned, tune_recommenders
from models.segmentation import BehaviourClusters, RFMSegmenter
from models.threads import available_cores as _cores
from training import applicability, artifacts
from training.baseline_flags import baseline_flags
from training.config import load_config
from training.engines import line_span, load_for_engine
from training.feature_pairs import stage_feature_pairs
from training.heap import release_free_heap
from training.horizon_served import horizon_summary
from training.horizon_step import draw_buyers, fit_horizon_step, horizon_flags
from training.member_steps import member_source
from training.member_table import member_table
from training.progress import StepTimer
from training.side_step import SideStep
from training.spark_members import SparkMembers
from training.spark_tuning import tune_on_spark
from training.uplift_step import fit_uplift_step

logger = logging.getLogger(__name__)

STEPS = (
    "load and validate", "recommendations", "features", "segmentation", "windows", "churn",
    "value", "horizons", "offer response", "uplift", "member table", "report", "write artifacts",
)  # fmt: skip
TOP_CATEGORIES = 3
#: pandas runs the recommendations beside the member steps up to this many lines (the
#: Complete Journey has 1.47M; 200k synthetic members 20M, where the two steps' transients
#: at once would add a few GiB to a peak pandas already holds every line for).
BESIDE_MAX_LINES = 5_000_000
# One candidate per component (recommend.tune = false): still validated, not searched.
UNTUNED_GRID = {
    "popularity": [{"half_life_days": 30.0}],
    "buy_again": [{"half_life_days": 90.0}],
    "als": [DEFAULT_GRID["als"][0]],
    "blend_als": [0.2],
    "blend_popularity": [0.05],
    # the new-to-you list's own weights (bench/bench_new_to_you.py: first purchase 1 +
    # ALS 0.5 + category popularity 0.25 beat the same with popularity 0.25 instead)
    "first_purchase_popularity": [{"half_life_days": 30.0}],
    "new_als": [0.5],
    "new_popularity": [0.0],
    "new_first_purchase": [1.0],
    "category_popularity": [{"beta": 0.5}],
    "new_category_popularity": [0.25],
}


@dataclass
class TrainingRun:
    """Everything one training run produced, handed to the report and the writer.

    Each step fills its own fields; a field is None until its step has run.

    Attributes
    ----------
    data_dir : str
        A local data directory: the one trained on, or on Spark the run's copy of
        ``source`` (:func:`training.engines.load_spark`).
    source : str or None
        Where the data came from as the caller named it (absolute path, or a URL, with
        the lines' location when it was given apart); the manifest's ``data_dir``.
    as_of : Timestamp
        The cutoff: only rows strictly before it were read.
    config : dict
        The settings (:func:`training.config.load_config`).
    dataset : Dataset
        The loaded, validated and cleaned tables.
    member_features, item_features : DataFrame
        The feature tables as of ``as_of`` (step "features"). On Spark the member
        features are a :class:`training.spark_members.SparkMembers` after the step
        "segmentation" (cached on Spark, released when ``train`` returns).
    rfm : RFMSegmenter
        The quintile edges of the RFM segments (step "segmentation").
    clusters : BehaviourClusters
        The behavioural clusters, ids matched to the previous version's (step "segmentation").
    recommender : BlendRecommender
        The final blended recommender, fitted on everything before ``as_of``
        (step "recommendations").
    item_category : ndarray of str, shape (n_items,)
        The category of each of the recommender's item columns.
    top_categories : pyarrow.ListArray or ndarray of object, shape (n_rec_members,)
        Each member's recommended categories (names, best first), rows in
        ``recommender.member_ids_`` order: an Arrow list array of category codes
        (:func:`models.recommenders.category.category_lists`), or lists of str.
    precomputed : Precomputed or None
        Every member's ranked lists (:mod:`training.artifacts.precomputed`),
        computed in step "recommendations", written in "write artifacts";
        None above its size limit (or for a stand-in recommender: computed there).
    windows : TrainingWindows
        Features and outcomes at several cutoffs before ``as_of``, shared by
        the churn and value models (step "windows").
    horizon_days : int
        The churn and value horizon (configured, or derived from purchase cadence).
    churn : ChurnModel
        Fitted on every window, validation included (step "churn").
    value : ValueModel
        Fitted on every window, validation included (step "value").
    offer_response : OfferResponseModel or a fallback prior
        P(redeem) of an offer (step "offer response").
    members : DataFrame
        The member table, as :func:`training.artifacts.write_members` writes it; its
        list columns are Arrow-backed (``list<string>[pyarrow]``: compare their
        ``tolist()``, pandas' ``==`` on them is always False).
    metrics : dict
        JSON-ready figures per model, written to the manifest.
    tables : dict of str to DataFrame
        ``segments`` (report only), ``cluster_profiles`` and the validation
        tables of :data:`training.artifacts.schema.METRIC_TABLES`.
    previous : dict or None
        The current version's manifest and cluster profiles, if there is one.
    engine_tables : EngineTables or None
        The open relational engine (``engine="duckdb"`` or ``"spark"``) the
        per-line steps run on (:mod:`training.engines`); None on pandas. On
        DuckDB ``dataset`` is then the
        :class:`~features.relational.RelationalData` (lines on the engine).
    seconds, cpu_seconds, peak_rss_mb : dict of str to float
        Per step of :data:`STEPS`: wall seconds, the process's CPU seconds (a step
        in ``overlapped_steps``: its thread's), the peak RSS so far at its end.
    wall_seconds : float or None
        Seconds from the start of loading to the end of the last step timed: less
        than the steps' sum when steps overlapped.
    step_starts : dict of str to float
        When each step started, seconds after loading started.
    overlapped_steps : list of str
        Steps that ran while another ran on another thread (:func:`steps_beside`).
    engine : str
        Where the features were built (``pandas``, ``duckdb``, ``spark``); on
        Spark the recommender's ALS is fitted by Spark MLlib too.
    """

    data_dir: str
    as_of: pd.Timestamp
    config: dict
    dataset: Any = None
    member_features: pd.DataFrame | None = None
    item_features: pd.DataFrame | None = None
    rfm: RFMSegmenter | None = None
    clusters: BehaviourClusters | None = None
    recommender: BlendRecommender | None = None
    item_category: np.ndarray | None = None
    top_categories: np.ndarray | None = None
    precomputed: Any = None
    windows: TrainingWindows | None = None
    horizon_days: int | None = None
    churn: ChurnModel | None = None
    value: ValueModel | None = None
    horizon_model: dict | None = None  # step "horizons" (training/horizon_step.py)
    horizon_summary: pd.DataFrame | None = None
    horizon_models: tuple = ()  # step "horizons": each validated horizon's HorizonModels
    horizon_scores: pd.DataFrame | None = None  # step "member table": their member columns
    buyer_sample: Any = None  # step "windows": its member sample, reused by "horizons"
    # step "value": its forecasts of the validation window ({"median", "mean"}, in the
    # windows' order), for the sums of the step "horizons" at H; released there
    value_validation: dict | None = None
    offer_response: Any = None
    members: pd.DataFrame | None = None
    metrics: dict = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    previous: dict | None = None
    engine_tables: Any = None
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    wall_seconds: float | None = None
    step_starts: dict[str, float] = field(default_factory=dict)
    overlapped_steps: list[str] = field(default_factory=list)
    engine: str = "pandas"
    line_span: tuple | None = None  # (first, last) line time, whatever as_of
    source: str | None = None  # the data as named by the caller (a URL; data_dir its copy)


def resolve_as_of(transactions, as_of) -> pd.Timestamp:
    """``as_of`` as a timestamp; by default the day after the last transaction.

    ``transactions``: the canonical pandas frame, canonical lines on an engine
    (one aggregate there), or their ``(first, last)`` times
    (:func:`training.engines.line_span`).
    """
    first, last = transactions if isinstance(transactions, tuple) else line_span(transactions)
    if as_of is None:
        return last.normalize() + pd.Timedelta(days=1)
    try:
        ts = pd.Timestamp(as_of)
    except ValueError:
        raise DataError(f"--as-of {as_of!r} is not a date; use ISO 8601 like 2017-12-01.") from None
    if ts <= first:
        raise DataError(
            f"--as-of {ts.date()} is not after the first transaction ({first}); "
            "nothing would be left to train on."
        )
    return ts


def _source(data_dir, transactions: str | None) -> str:
    """The data's location for the manifest and the report: a URL as given, a path absolute,
    and the lines' own location after it when they came from elsewhere."""
    from features.relational.fetch import is_url

    named = str(data_dir) if is_url(data_dir) else os.path.abspath(data_dir)
    return named if transactions is None else f"{named} (lines: {transactions})"


def data_fingerprint(data_dir: str | os.PathLike) -> str:
    """SHA-256 over the table files' names and contents: which data made a version.

    A table kept as a directory of Parquet parts (``transactions/``,
    ``offer_events.parquet/``) counts by its parts' paths and contents, in path order
    (:func:`features.reading.part_files`: Hive partitions' subdirectories included,
    hidden files and Spark's ``_SUCCESS`` left out); a directory of single files
    fingerprints as it always has."""
    digest = hashlib.sha256()
    for path in sorted(Path(data_dir).iterdir()):
        if path.is_file() and path.suffix in (".csv", ".parquet"):
            files = [(path.name, path)]
        elif path.is_dir() and (path.suffix == ".parquet" or path.name in TABLES):
            files = [(f"{path.name}/{part.relative_to(path).as_posix()}", part)
                     for part in part_files(path) if part.suffix == ".parquet"]
        else:
            continue
        for name, file in files:
            digest.update(name.encode())
            digest.update(artifacts.sha256_file(file).encode())
    return digest.hexdigest()


def train(
    data_dir: str | os.PathLike,
    artifacts_dir: str | os.PathLike,
    *,
    as_of=None,
    config: dict | None = None,
    engine: str = "pandas",
    memory_limit: str | None = None,
    spark_master: str | None = None,
    staging_dir=None,
    spark_conf: dict | None = None,
    transactions: str | None = None,
) -> tuple[str, TrainingRun]:
    """Train every model on ``data_dir`` and write a new version to ``artifacts_dir``.

    ``engine="duckdb"`` builds the member and item features, the churn and
    value windows, the purchase-cycle summary and the report's KPIs on DuckDB
    (:mod:`training.engines`, spilling above ``memory_limit``);
    ``engine="spark"`` builds them on Spark (``spark_master``, default
    ``local[*]``) and fits the recommender's ALS with Spark MLlib, one session
    for the run; on either engine the recommenders' interactions are built there
    too (one entry per bought pair). On DuckDB the data are loaded by DuckDB
    itself (:func:`features.relational.load_relational`) and no step holds every
    line in pandas; on Spark DuckDB's cleaned lines are staged as Parquet (under
    ``staging_dir``, needed for a cluster master) that Spark reads; ``spark_conf``
    holds more Spark settings (``{"spark.driver.memory": "8g"}``). ``engine="auto"``
    chooses one from the data's size and the options given
    (:func:`training.engine_choice.choose_engine`). On Spark
    ``data_dir`` may be a URL of any filesystem Spark reads, and ``transactions`` a
    Parquet file, directory of parts or glob holding the lines instead of
    ``data_dir``'s (:func:`training.engines.load_spark`).

    Returns
    -------
    version : str
        The id of the new version, now ``current``.
    run : TrainingRun
    """
    config = config or load_config()
    if engine == "auto":  # as the CLI's default (training.engine_choice)
        from training.engine_choice import choose_engine

        spark = any(v for v in (spark_master, staging_dir, spark_conf, transactions))
        choice = choose_engine(data_dir, memory_limit=memory_limit, spark=spark)
        logger.info("engine %s (auto: %s)", choice.engine, choice.reason)
        engine = choice.engine
    timer = StepTimer(len(STEPS))
    tables = run = None
    try:
        with timer.step("load and validate"):  # and what the data support (aggregates)
            dataset, tables = load_for_engine(engine, data_dir, memory_limit=memory_limit,
                                              spark_master=spark_master,
                                              staging_dir=staging_dir,
                                              spark_conf=spark_conf,
                                              transactions=transactions)
            lines = None if tables is None else tables.lines
            span = line_span(dataset.transactions if lines is None else lines)
            local = tables.input_dir if tables is not None and tables.input_dir else data_dir
            run = TrainingRun(str(local), resolve_as_of(span, as_of), config, dataset,
                              engine_tables=tables, engine=engine, line_span=span,
                              source=_source(data_dir, transactions))
            run.metrics["skipped"] = applicability.skip_reasons(dataset, run.as_of, config,
                                                                lines=lines)
            # The report's monthly KPIs (one pass over every line) now, while the process
            # holds only the loaded data (training/report/render.py monthly_kpis).
            from training.report.render import monthly_kpis

            run.tables["program_kpis"] = monthly_kpis(run)
        run.previous = _previous_version(artifacts_dir)
        logger.info("training on rows before %s", run.as_of)
        return _train_steps(run, artifacts_dir, timer)
    finally:
        try:
            if run is not None and isinstance(run.member_features, SparkMembers):
                run.member_features.release()  # a session left running keeps no rows
        finally:
            if tables is not None:
                tables.close()


def _train_steps(run: TrainingRun, artifacts_dir, timer: StepTimer) -> tuple[str, TrainingRun]:
    member_steps = (
        ("features", _features),
        ("segmentation", _segmentation_step),
        ("windows", lambda r: _guarded(r, "churn", _windows)),  # none: no churn, no value
        ("churn", lambda r: _guarded(r, "churn", _churn)),
        ("value", lambda r: _guarded(r, "value", _value)),
        ("horizons", fit_horizon_step),
        ("offer response", _offer_response),
        ("uplift", fit_uplift_step),
    )
    # The version is written from the first step on: the recommender goes into it as soon
    # as it is fitted and is read back memory-mapped (below). A failure removes it all.
    writer = artifacts.start_version(artifacts_dir)
    try:
        _model_steps(run, timer, member_steps, writer)
        with timer.step("member table"):
            run.members = _member_table(run)
        with timer.step("report"):
            from training.report.render import render_report

            _copy_timings(run, timer)
            writer.save_text(artifacts.schema.REPORT, render_report(run, writer.version))
        with timer.step("write artifacts"):
            _save(run, writer)
            _copy_timings(run, timer)
            writer.commit(_manifest(run))
    except BaseException:
        writer.abort()
        raise
    _copy_timings(run, timer)
    return writer.version, run


def _model_steps(run: TrainingRun, timer: StepTimer, member_steps, writer) -> None:
    """The recommendations and the member steps, then the flags of models behind a baseline."""
    # One BLAS/OpenMP thread: implicit and the per-member work fight multi-threaded BLAS.
    with threadpool_limits(1):
        # The recommendations first: they read the lines and items only, and only the
        # member table, the report and the artifacts need them. On an out-of-core engine
        # they run before the member steps (1M members: their peak, the pairs of every
        # member then ALS, was the run's largest beside the member features, up to 4.4 GiB
        # there, 2.9 GiB first; bench/RESULTS.md); on pandas on two threads, beside them.
        def recommendations() -> None:
            _guarded(run, "recommendations", _recommendations, _stand_in_recommender)
            # Written now and read back memory-mapped: the fitted arrays (0.5 GB per
            # million members) leave the heap while the member steps run.
            run.recommender = artifacts.save_and_map_recommender(writer, run.recommender)

        recommend = SideStep(timer, "recommendations", recommendations,
                             beside=steps_beside(run))
        with recommend:
            for name, step in member_steps:
                with timer.step(name):
                    step(run)
                recommend.check()
    run.metrics["flags"] = (baseline_flags(run.metrics, run.config["recommend"]["k"])
                            + horizon_flags(run.metrics))


def steps_beside(run: TrainingRun) -> bool:
    """Whether the recommendations step runs on a second thread beside the member steps.

    On the pandas engine with ``parallel_steps`` set, more than one core and at most
    :data:`BESIDE_MAX_LINES` lines. The DuckDB and Spark engines keep one step at a
    time: their point is a memory peak that does not grow with the data, and two
    steps' transients at once would add up (and a DuckDB connection serves one
    thread); so does pandas on large data, where the recommendations step alone
    needs gigabytes.
    """
    return (run.engine == "pandas" and run.config["parallel_steps"] and _cores() > 1
            and len(run.dataset.transactions) <= BESIDE_MAX_LINES)


def _copy_timings(run: TrainingRun, timer: StepTimer) -> None:
    """The timer's figures, in the order of :data:`STEPS` (steps on two threads end in
    either order)."""
    def ordered(figures: dict) -> dict:
        return {step: figures[step] for step in STEPS if step in figures}

    run.seconds, run.cpu_seconds = ordered(timer.seconds), ordered(timer.cpu_seconds)
    run.peak_rss_mb, run.step_starts = ordered(timer.peak_rss_mb), ordered(timer.starts)
    run.wall_seconds = timer.wall_seconds
    run.overlapped_steps = [step for step in STEPS if step in timer.overlapped]


def _guarded(run: TrainingRun, step: str, fit, fallback=None) -> None:
    """``fit(run)`` unless the data cannot support ``step`` (:mod:`training.applicability`).

    A skipped step is recorded in ``metrics["skipped"]``; ``fallback(run)``, if
    given, then fills what later steps need from it.
    """
    skipped = run.metrics["skipped"]
    if step not in skipped:
        try:
            fit(run)
            return
        except DataError as exc:
            skipped[step] = str(exc)
            if step == "churn":
                skipped["value"] = f"needs the churn windows: {exc}"
    logger.warning("skipped %s: %s", step, skipped[step])
    if fallback is not None:
        fallback(run)


def _stand_in_recommender(run: TrainingRun) -> None:
    """A popularity-only blend over the items there are, when recommendations were skipped.

    The artifact format and the server stay as they are; the engine makes no
    offer that targets the recommender's picks (``skipped_models``).
    """
    cfg = run.config["recommend"]
    tx, _ = without_categories(_recommender_lines(run), run.dataset.items,
                               cfg["exclude_categories"])
    params = {c: UNTUNED_GRID[c][0] for c in ("popularity", "buy_again")}
    params["als"] = {**DEFAULT_GRID["als_common"], **UNTUNED_GRID["als"][0],
                     "factors": cfg["factors"], "iterations": cfg["iterations"]}
    stand_in = applicability.popularity_only(tx, run.dataset.items, run.as_of, params,
                                             TOP_CATEGORIES)
    run.recommender = stand_in["recommender"]
    run.item_category = stand_in["item_category"]
    run.top_categories = stand_in["top_categories"]


def _previous_version(artifacts_dir) -> dict | None:
    """The current version's manifest and cluster profiles, if there is a readable one."""
    try:
        previous = artifacts.open_version(artifacts_dir)
    except artifacts.ArtifactError as exc:
        logger.info("no previous version to compare with: %s", exc)
        return None
    return {
        "manifest": previous.manifest,
        "cluster_profiles": previous.load_frame(artifacts.schema.CLUSTER_PROFILES)
        .set_index("cluster"),
    }


def _features(run: TrainingRun) -> None:
    cfg = run.config["features"]
    ds = run.dataset
    if run.engine_tables is not None:
        from training.engines import engine_features

        run.member_features, run.item_features = engine_features(run.engine_tables, run.as_of,
                                                                 cfg)
    else:
        run.member_features = build_member_features(
            ds, run.as_of, n_categories=cfg["n_categories"], trend_days=cfg["trend_days"]
        )
        run.item_features = build_item_features(ds.transactions, ds.items, run.as_of)
    buyers = int((run.member_features["frequency"] > 0).sum())
    if buyers < 5:
        raise DataError(f"only {buyers} members bought before {run.as_of.date()}; need >= 5.")


def _segmentation(run: TrainingRun) -> None:
    mf = run.member_features
    rfm = RFMSegmenter().fit(mf)
    seg = rfm.transform(mf)
    cfg = run.config["clusters"]
    previous = run.previous["cluster_profiles"] if run.previous else None
    clusters = BehaviourClusters(
        k_range=(cfg["k_min"], cfg["k_max"]), random_state=run.config["seed"]
    ).fit(mf, previous_profiles=previous)
    seg["cluster"] = clusters.predict(mf).to_numpy()
    seg["cluster_label"] = seg["cluster"].map(clusters.labels_)
    run.rfm, run.clusters = rfm, clusters
    run.tables["segments"] = seg
    profiles = clusters.profiles_.reset_index(names="cluster")
    run.tables["cluster_profiles"] = profiles
    run.metrics["segmentation"] = {
        "n_clusters": int(clusters.n_clusters_),
        "silhouette": float(clusters.silhouette_[clusters.n_clusters_]),
        "segment_counts": seg["segment"].value_counts().to_dict(),
    }


def _segmentation_step(run: TrainingRun) -> None:
    _segmentation(run)
    _members_to_spark(run)


def _members_to_spark(run: TrainingRun) -> None:
    """On Spark, the member features leave the driver for Spark's executors once the
    segments are fitted (:mod:`training.spark_members`).

    The two steps before need every member's features in the driver: "features"
    assembles them there (the relational queries bring back one row per member of each
    aggregate; the assembly is the pandas engine's own) and "segmentation" learns the
    RFM quintile edges and the k-means clusters from every buyer. After it only the
    scoring reads every member (the member table's predictions, the uplift scores):
    that runs on Spark, and the driver fetches the result columns the version stores.
    """
    if run.engine != "spark" or run.engine_tables is None:
        return
    staging = run.engine_tables.staging
    run.member_features = SparkMembers.from_frame(
        run.engine_tables.con, run.member_features,
        staging_dir=None if staging is None else staging.path)
    release_free_heap()  # the frame's pages go back before the recommender's pairs come


def _recommender_lines(run: TrainingRun):
    """The recommenders' lines: on the run's engine when it has one, else the pandas frame."""
    if run.engine_tables is None:
        return run.dataset.transactions
    from models.recommenders.engine_interactions import EngineLines

    return EngineLines(run.engine_tables.lines)


def _recommendations(run: TrainingRun) -> None:
    cfg = run.config["recommend"]
    tx, n_excluded = without_categories(_recommender_lines(run), run.dataset.items,
                                        cfg["exclude_categories"])
    grid = {"als_common": {**DEFAULT_GRID["als_common"], "factors": cfg["factors"],
                           "iterations": cfg["iterations"], "random_state": run.config["seed"]}}
    reused = _previous_params(run) if cfg["tune"] and cfg["reuse_tuned"] else None
    tuned_in = "this version" if cfg["tune"] else "not tuned"
    if reused is not None:
        grid |= reused
        previous = run.previous["manifest"]
        tuned_in = previous["metrics"]["recommend"].get("tuned_in", previous["version"])
        if tuned_in == "this version":
            tuned_in = previous["version"]
    elif not cfg["tune"]:
        grid |= UNTUNED_GRID
    # MLlib factorises every ALS candidate on Spark (no warm start there), implicit
    # elsewhere, whatever solver the previous version's reused parameters name.
    solver = "spark" if run.engine == "spark" else "implicit"
    grid["als"] = [{**p, "solver": solver} for p in grid.get("als", DEFAULT_GRID["als"])]
    # On Spark the ALS grid is searched with implicit, the choice validated with MLlib.
    tune = tune_recommenders if run.engine != "spark" else tune_on_spark
    tuning = tune(
        tx, run.as_of, holdout_days=run.config["validation_days"], k=cfg["k"], grid=grid,
        max_members=cfg["validation_members"] or None, random_state=run.config["seed"],
        items=run.dataset.items,
    )
    # The final ALS starts from the validation fit's factors: a few sweeps instead of all.
    warm = tuning.models["als"] if cfg["warm_iterations"] and run.engine != "spark" else None
    tuning.models.clear()  # the validation models but the warm start go before the final fit
    release_free_heap()  # and the pages they held go back before the final fit's pairs come
    fitted = fit_tuned(
        tx, run.as_of, tuning.params, warm_start=warm, warm_iterations=cfg["warm_iterations"],
        items=run.dataset.items, als_members=cfg["als_members"] or None,
    )
    blend = fitted["blend"]
    interactions = fitted.pop("interactions")
    if run.engine_tables is not None:  # the features step counts its pairs from these
        stage_feature_pairs(run.engine_tables, interactions,
                            excluded_items(run.dataset.items, cfg["exclude_categories"]))
    categories = item_categories(interactions, run.dataset.items)
    del interactions
    # The pairs (and, on an engine, its temporary tables) and the warm start go before
    # every member is scored for categories: neither is needed after the fits.
    warm_started, warm = warm is not None, None
    # Every member's served lists; their best categories (codes into the sorted categories,
    # as recommend_categories gives) are the member table's, so the two agree.
    run.precomputed = artifacts.precompute(blend, categories)
    rows = np.arange(blend.n_members)
    if run.precomputed is not None:
        cat_idx = run.precomputed.categories[:, :TOP_CATEGORIES].astype(np.int64)
    else:
        cat_idx, _ = recommend_categories(blend, rows, categories, k=TOP_CATEGORIES)
    top = category_lists(cat_idx, np.unique(categories))
    run.recommender, run.item_category, run.top_categories = blend, categories, top
    run.tables["recommend_metrics"] = tuning.table
    k = cfg["k"]
    table = tuning.table.set_index(["model", "mode"])
    metrics = (f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"coverage@{k}")
    # "_new" marks the never-bought evaluation.
    run.metrics["recommend"] = {
        f"{m}_{metric}{'' if mode == 'all' else '_new'}": float(table.at[(m, mode), metric])
        for m, mode in table.index
        for metric in metrics
    } | {"se": _standard_errors(table, k),
         "baseline_se": _standard_errors(table, k, "_margin_se"),
         "params": tuning.params, "seconds": round(tuning.seconds, 2), "tuned_in": tuned_in,
         "validation_members": int(tuning.split["members"]),
         "validation_sampled": bool(tuning.split["sampled"]),
         "final_als_iterations": int(fitted["als"].iterations),
         "final_als_warm_start": warm_started, "excluded_items": n_excluded,
         "final_als_members": int(getattr(fitted["als"], "fit_members_", blend.n_members))}


def _finite(values: dict) -> dict:
    """``values`` with NaN as None (``null`` in metrics.json)."""
    return {k: float(v) if v is not None and np.isfinite(v) else None for k, v in values.items()}


def _standard_errors(table: pd.DataFrame, k: int, column: str = "_se") -> dict:
    """The standard errors of the validation's precision and NDCG (``metrics_table``'s
    ``_se`` columns), keyed as the metrics are (``blend_ndcg@10``, ``..._new``); with
    ``column="_margin_se"``, those of the blend's margin over each model on the same
    members (``popularity_ndcg@10``: of blend minus popularity)."""
    found = {}
    for (model, mode), row in table.iterrows():
        for metric in (f"precision@{k}", f"ndcg@{k}"):
            value = row.get(f"{metric}{column}")
            if value is None:
                continue
            key = f"{model}_{metric}{'' if mode == 'all' else '_new'}"
            found[key] = value
    return _finite(found)


def _previous_params(run: TrainingRun) -> dict | None:
    """A one-candidate grid holding the previous version's tuned parameters, if any.

    Retraining on fresher data rarely moves the best hyper-parameters, and the
    search is most of the training time: a retrain reuses them (still measured
    on the validation split) unless ``recommend.reuse_tuned`` is false.
    """
    if run.previous is None:
        return None
    params = run.previous["manifest"].get("metrics", {}).get("recommend", {}).get("params")
    settings = ("k", "factors", "iterations")
    before = run.previous["manifest"]["config"]["recommend"]
    if not params or any(before.get(key) != run.config["recommend"][key] for key in settings):
        return None
    weights = params["blend"]["weights"]
    logger.info("reusing the recommender parameters of %s", run.previous["manifest"]["version"])
    grid = {
        "popularity": [params["popularity"]],
        "buy_again": [params["buy_again"]],
        "als": [params["als"]],
        "blend_als": [weights["als"]],
        "blend_popularity": [weights["popularity"]],
    }
    new = params["blend"].get("new_weights")
    if new:  # versions before the new-to-you weights search them afresh
        grid |= {"first_purchase_popularity": [params["blend"]["first_purchase_popularity"]],
                 "new_als": [new["als"]], "new_popularity": [new["popularity"]],
                 "new_first_purchase": [new["first_purchase_popularity"]]}
    if new and "category_popularity" in new:  # versions before it search its weight afresh
        grid |= {"category_popularity": [params["blend"].get("category_popularity") or {}],
                 "new_category_popularity": [new["category_popularity"]]}
    return grid


def _windows(run: TrainingRun) -> None:
    """Training windows for the churn and value models (built once, used by both)."""
    # Horizon None: make_windows derives it from the (sampled) purchases before as_of.
    lines = None if run.engine_tables is None else run.engine_tables.lines
    horizon = applicability.churn_horizon(run.dataset, run.as_of,
                                          run.config["churn"]["horizon_days"] or None,
                                          lines=lines)
    seed = run.config["seed"]
    # One member sample for these windows and the step "horizons" (which closes it).
    run.buyer_sample = sample = draw_buyers(run.dataset, run.as_of, seed, run.engine_tables)
    if run.engine_tables is not None:
        from models.lifecycle.engine_windows import (
            engine_horizon_days,
            make_engine_windows,
            prefetch_features,
        )

        if horizon is None:  # derived from the sample's lines, as make_engine_windows would
            horizon = engine_horizon_days(sample.lines)
        # The member features of these windows and of the step "horizons"' (its other
        # horizons) in one pass over the lines: on an engine each pass has a fixed cost.
        # (Before the horizon was derived here, a derived one skipped this pass and the step
        # "horizons" made a second one.)
        prefetch_features(sample, run.engine_tables.small,
                          [horizon, *run.config["churn"]["validate_horizons"]])
        run.windows = make_engine_windows(run.engine_tables.lines, run.engine_tables.small,
                                          run.as_of, horizon, n_windows=None,
                                          random_state=seed, sample=sample)
    else:
        run.windows = make_windows(run.dataset, run.as_of, horizon, n_windows=None,
                                   random_state=seed, sample=sample)
    run.horizon_days = run.windows.horizon_days


def _churn(run: TrainingRun) -> None:
    """Fit the churn model on the earlier windows, evaluate it on the latest, refit on all."""
    seed, windows, horizon = run.config["seed"], run.windows, run.horizon_days
    X_train, out_train = windows.train()
    X_val, out_val = windows.validation()
    model = ChurnModel(horizon_days=horizon, random_state=seed).fit(X_train, out_train["churned"])
    baseline = RecencyBaseline().fit(X_train, out_train["churned"])
    evaluation = evaluate_churn(model, X_val, out_val["churned"], baseline)
    run.churn = ChurnModel(horizon_days=horizon, random_state=seed).fit_windows(
        windows, include_validation=True
    )
    run.tables.update(
        churn_metrics=evaluation.metrics.reset_index(names="model"),
        churn_calibration=evaluation.calibration,
        churn_lift=evaluation.lift,
    )
    m = evaluation.metrics
    run.metrics["churn"] = {
        "horizon_days": int(horizon),
        **{k: float(v) for k, v in m.loc["model"].items()},
        "baseline": {k: float(v) for k, v in m.loc["recency_baseline"].items()},
        "validation_members": int(evaluation.n),
        "se": _finite(evaluation.se),
        "baseline_se": _finite(evaluation.baseline_se),
        "training_rows": int(len(X_train)),
        "members_before_as_of": int(windows.n_members or 0),
        "sample_fraction": float(windows.sample_fraction),
    }


def _value(run: TrainingRun) -> None:
    """Fit the value model on the earlier windows, evaluate it on the latest, refit on all."""
    seed, windows, horizon = run.config["seed"], run.windows, run.horizon_days
    X_train, out_train = windows.train()
    X_val, out_val = windows.validation()
    model = ValueModel(horizon_days=horizon, random_state=seed).fit(
        X_train, out_train["future_spend"], past_spend=out_train["past_spend"]
    )
    baseline = PastSpendBaseline(horizon_days=horizon)
    (forecast, mean), past_rate = model.predict_with_mean(X_val), baseline.predict(X_val)
    m = spend_metrics(out_val["future_spend"], {"model": forecast,
                                                "past_spend_baseline": past_rate})
    run.tables["value_metrics"] = m.reset_index(names="model")
    run.tables["value_calibration"] = spend_reliability(
        {"model": forecast, CLV_SOURCE: mean, "past_spend_baseline": past_rate},
        out_val["future_spend"])
    actual = out_val["future_spend"].to_numpy(dtype=float)
    groups = spend_by_recency(
        {CLV_SOURCE: mean, MEDIAN_SOURCE: forecast,
         "median x mean ratio": forecast * model.mean_ratio_},
        actual, X_val["recency_days"].to_numpy(dtype=float), horizon)
    run.tables["clv_by_recency"] = groups
    run.value_validation = {"median": forecast, "mean": mean}
    se = standard_errors(actual, forecast, {"spearman": spearman, "mae": mae})
    baseline_se = paired_standard_errors(actual, forecast, past_rate, {
        "spearman": spearman, "mae": mae, "top_decile_capture": top_decile_capture})
    run.value = ValueModel(horizon_days=horizon, random_state=seed).fit_windows(
        windows, include_validation=True
    )
    run.metrics["value"] = {
        "horizon_days": int(horizon),
        **{k: float(v) for k, v in m.loc["model"].items()},
        "baseline": {k: float(v) for k, v in m.loc["past_spend_baseline"].items()},
        "se": _finite(se),
        "baseline_se": _finite(baseline_se),
        # What turns the mean forecast (predict_mean) into the 12-month CLV.
        "clv_multiplier": float(run.value.clv_multiplier()),
        "spend_mean_ratio": float(run.value.mean_ratio_),
        # The CLV's mean forecast on the validation window: predicted over actual spend,
        # in all and by the time since the last purchase (models/lifecycle/reliability.py).
        "clv_mean": spend_sums(groups)[CLV_SOURCE],
    }


def _offer_response(run: TrainingRun) -> None:
    found = {}

    def calibrate(rows: pd.DataFrame, fitted) -> None:
        found["calibration"] = later_sends_calibration(
            rows, fitted.estimator_kind_, validation_fraction=fitted.validation_fraction,
            random_state=run.config["seed"])

    model = fit_offer_response(
        member_source(run), campaigns_extra=run.data_dir if _has_extras(run.data_dir) else None,
        as_of=run.as_of, random_state=run.config["seed"], on_rows=calibrate,
    )
    calibration = found.get("calibration")
    run.offer_response = model
    summary: dict[str, Any] = {"kind": type(model).__name__}
    if hasattr(model, "estimator_kind_"):
        # Scores of the chosen estimator fitted on the earlier 75% of sends, on the later 25%.
        chosen = model.validation_scores_.get(model.estimator_kind_, {})
        summary |= {
            "estimator": model.estimator_kind_,
            "training_sends": int(model.n_rows_),
            "sends_before_as_of": int(getattr(model, "n_sends_total_", model.n_rows_)),
            "sample_fraction": float(getattr(model, "sample_fraction_", 1.0)),
            "base_rate": float(model.base_rate_),
            **{k: float(v) for k, v in chosen.items()},
            "se": _finite(getattr(model, "validation_se_", {}).get(model.estimator_kind_, {})),
        }
    if calibration is not None:
        summary["calibration"] = calibration.summary()
        run.tables["response_calibration"] = calibration.curve
        run.tables["response_brier"] = calibration.brier
    run.metrics["offer_response"] = summary


def _has_extras(data_dir: str) -> bool:
    return (Path(data_dir) / "extras" / "campaigns.parquet").is_file()


def _member_table(run: TrainingRun) -> pd.DataFrame:
    """One row per member: what the offer engine and the server need (:mod:`.member_table`)."""
    return member_table(run)


def _save(run: TrainingRun, writer: artifacts.VersionWriter) -> None:
    """Write every file of the version, named as :mod:`training.artifacts.schema` says."""
    names = artifacts.schema
    artifacts.write_members(writer, run.members)
    writer.save_frame(names.ITEMS, _item_table(run))
    writer.save_frame(names.CLUSTER_PROFILES, run.tables["cluster_profiles"])
    for name in names.METRIC_TABLES:
        if name in run.tables:  # absent when the step was skipped
            writer.save_frame(name, run.tables[name])
    # The recommender's arrays are in the version already (_model_steps).
    artifacts.save_precomputed(writer, run.recommender, run.item_category, run.precomputed)
    writer.save_array(names.ITEM_CATEGORY, np.asarray(run.item_category, dtype=str))
    models = {"rfm": run.rfm, "clusters": run.clusters, "churn": run.churn, "value": run.value,
              "offer_response": run.offer_response}
    for name in names.MODELS:
        if models[name] is not None:  # churn and value are None when skipped
            writer.save_joblib(name, models[name])
    exported = (export_model(run.offer_response)
                if isinstance(run.offer_response, OfferResponseModel) else None)
    if exported is not None:  # the engine's P(redeem): the model as numbers and its inputs
        writer.save_json(names.RESPONSE_MODEL, exported)
        writer.save_frame(names.RESPONSE_FEATURES, _response_features(run))
    if names.UPLIFT_SCORES in run.tables:  # a validated uplift model: the engine ranks on it
        writer.save_frame(names.UPLIFT_SCORES, run.tables[names.UPLIFT_SCORES])
    if run.horizon_model is not None:  # BG/NBD + Gamma-Gamma: numbers, no pickle
        writer.save_json(names.HORIZON_MODEL, run.horizon_model)
        writer.save_frame(names.HORIZON_SUMMARY, horizon_summary(run.horizon_summary,
                                                                 run.horizon_scores))
    writer.save_json(names.METRICS, run.metrics)
    writer.save_json(names.CLEANING, run.dataset.cleaning.to_dict())


def _response_features(run: TrainingRun) -> pd.DataFrame:
    """The response model's member features of every member as of ``as_of`` (on Spark,
    only these columns are fetched from the executors)."""
    mf = run.member_features
    columns = [c for c in run.offer_response.member_columns_ if c in mf.columns]
    chosen = mf.select(columns) if isinstance(mf, SparkMembers) else mf[columns]
    return chosen.astype("float64").reset_index(names="member_id").assign(
        member_id=lambda f: f["member_id"].astype(str))


def _item_table(run: TrainingRun) -> pd.DataFrame:
    items = run.dataset.items.set_index("item_id")
    feats = run.item_features
    keep = [c for c in ("category", "department", "brand", "name", "price") if c in items]
    table = items[keep].join(feats[[c for c in feats.columns if c not in keep]], how="left")
    return table.reset_index(names="item_id")


def _manifest(run: TrainingRun) -> dict:
    return {
        "as_of": run.as_of.isoformat(),
        "data_dir": run.source or os.path.abspath(run.data_dir),
        "data_fingerprint": data_fingerprint(run.data_dir),
        "engine": run.engine,
        "row_counts": {**run.dataset.row_counts(), "members_scored": len(run.members)},
        "cleaning": run.dataset.cleaning.to_dict(),
        "config": run.config,
        "metrics": run.metrics,
        "step_seconds": run.seconds,
        "train_seconds": run.wall_seconds,
        "overlapped_steps": run.overlapped_steps,
        "step_peak_rss_mb": run.peak_rss_mb,
    }

"""The training run's "uplift" step alone on DuckDB, per sub-part (issue 11).

Usage::

    python bench/bench_uplift_step.py DATA_DIR [--config train.toml] [--memory-limit 1GB]
        [--repeat 1] [--tracemalloc] [--json OUT.json] [--save-scores PREFIX]

Each run is a fresh process that opens the data on DuckDB as ``offers train
--engine duckdb`` does (:func:`training.engines.load_for_engine`), builds the
member features (the pipeline's ``_features``, which the step reuses when it
scores every member; not part of the step), then runs
:func:`training.uplift_step.fit_uplift_step` under one BLAS thread, as the
pipeline does.

Printed per sub-part (nested parts indented; a part called several times is
summed): calls, wall seconds, CPU seconds of the process (all its threads; on
a shared machine the honest measure of work), the RSS when it started and the
peak RSS during it. The sub-parts are the library functions the step calls,
wrapped here without changing them: the rows (fetching the sent and held-out
members' lines, outcomes, features at each send day), the fits (X-learner and
P(redeem) baseline per offer type and outcome), the validation, and the
scoring of every member (category shares on the engine, affinities, feature
matrices, tree predictions, table assembly). Then the validation table (to
compare quality between runs) and the process's peak RSS (``ru_maxrss``).
``--tracemalloc`` adds the peak of the memory Python allocated (numpy arrays
included; DuckDB's and Arrow's buffers not) per part: unlike RSS it does not
depend on what the allocator kept from earlier parts (slower). Each run also
prints a hash of the validation table and one of the served scores (every value,
to the last bit), to show a change left the answers as they were; the served
scores' hash also differs between two runs of the same code (their inputs come
from the engine's parallel queries), so ``--save-scores PREFIX`` writes each
run's scores to ``PREFIX<run>.parquet``, to compare them with a tolerance.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_recommend_step import Tracer  # noqa: E402  (bench/, this script's folder)
from engine_run import open_run  # noqa: E402  (bench/, this script's folder)
from worker import run_json  # noqa: E402  (bench/, this script's folder)

#: Validation columns printed to compare quality between runs.
QUALITY = ("offer_type", "outcome", "n_train", "n_validation", "normalized_auuc_uplift",
           "normalized_auuc_response", "gain_at_30_uplift", "gain_at_30_response",
           "better_than_random")


def instrument(tracer: Tracer) -> None:
    """Trace the library calls the uplift step makes (modules patched in place; an
    attribute a version of the code lacks is skipped)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    import features.relational.purchases as purchases
    import models.offer_response.affinity as affinity
    import models.offer_response.engine_affinity as engine_affinity
    import models.uplift.engine_scores as engine_scores
    import models.uplift.fit as fit
    import models.uplift.learners as learners
    import models.uplift.rows as rows
    import models.uplift.scores as scores
    from models.member_source import MemberSource
    from training import uplift_step

    targets = [
        (uplift_step, "fit_uplift", "fit_uplift (rows, fits, validation)"),
        (fit, "_experiment_members", "rows: fetch the members' lines"),
        (MemberSource, "fetch", "fetch"),
        (fit, "build_uplift_rows", "rows: build"),
        (rows, "window_outcomes", "outcomes"),
        (rows, "_redeemed", "redeemed"),
        (rows, "response_features", "features at each send day"),
        (rows, "attach_offer_columns", "offer columns of the rows"),
        (rows, "member_features_with_mix", "member features at a send day"),
        (affinity.AffinityIndex, "__init__", "affinity index"),
        (affinity.AffinityIndex, "at_cutoffs", "affinities at the send days"),
        (fit, "feature_matrix", "feature matrix"),
        (fit, "_response_model", "fit P(redeem)"),
        (HistGradientBoostingClassifier, "fit", "boosting fit (classifier)"),
        (HistGradientBoostingRegressor, "fit", "boosting fit (regressor)"),
        (learners.XLearnerUplift, "fit", "fit X-learner"),
        (learners.TwoModelUplift, "fit", "fit outcome models"),
        (learners.XLearnerUplift, "predict", "predict X-learner"),
        (learners.TwoModelUplift, "predict", "predict T-learner"),
        (fit, "_validate", "validation metrics"),
        (fit, "_curves", "validation curves"),
        (uplift_step, "_member_uplift", "score every member"),
        (engine_scores, "_features", "member features + category shares"),
        (purchases, "category_shares", "category shares (engine)"),
        (purchases, "_shares", "category shares of a block"),
        (engine_affinity, "engine_affinity", "affinities (engine)"),
        (engine_scores, "hypothetical_sends", "hypothetical sends"),
        (engine_scores, "score_block", "score block"),
        (engine_scores, "score_type", "score type"),
        (scores, "attach_offer_columns", "attach offer columns"),
        (scores, "feature_matrix", "feature matrix"),
        (engine_scores, "score_table", "table assembly"),
    ]
    for owner, attr, name in targets:
        if hasattr(owner, attr):
            tracer.wrap(owner, attr, name)


def worker(data: str, memory_limit: str | None, config_path: str | None,
           traced: bool = False, save_scores: str | None = None) -> dict:
    from threadpoolctl import threadpool_limits

    from training.config import load_config
    from training.pipeline import _features
    from training.uplift_step import fit_uplift_step

    config = load_config(config_path)
    if traced:
        tracemalloc.start()
    tracer = Tracer(traced)
    tracer.start()
    with tracer.part("load and member features (not the step)"):
        run = open_run(data, config, memory_limit=memory_limit)
        tables = run.engine_tables
        with threadpool_limits(1):
            _features(run)
    instrument(tracer)
    try:
        with threadpool_limits(1), tracer.part("uplift step"):
            fit_uplift_step(run)
    finally:
        tracer.running = False
        tables.close()
    found = run.metrics["uplift"]
    table = run.tables.get("uplift_validation")
    scores = run.tables.get("uplift_scores")
    if save_scores and scores is not None:
        scores.to_parquet(save_scores)
    return {
        "parts": [{"name": k, **tracer.parts[k]} for k in tracer.order],
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "members": len(run.member_features), "trained": found["trained"],
        "reason": found.get("reason"), "served_types": found.get("served_types", []),
        "validation": [] if table is None else table[list(QUALITY)].to_dict("records"),
        "validation_sha256": None if table is None else _digest(table),
        "scored_rows": 0 if scores is None else len(scores),
        "scores_sha256": None if scores is None else _digest(scores),
    }


def _digest(frame) -> str:
    """A hash of every value of ``frame`` (floats to the last bit): equal answers, equal hash."""
    import hashlib

    import pandas as pd

    values = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False)
    return hashlib.sha256(values.to_numpy().tobytes()).hexdigest()[:16]


def run_once(args, i: int = 0) -> dict:
    cmd = [sys.executable, __file__, str(args.data), "--worker"]
    if args.save_scores:
        cmd += ["--save-scores", f"{args.save_scores}{i}.parquet"]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    if args.config:
        cmd += ["--config", str(args.config)]
    if args.tracemalloc:
        cmd.append("--tracemalloc")
    return run_json(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a data directory (offers import / synth)")
    parser.add_argument("--config", type=Path, help="a train.toml (default configuration)")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory limit (1GB)")
    parser.add_argument("--repeat", type=int, default=1, help="processes to run (medians)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also the peak Python-allocated MiB per part (slower)")
    parser.add_argument("--json", type=Path, help="also write every run here")
    parser.add_argument("--save-scores", help="write each run's served scores to "
                                              "PREFIX<run>.parquet")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(str(args.data), args.memory_limit,
                                None if args.config is None else str(args.config),
                                args.tracemalloc, args.save_scores),
                         default=str))
        return
    runs = [run_once(args, i) for i in range(args.repeat)]
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    first = runs[0]
    print(f"{args.data} ({first['members']:,} members; {first['scored_rows']:,} scored rows, "
          f"served types {first['served_types']}); {len(runs)} run(s), medians")
    if not first["trained"]:
        print(f"uplift not trained: {first['reason']}")
    print(f"{'part':<50} {'calls':>5} {'seconds':>8} {'CPU s':>7} {'RSS start':>9} "
          f"{'peak MiB':>9}" + (f" {'py peak':>8}" if args.tracemalloc else ""))
    for i, part in enumerate(first["parts"]):
        values = [r["parts"][i] for r in runs if i < len(r["parts"])]
        print(f"{part['name']:<50} {part['calls']:>5} "
              f"{statistics.median(v['seconds'] for v in values):>8.1f} "
              f"{statistics.median(v['cpu'] for v in values):>7.1f} "
              f"{statistics.median(v['rss_start'] for v in values):>9.0f} "
              f"{statistics.median(v['peak'] for v in values):>9.0f}"
              + (f" {statistics.median(v['py_peak'] for v in values):>8.0f}"
                 if args.tracemalloc else ""))
    print(f"process peak RSS (ru_maxrss) "
          f"{statistics.median(r['ru_maxrss_mib'] for r in runs):,.0f} MiB")
    print("validation table sha256 (every column) and scores sha256, per run: "
          + ", ".join(f"{r.get('validation_sha256')}/{r.get('scores_sha256')}" for r in runs))
    print("validation (first run):")
    for row in first["validation"]:
        print("  " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row.items()))


if __name__ == "__main__":
    main()

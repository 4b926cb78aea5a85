"""The training run's last three steps, "member table", "report" and "write artifacts", per
sub-part (issue 11).

Usage::

    python bench/bench_member_table.py DATA_DIR [--config train.toml] [--memory-limit 1GB]
        [--save-run /tmp/run.pkl | --load-run /tmp/run.pkl] [--repeat 1] [--keep DIR]

Opens the data on DuckDB as ``offers train --engine duckdb`` does
(:func:`training.engines.load_for_engine`), then either runs every earlier step
of the pipeline (features to uplift, as ``training.pipeline._train_steps``
does) or, with ``--load-run``, restores what they produced from a pickle
written by an earlier ``--save-run`` (bench only: the pickle is this script's
own file under /tmp, never a version's). Then, ``--repeat`` times, under one
BLAS thread as the pipeline: the member table (``_member_table``), the report
(``render_report``) and the write (``_save`` and ``commit``) into a fresh
artifacts directory (kept under ``--keep`` to compare the files of two runs).

Printed per sub-part (nested parts indented; a part called several times is
summed): calls, wall seconds, CPU seconds of the process (on a shared machine
the honest measure of work), the RSS when it started and the peak RSS during
it (sampled every 5 ms). The sub-parts are the functions the steps call,
wrapped here without changing them; names that a version of the code lacks
are skipped, so one script times the code before and after a change.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_recommend_step import Tracer  # noqa: E402  (bench/, this script's folder)
from engine_run import open_run  # noqa: E402  (bench/, this script's folder)
from rss import rss_mib  # noqa: E402

#: (module, attribute, label) wrapped when present. The earlier steps' own names are
#: wrapped too, but only once their run is over (see ``instrument``).
PARTS = (
    ("training.pipeline", "_member_table", "member table"),
    ("training.pipeline", "_reference_response", "reference P(redeem)"),
    ("training.member_scoring", "reference_response", "reference P(redeem)"),
    ("training.pipeline", "_lifecycle_columns", "lifecycle columns"),
    ("training.member_scoring", "lifecycle_columns", "lifecycle columns"),
    ("models.lifecycle.churn.ChurnModel", "predict_proba", "churn predict"),
    ("models.lifecycle.value.ValueModel", "predict", "value predict"),
    ("models.lifecycle.churn.ChurnModel", "reason_codes", "reason codes (long frame)"),
    ("models.lifecycle.churn.ChurnModel", "reason_lists", "reason codes (lists)"),
    ("models.lifecycle.churn", "driver_impacts", "driver impacts (predictions)"),
    ("models.lifecycle.churn", "reason_table", "reason table (long frame)"),
    ("models.lifecycle.churn", "reason_lists", "reason lists"),
    ("models.lifecycle.churn_reasons", "top_reasons", "top reasons"),
    ("models.lifecycle.churn_reasons", "reason_texts", "reason texts"),
    ("training.pipeline", "_lists", "lists aligned by member"),
    ("training.member_table", "member_lists", "lists aligned by member"),
    ("training.artifacts.schema", "conform_members", "conform"),
    ("training.report.render", "render_report", "report"),
    ("training.report.render", "monthly_kpis", "program KPIs (engine)"),
    ("training.report.render", "_retention", "retention section"),
    ("training.report.render", "_segments", "segments section"),
    ("training.report.render", "_value", "value section"),
    ("training.report.render", "_uplift", "uplift section"),
    ("training.report.render", "horizons_section", "horizons section"),
    ("training.report.html.HtmlReport", "figure", "figures to PNG"),
    ("training.report.html.HtmlReport", "table", "tables to HTML"),
    ("training.pipeline", "_save", "write artifacts"),
    ("training.artifacts.schema", "write_members", "members.parquet"),
    ("training.artifacts.schema", "members_to_arrow", "to Arrow"),
    ("training.pipeline", "_item_table", "item table"),
    ("training.pipeline", "_response_features", "response features"),
    ("training.artifacts", "save_recommender", "recommender arrays"),
    ("training.artifacts", "save_precomputed", "precomputed lists"),
    ("training.artifacts.store.VersionWriter", "save_frame", "save_frame"),
    ("training.artifacts.store.VersionWriter", "save_joblib", "save_joblib"),
    ("training.artifacts.store.VersionWriter", "save_json", "save_json"),
    ("training.artifacts.store.VersionWriter", "commit", "commit (hash every file)"),
)
#: Run fields the pickle leaves out: bound to the engine opened by this process.
UNPICKLED = ("dataset", "engine_tables")


def _owner(path: str):
    import importlib

    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name, None)
        return obj
    return None


def instrument(tracer: Tracer) -> None:
    for path, attr, label in PARTS:
        owner = _owner(path)
        if owner is not None and hasattr(owner, attr):
            tracer.wrap(owner, attr, label)


def earlier_steps(run) -> None:
    """Features to uplift, as ``training.pipeline._train_steps`` runs them."""
    from threadpoolctl import threadpool_limits

    from training import pipeline as p
    from training.baseline_flags import baseline_flags
    from training.horizon_step import horizon_flags

    with threadpool_limits(1):
        for name, step in (
            ("features", p._features), ("segmentation", p._segmentation),
            ("recommendations", lambda r: p._guarded(r, "recommendations", p._recommendations,
                                                     p._stand_in_recommender)),
            ("windows", lambda r: p._guarded(r, "churn", p._windows)),
            ("churn", lambda r: p._guarded(r, "churn", p._churn)),
            ("value", lambda r: p._guarded(r, "value", p._value)),
            ("horizons", p.fit_horizon_step), ("offer response", p._offer_response),
            ("uplift", p.fit_uplift_step),
        ):
            start, cpu = time.perf_counter(), time.process_time()
            step(run)
            print(f"  {name}: {time.perf_counter() - start:.1f} s, "
                  f"cpu {time.process_time() - cpu:.1f} s, rss {rss_mib():.0f} MiB", flush=True)
    run.metrics["flags"] = (baseline_flags(run.metrics, run.config["recommend"]["k"])
                            + horizon_flags(run.metrics))


def last_steps(run, tracer: Tracer, out: Path) -> str:
    """The three steps as the pipeline runs them; the new version's id."""
    from threadpoolctl import threadpool_limits

    from training import artifacts
    from training import pipeline as p
    from training.report import render

    with threadpool_limits(1), tracer.part("member table step"):
        run.members = p._member_table(run)
    writer = artifacts.start_version(out)
    with tracer.part("report step"):
        writer.save_text(artifacts.schema.REPORT, render.render_report(run, writer.version))
    with tracer.part("write step"):
        p._save(run, writer)
        writer.commit(p._manifest(run))
    return writer.version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a data directory (offers import / synth)")
    parser.add_argument("--config", default=None, help="a train.toml")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory limit (1GB)")
    parser.add_argument("--save-run", type=Path, help="pickle the earlier steps' run here")
    parser.add_argument("--load-run", type=Path, help="restore the earlier steps' run from here")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the versions here (else a temp dir)")
    args = parser.parse_args()

    from training.config import load_config

    start = time.perf_counter()
    run = open_run(args.data, load_config(args.config), memory_limit=args.memory_limit)
    tables = run.engine_tables
    print(f"load: {time.perf_counter() - start:.1f} s, rss {rss_mib():.0f} MiB", flush=True)
    if args.load_run:
        with open(args.load_run, "rb") as f:  # this script's own file (see the docstring)
            saved = pickle.load(f)  # noqa: S301
        for name, value in saved.items():
            setattr(run, name, value)
    else:
        earlier_steps(run)
        if args.save_run:
            fields = {k: v for k, v in vars(run).items() if k not in UNPICKLED}
            with open(args.save_run, "wb") as f:
                pickle.dump(fields, f, protocol=pickle.HIGHEST_PROTOCOL)
    run.seconds = {}
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench_member_table_"))
    tracer = Tracer()
    tracer.start()
    instrument(tracer)
    try:
        versions = [last_steps(run, tracer, out) for _ in range(args.repeat)]
    finally:
        tracer.running = False
        tables.close()
    print(f"\n{run.members.shape[0]:,} members; {args.repeat} repeat(s), sums over them; "
          f"versions {versions} in {out}")
    print(f"{'part':<40} {'calls':>5} {'seconds':>8} {'CPU s':>7} {'RSS start':>9} "
          f"{'peak MiB':>9}")
    for key in tracer.order:
        part = tracer.parts[key]
        print(f"{key:<40} {part['calls']:>5} {part['seconds']:>8.2f} {part['cpu']:>7.2f} "
              f"{part['rss_start']:>9.0f} {part['peak']:>9.0f}")
    print(f"process peak RSS (ru_maxrss) "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

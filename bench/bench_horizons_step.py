"""Time the pipeline's "windows" and "horizons" steps on a data directory, per sub-part.

Usage::

    python bench/bench_horizons_step.py DATA_DIR [--engine duckdb] [--memory-limit 1GB]
        [--repeat 1] [--steps windows,churn,value,horizons] [--validate-horizons 30 60 90]
        [--compare-full-fit]

Opens the data as ``offers train`` does (:func:`training.engines.load_for_engine`,
DuckDB by default, with the memory limit), then runs the steps ``windows``,
``churn``, ``value`` (``training.pipeline``) and ``horizons``
(``training.horizon_step.fit_horizon_step``) ``--repeat`` times under one
BLAS thread, as the pipeline does. Prints per step the median wall seconds and
the peak resident memory of the process, and per sub-part (the functions the
steps call, wrapped here with timers: purchase summaries, BG/NBD and
Gamma-Gamma fits, windows, member features, the boosted models) the total
seconds and number of calls of the last repeat; sub-parts nest (the windows
include their member features). Then the fitted BG/NBD and Gamma-Gamma
parameters and the validation metrics per horizon, to compare runs (e.g. a
member sample against the full fit).
"""

from __future__ import annotations

import argparse
import collections
import functools
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine_run import open_run  # noqa: E402  (bench/, this script's folder)

from training import horizon_step, pipeline  # noqa: E402
from training.config import load_config  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
SECONDS: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


class PeakRss:
    """Samples the resident memory every 20 ms; ``peak`` in MiB."""

    def __enter__(self):
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def timed(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SECONDS[name].append((time.perf_counter() - start, time.process_time() - cpu))
    return wrapper


def wrap_sub_parts() -> None:
    """Timers around what the two steps call (attributes that do not exist are skipped)."""
    import models.lifecycle.engine_windows as ew
    import models.lifecycle.windows as pw
    from models.lifecycle import BetaGeoModel, ChurnModel, GammaGammaModel, ValueModel

    modules = [horizon_step, pipeline, ew, pw]
    try:
        import models.lifecycle.engine_sample as es  # after the sampling change
        modules.append(es)
    except ImportError:
        pass
    for module in modules:
        for name in ("engine_purchase_summary", "purchase_summary", "make_engine_windows",
                     "make_windows", "member_features", "engine_horizon_days",
                     "fit_purchase_cycle", "validate_horizon", "predict_at_horizon",
                     "draw_buyers", "engine_sample_buyers", "sample_buyers"):
            fn = getattr(module, name, None)
            if fn is not None and not hasattr(fn, "__wrapped__"):
                setattr(module, name, timed(name, fn))
    for cls, method in ((BetaGeoModel, "fit"), (GammaGammaModel, "fit"), (ChurnModel, "fit"),
                        (ValueModel, "fit")):
        fn = getattr(cls, method)
        if not hasattr(fn, "__wrapped__"):
            setattr(cls, method, timed(f"{cls.__name__}.{method}", fn))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--engine", default="duckdb", choices=("pandas", "duckdb"))
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--config", default=None, help="a train.toml")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--steps", default="windows,churn,value,horizons",
                        help="in the pipeline's order (horizons reuses the churn and value "
                             "steps' metrics at H)")
    parser.add_argument("--validate-horizons", type=int, nargs="*", default=None)
    parser.add_argument("--compare-full-fit", action="store_true",
                        help="also fit BG/NBD + Gamma-Gamma on every member's summary and "
                             "print how far the sample's parameters and predictions are")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config)
    if args.validate_horizons is not None:
        config["churn"]["validate_horizons"] = list(args.validate_horizons)
    wrap_sub_parts()
    start = time.perf_counter()
    run = open_run(args.data_dir, config, engine=args.engine,
                   memory_limit=args.memory_limit if args.engine != "pandas" else None)
    tables = run.engine_tables
    print(f"load: {time.perf_counter() - start:.1f} s, rss {rss_mb():.0f} MiB, "
          f"as_of {run.as_of.date()}, engine {args.engine}")
    steps = {"windows": lambda r: pipeline._guarded(r, "churn", pipeline._windows),
             "churn": lambda r: pipeline._guarded(r, "churn", pipeline._churn),
             "value": lambda r: pipeline._guarded(r, "value", pipeline._value),
             "horizons": horizon_step.fit_horizon_step}
    chosen = [s.strip() for s in args.steps.split(",")]
    times: dict[str, list[tuple[float, float, float]]] = {s: [] for s in chosen}
    try:
        with threadpool_limits(1):
            for _ in range(args.repeat):
                SECONDS.clear()
                for name in chosen:
                    with PeakRss() as mem:
                        wall, cpu = time.perf_counter(), time.process_time()
                        steps[name](run)
                        times[name].append((time.perf_counter() - wall, mem.peak,
                                            time.process_time() - cpu))
    finally:
        if tables is not None:
            tables.close()
    print(f"\n{'step':10s} {'wall s':>8s} {'cpu s':>8s} {'peak MiB':>9s}   "
          f"(median of {args.repeat}; cpu: all threads of the process)")
    for name, rows in times.items():
        print(f"{name:10s} {statistics.median(r[0] for r in rows):8.1f} "
              f"{statistics.median(r[2] for r in rows):8.1f} {max(r[1] for r in rows):9.0f}")
    print("\nsub-parts of the last repeat (nested; total wall s, cpu s, calls):")
    for name, values in sorted(SECONDS.items(), key=lambda kv: -sum(v[0] for v in kv[1])):
        print(f"  {name:28s} {sum(v[0] for v in values):8.1f} "
              f"{sum(v[1] for v in values):8.1f} {len(values):4d}")
    found = run.metrics.get("horizons") or {}
    if found.get("trained"):
        print(f"\nparams: {found['params']}")
        for h, result in found["validation"].items():
            churn = {m: round(v["roc_auc"], 4) for m, v in result["churn"].items()}
            pr = {m: round(v["pr_auc"], 4) for m, v in result["churn"].items()}
            value = {m: (round(v["spearman"], 4), round(v["mae"], 3))
                     for m, v in result["value"].items()}
            print(f"  {h:>3s} d ({result['validation_members']} members): roc_auc {churn}\n"
                  f"        pr_auc {pr}\n        (spearman, mae) {value}")
        if found.get("left_out"):
            print(f"  left out: {found['left_out']}")
    elif found:
        print(f"\nhorizons not trained: {found.get('reason')}")
    if run.horizon_summary is not None:
        print(f"horizon summary: {len(run.horizon_summary)} members")
        if args.compare_full_fit:
            compare_full_fit(run)
    return 0


def compare_full_fit(run) -> None:
    """The sample's parameters and every member's predictions against a fit on every member."""
    from models.lifecycle import BetaGeoModel, GammaGammaModel, predict_at_horizon

    summary, sampled = run.horizon_summary, run.horizon_model
    start = time.perf_counter()
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    gg = GammaGammaModel().fit(summary["frequency"], summary["monetary"])
    full = {"bgnbd": bg.to_json(), "gamma_gamma": gg.to_json()}
    print(f"\nfull fit on {len(summary)} members: {time.perf_counter() - start:.1f} s")
    for model in ("bgnbd", "gamma_gamma"):
        drift = {k: f"{v:.4g} vs {sampled[model][k]:.4g} ({sampled[model][k] / v - 1:+.2%})"
                 for k, v in full[model].items() if k != "model"}
        print(f"  {model} full vs sample: {drift}")
    for days in (30, 90, 365):
        a, b = (predict_at_horizon(p, summary, days) for p in (full, sampled))
        for col in ("churn_risk", "expected_spend"):
            diff = (b[col] - a[col]).abs()
            print(f"  {days:3d} d {col:15s}: mean {a[col].mean():.4f} vs {b[col].mean():.4f}, "
                  f"mean |diff| {diff.mean():.4g}, max |diff| {diff.max():.4g}, "
                  f"spearman {a[col].corr(b[col], method='spearman'):.5f}")


if __name__ == "__main__":
    sys.exit(main())

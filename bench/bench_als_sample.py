"""ALS swept over a member sample then folded in, vs swept over every member (issue 11).

Usage::

    python bench/bench_als_sample.py DATA_DIR [--memory-limit 1GB]
        [--validation-members 100000] [--als-members 0 20000 50000]

Opens the data on DuckDB as ``offers train --engine duckdb`` does and runs the
pipeline's untuned validation (:func:`models.recommenders.tune_recommenders`
with ``training.pipeline.UNTUNED_GRID``: fit on the lines before ``as_of - 28
days`` of a seeded sample of ``--validation-members`` members, measured on what
they bought in the 28 days after), once per ``--als-members`` value: the ALS
fit gets ``fit_members`` = that value (0: every member, today's fit). Printed
per value: the ALS and blend NDCG@10 and precision@10 over all items and over
never-bought items, and the CPU seconds of ALS (sweeps, and fold-in). Quality
is thus measured on a later period than the fit, against the same truths.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a data directory (offers import / synth)")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory limit (1GB)")
    parser.add_argument("--validation-members", type=int, default=100_000)
    parser.add_argument("--als-members", type=int, nargs="+", default=[0, 20_000, 50_000])
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from models.recommenders import EngineLines, als
    from models.recommenders.category import without_categories
    from models.recommenders.tuning import DEFAULT_GRID, tune_recommenders
    from training.config import load_config
    from training.engines import line_span, load_for_engine
    from training.pipeline import UNTUNED_GRID, resolve_as_of

    config = load_config()
    dataset, tables = load_for_engine("duckdb", str(args.data), memory_limit=args.memory_limit)
    as_of = resolve_as_of(line_span(tables.lines), None)
    lines, _ = without_categories(EngineLines(tables.lines), dataset.items,
                                  config["recommend"]["exclude_categories"])
    grid = {**UNTUNED_GRID, "als_common": {**DEFAULT_GRID["als_common"], "random_state": 0}}
    original_fit, original_fold = als.ALSRecommender.fit, als.fold_in_users
    cpu = {}

    def timed(name, function):
        @functools.wraps(function)
        def run(*a, **kw):
            start = time.process_time()
            try:
                return function(*a, **kw)
            finally:
                cpu[name] = cpu.get(name, 0.0) + time.process_time() - start
        return run

    print(f"{'als_members':>11} {'swept on':>8} {'model':<6} {'ndcg all':>9} {'ndcg new':>9} "
          f"{'prec new':>9} {'ALS CPU s':>9} {'fold-in':>8}")
    for cap in args.als_members:
        cpu.clear()
        swept = {}

        def fit(self, interactions, init=None, fit_members=None, cap=cap, swept=swept):
            fitted = original_fit(self, interactions, init=init, fit_members=cap or None)
            swept["n"] = fitted.fit_members_
            return fitted

        als.ALSRecommender.fit = timed("als", fit)
        als.fold_in_users = timed("fold", original_fold)
        try:
            with threadpool_limits(1):
                result = tune_recommenders(lines, as_of, holdout_days=config["validation_days"],
                                           grid=grid, max_members=args.validation_members,
                                           random_state=0, items=dataset.items)
        finally:
            als.ALSRecommender.fit, als.fold_in_users = original_fit, original_fold
        table = result.table.set_index(["model", "mode"])
        for model in ("als", "blend"):
            print(f"{cap or 'all':>11} {swept['n']:>8,} {model:<6} "
                  f"{table.at[(model, 'all'), 'ndcg@10']:>9.6f} "
                  f"{table.at[(model, 'never_bought'), 'ndcg@10']:>9.6f} "
                  f"{table.at[(model, 'never_bought'), 'precision@10']:>9.6f} "
                  f"{cpu.get('als', 0):>9.1f} {cpu.get('fold', 0):>8.1f}", flush=True)
    tables.close()


if __name__ == "__main__":
    main()

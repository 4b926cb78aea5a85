"""Quality of the recommenders on a time-based split, as markdown tables.

Usage::

    python bench/bench_recommenders.py --completejourney [--as-of 2017-12-01]
    python bench/bench_recommenders.py DATA_DIR --as-of 2025-10-01

Protocol: the parameters are tuned with :func:`models.recommenders.tuning.tune_recommenders`
on the ``--holdout-days`` before ``--as-of`` (training on what came before
them); the chosen models are then refitted on every line before ``--as-of``
and evaluated on the ``--test-days`` after it, over all items and over items
each member had never bought (see :mod:`models.recommenders.metrics`). A second table
does the same at category level: the same models fitted on the interactions
rolled up to the items' ``category``, plus the item-level blend's scores
aggregated per category (best item).

Prints the tables, the chosen parameters and the wall times of tuning and of
the final fit.

The items table goes to the tuning as the training pipeline passes it, so the
"new to you" list may weigh category-aware popularity (issue 13).

``--bootstrap N`` adds a 95% interval of the blend's test precision@10 over its
baseline's (all items: personal top-frequency; never bought: popularity), from N
resamples of the test members, both models scored on the same draw: how far a
measured gain can move by which members happen to be in the window.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_data import bench_dataset  # noqa: E402

from models.recommenders import (  # noqa: E402
    BlendRecommender,
    category_interactions,
    item_categories,
    make_recommender,
    recommend_categories,
)
from models.recommenders.category import category_transactions, without_categories  # noqa: E402
from models.recommenders.metrics import (  # noqa: E402
    MODES,
    hit_matrix,
    holdout_truth,
    metrics_table,
    ranking_metrics,
)
from models.recommenders.tuning import fit_tuned, tune_recommenders  # noqa: E402
from training.config import EXCLUDED_CATEGORIES  # noqa: E402

K = 10


def markdown(table: pd.DataFrame) -> str:
    """A metrics table as a markdown table (no extra dependency)."""
    cols = ["model", "mode", f"precision@{K}", f"recall@{K}", f"ndcg@{K}", f"coverage@{K}",
            "members"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        cells = [str(row["model"]), str(row["mode"])]
        cells += [f"{row[c]:.4f}" for c in cols[2:6]] + [f"{int(row['members']):,}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def category_table(ds, as_of, end, params) -> pd.DataFrame:
    """Category-level metrics: models fitted on rolled-up interactions, and the
    item blend aggregated per category."""
    tx = ds.transactions
    cat_tx = category_transactions(tx, ds.items)
    item_models = fit_tuned(tx, as_of, params, items=ds.items)
    cat_im = category_interactions(item_models["interactions"], ds.items)
    truths = {m: holdout_truth(cat_tx, cat_im, as_of, end, mode=m) for m in MODES}
    models = {}
    for name in ("popularity", "buy_again"):
        models[name] = make_recommender(name, **params[name]).fit(cat_im)
    models["als"] = make_recommender("als", **{**params["als"], "min_item_buyers": 1}).fit(cat_im)
    models["blend"] = BlendRecommender.from_fitted(
        {n: models[n] for n in ("popularity", "buy_again", "als")}, params["blend"]["weights"]
    )
    table = metrics_table(models, truths, K)
    cats = item_categories(item_models["interactions"], ds.items)
    truth = truths["all"]
    rows = item_models["blend"].member_rows(truth.member_ids)
    top, _ = recommend_categories(item_models["blend"], rows, cats, k=K)
    m = ranking_metrics(top, truth.items, K, n_relevant=truth.n_relevant, n_items=truth.n_items)
    extra = {"model": "item blend -> category (max)", "mode": "all", "members": m["members"]}
    extra.update({f"{key}@{K}": m[key] for key in ("precision", "recall", "ndcg", "coverage")})
    return pd.concat([table, pd.DataFrame([extra])], ignore_index=True)


#: The baseline each mode's gain is measured against (issue 13's targets).
BASELINES = {"all": "top_frequency", "never_bought": "popularity"}


def member_precision(model, truth) -> np.ndarray:
    """Precision@K of each test member with a relevant item (the rows ranking_metrics averages)."""
    rows = model.member_rows(truth.member_ids)
    recommended, _ = model.recommend(rows, k=K, exclude_purchased=truth.exclude_purchased)
    hits = hit_matrix(recommended[:, :K], truth.items.tocsr())
    return hits.sum(axis=1)[np.asarray(truth.n_relevant) > 0] / K


def bootstrap_gains(models: dict, truths: dict, n: int, seed: int = 0) -> str:
    """Markdown rows: each mode's gain of the blend over its baseline, with a 95% interval
    from ``n`` paired resamples of the members."""
    rng = np.random.default_rng(seed)
    lines = ["| mode | blend | baseline | gain | 95% interval of the gain |",
             "|---|---|---|---|---|"]
    for mode, baseline in BASELINES.items():
        blend = member_precision(models["blend"], truths[mode])
        base = member_precision(models[baseline], truths[mode])
        drawn = rng.integers(0, len(blend), (n, len(blend)))
        gains = blend[drawn].mean(axis=1) / base[drawn].mean(axis=1) - 1
        low, high = np.quantile(gains, [0.025, 0.975])
        lines.append(f"| {mode} | {blend.mean():.4f} | {baseline} {base.mean():.4f} | "
                     f"{blend.mean() / base.mean() - 1:+.1%} | [{low:+.1%}, {high:+.1%}] |")
    return "\n".join(lines)


@click.command()
@click.argument("data_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--completejourney", is_flag=True, help="Import the public data set first.")
@click.option("--as-of", default="2017-12-01", show_default=True, help="Training cutoff.")
@click.option("--holdout-days", default=28, show_default=True, type=click.IntRange(1),
              help="Validation window before --as-of used for tuning.")
@click.option("--test-days", default=28, show_default=True, type=click.IntRange(1),
              help="Test window after --as-of.")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0),
              help="ALS fitting threads (0: all cores); BLAS always uses one.")
@click.option("--categories/--no-categories", default=True, show_default=True)
@click.option("--exclude-categories/--every-category", default=True, show_default=True,
              help="Leave out fuel, tobacco, ... as `offers train` does "
                   "(recommend.exclude_categories).")
@click.option("--bootstrap", default=0, show_default=True, type=click.IntRange(0),
              metavar="N", help="Resamples of the test members for intervals of the gains.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(data_dir, completejourney, as_of, holdout_days, test_days, threads, categories,
         exclude_categories, bootstrap, verbose):
    """Tune, fit and evaluate the recommenders on DATA_DIR (or --completejourney)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    ds, name = bench_dataset(data_dir, completejourney, cj_name="Complete Journey",
                             now="2100-01-01")
    as_of = pd.Timestamp(as_of)
    end = as_of + pd.Timedelta(days=test_days)
    tx = ds.transactions
    if exclude_categories:
        tx, excluded = without_categories(tx, ds.items, list(EXCLUDED_CATEGORIES))
        click.echo(f"left out {excluded:,} items of the excluded categories (as offers train)")
    with threadpool_limits(1, "blas"):
        started = time.perf_counter()
        tuned = tune_recommenders(tx, as_of, holdout_days=holdout_days, k=K, num_threads=threads,
                                  items=ds.items)
        tune_s = time.perf_counter() - started
        started = time.perf_counter()
        params = tuned.params
        fitted = fit_tuned(tx, as_of, params, items=ds.items)
        fit_s = time.perf_counter() - started
        im = fitted["interactions"]
        truths = {m: holdout_truth(tx, im, as_of, end, mode=m) for m in MODES}
        models = {n: fitted[n] for n in ("popularity", "buy_again", "als", "blend")}
        # every purchase counted once: the personal top-frequency baseline of issue 13
        models["top_frequency"] = make_recommender("buy_again", half_life_days=None).fit(im)
        test = metrics_table(models, truths, K)
        cat = category_table(ds, as_of, end, params) if categories else None
        gains = bootstrap_gains(models, truths, bootstrap) if bootstrap else None
    click.echo(
        f"## {name}: train before {as_of.date()}, test [{as_of.date()}, {end.date()}), k={K}\n"
    )
    click.echo(f"{im.n_members:,} members x {im.n_items:,} items, {im.n_lines:,} lines before "
               f"the cutoff.\n")
    click.echo("### Items\n")
    click.echo(markdown(test))
    if gains is not None:
        click.echo(f"\n### Gains over the baselines ({bootstrap} resamples of the members)\n")
        click.echo(gains)
    if cat is not None:
        click.echo("\n### Categories\n")
        click.echo(markdown(cat))
    click.echo(f"\n### Validation ({holdout_days} days before {as_of.date()})\n")
    click.echo(markdown(tuned.table))
    click.echo("\nChosen parameters: `" + json.dumps(tuned.params["blend"]) + "`")
    click.echo(
        f"\nTuning {tune_s:.1f}s ({len(tuned.trials)} trials), final fit {fit_s:.1f}s, "
        f"{os.cpu_count()} CPUs, ALS threads={threads}, BLAS threads=1."
    )


if __name__ == "__main__":
    main()

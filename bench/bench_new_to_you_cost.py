"""What category-aware popularity costs the "new to you" list per member (issue 13).

Fits the blend with the weights ``bench_recommenders.py`` chose on Complete Journey
(no tuning), then times one member's never-bought scoring (a live request, and what
training's precomputed lists do once per member) with and without the category
component, and its fit.

Usage::

    python bench/bench_new_to_you_cost.py DATA_DIR [--as-of 2017-12-01] [--members 500]
"""

from __future__ import annotations

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
    item_categories,
    make_recommender,
)
from models.recommenders.tuning import fit_tuned  # noqa: E402

#: The parameters bench_recommenders.py chose on Complete Journey, 2026-12-04.
PARAMS = {
    "popularity": {"half_life_days": 14.0},
    "buy_again": {"half_life_days": 90.0},
    "als": {"factors": 64, "iterations": 15, "min_item_buyers": 2, "random_state": 0,
            "num_threads": 1, "weighting": "log1p", "alpha": 2.0, "regularization": 0.05},
}
PARAMS["blend"] = {
    "weights": {"buy_again": 1.0, "als": 0.05, "popularity": 0.1}, **PARAMS,
    "new_weights": {"als": 0.5, "popularity": 0.0, "first_purchase_popularity": 1.0,
                    "category_popularity": 0.25},
    "first_purchase_popularity": {"half_life_days": 30.0},
    "category_popularity": {"beta": 0.5},
}


def per_member_ms(model, rows, exclude: bool) -> float:
    started = time.perf_counter()
    for row in rows:
        model.score(np.array([row]), exclude_purchased=exclude)
    return (time.perf_counter() - started) / len(rows) * 1000


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--as-of", default="2017-12-01", show_default=True)
@click.option("--members", default=500, show_default=True, type=click.IntRange(1))
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1),
              help="Interleaved timing rounds; the best of each is shown.")
def main(data_dir, as_of, members, rounds):
    """Time never-bought scoring with and without category popularity on DATA_DIR."""
    ds, name = bench_dataset(data_dir, False, cj_name="Complete Journey", now="2100-01-01")
    with threadpool_limits(1, "blas"):
        fitted = fit_tuned(ds.transactions, pd.Timestamp(as_of), PARAMS, items=ds.items)
        im = fitted["interactions"]
        started = time.perf_counter()
        make_recommender("category_popularity", beta=0.5).fit(im, item_categories(im, ds.items))
        fit_s = time.perf_counter() - started
        blend = fitted["blend"]
        without = BlendRecommender.from_fitted(
            blend.components_, blend.weights,
            new_weights={**blend.new_weights, "category_popularity": 0.0})
        rows = np.random.default_rng(0).choice(blend.n_members, min(members, blend.n_members),
                                               replace=False)
        for model in (blend, without):  # warm up
            per_member_ms(model, rows[:20], True)
        cases = {"all items": (blend, False), "new to you, with category": (blend, True),
                 "new to you, without category": (without, True)}
        # Interleaved rounds, best of each: the shared machine's load moves between them.
        times = {label: [] for label in cases}
        for _ in range(rounds):
            for label, (model, exclude) in cases.items():
                times[label].append(per_member_ms(model, rows, exclude))
        results = {label: min(found) for label, found in times.items()}
    click.echo(f"## {name}: {im.n_members:,} members x {im.n_items:,} items, "
               f"{len(rows)} members timed, best of {rounds} interleaved rounds\n")
    click.echo("| scoring of one member | ms |\n|---|---:|")
    for label, ms in results.items():
        click.echo(f"| {label} | {ms:.2f} |")
    click.echo(f"\ncategory popularity fit {fit_s:.2f}s; shares stored: "
               f"{len(blend.components_['category_popularity'].shares_data_):,} entries")


if __name__ == "__main__":
    main()

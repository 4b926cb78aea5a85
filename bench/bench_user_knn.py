"""Does TIFU-KNN's neighbour term add to the tuned blend? (issue 13)

Usage::

    python bench/bench_user_knn.py DATA_DIR [--as-of 2017-12-05]

TIFU-KNN (Hu et al., SIGIR 2020) scores ``alpha * own + (1 - alpha) * mean of the
k nearest members' vectors``, each member's vector being their time-decayed
purchases, L2-normalised, neighbours by cosine. The blend already holds the
"own" term (buy again, a time-decayed personal frequency), so this measures what
the neighbour term adds: the blend's scores (the weights
:func:`models.recommenders.tuning.tune_recommenders` chooses, tuned on the 28 days
before ``--as-of``) plus ``w`` times the neighbour term (normalised per member to a
largest score of 1), for several half-lives, neighbour counts and weights ``w``
(``w = 0`` is the blend itself; a blend weight ``w`` is TIFU's ``alpha`` of about
``1 / (1 + w)`` next to buy again). ``bench/experiment_tifu_knn.py`` measures TIFU-KNN
on its own against buy-again and the blend; this one, its neighbour term inside the blend.

Two splits, each with the tuned parameters refitted on the lines before it:
validation (fit before ``as-of - 28 days``, measure the 28 days before ``as-of``:
what a tuner would choose ``w`` on) and test (fit before ``as-of``, measure the 28
days after). Prints precision@10 over all items and over never-bought items as
``validation / test`` for every variant. Neighbours are searched among every
member of the split (the Complete Journey's 2,469 members: an exact search).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_data import bench_dataset  # noqa: E402

from models.recommenders.base import top_k  # noqa: E402
from models.recommenders.blend import blend_parts  # noqa: E402
from models.recommenders.category import without_categories  # noqa: E402
from models.recommenders.metrics import holdout_truth, ranking_metrics  # noqa: E402
from models.recommenders.tuning import fit_tuned, tune_recommenders  # noqa: E402
from training.config import EXCLUDED_CATEGORIES  # noqa: E402

K = 10
HALF_LIVES = (None, 30.0, 90.0)
NEIGHBOURS = (50, 300)
WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)


def neighbour_term(vectors: sp.csr_matrix, rows: np.ndarray, n_neighbours: int) -> np.ndarray:
    """The mean of each row's ``n_neighbours`` most similar members' normalised vectors
    (cosine similarity as weight, the member itself left out), divided by its largest
    entry; shape (len(rows), n_items)."""
    unit = sp.csr_matrix(vectors, dtype=np.float64)
    norms = np.sqrt(np.asarray(unit.multiply(unit).sum(axis=1)).ravel())
    unit = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ unit
    similarity = (unit[rows] @ unit.T).toarray()
    similarity[np.arange(len(rows)), rows] = -np.inf
    nearest = np.argpartition(-similarity, n_neighbours, axis=1)[:, :n_neighbours]
    weights = np.zeros_like(similarity)
    np.put_along_axis(weights, nearest, np.take_along_axis(similarity, nearest, 1), 1)
    term = (sp.csr_matrix(np.maximum(weights, 0.0)) @ unit).toarray() / n_neighbours
    return (term / np.maximum(term.max(axis=1, keepdims=True), 1e-12)).astype(np.float32)


def split_precisions(tx, items, as_of, params) -> dict:
    """Precision@K of every (mode, half-life, neighbours, weight) variant on one split."""
    end = as_of + pd.Timedelta(days=28)
    fitted = fit_tuned(tx, as_of, params, items=items)
    im, blend = fitted["interactions"], fitted["blend"]
    out = {}
    for mode in ("all", "never_bought"):
        truth = holdout_truth(tx, im, as_of, end, mode=mode)
        rows = blend.member_rows(truth.member_ids)
        known = rows >= 0
        exclude = mode == "never_bought"
        weights = blend._new_weights() if exclude else blend._weights()
        base = blend_parts(blend.components_, rows[known]).dense(weights)
        for half_life, n_nb in itertools.product(HALF_LIVES, NEIGHBOURS):
            term = neighbour_term(im.decayed_counts(half_life), rows[known], n_nb)
            for w in WEIGHTS:
                scores = base + np.float32(w) * term
                if exclude:
                    blend._mask_purchased(scores, rows[known])
                recommended = np.full((len(rows), K), -1)
                recommended[known] = top_k(scores, K)[0]
                out[(mode, half_life, n_nb, w)] = ranking_metrics(
                    recommended, truth.items, K, n_relevant=truth.n_relevant,
                    n_items=truth.n_items)["precision"]
    return out


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--as-of", default="2017-12-05", show_default=True, help="Test cutoff.")
def main(data_dir, as_of):
    """Precision@10 of the blend plus TIFU-KNN's neighbour term, validation / test."""
    ds, name = bench_dataset(data_dir, False)
    tx, _ = without_categories(ds.transactions, ds.items, list(EXCLUDED_CATEGORIES))
    as_of = pd.Timestamp(as_of)
    with threadpool_limits(1, "blas"):
        started = time.perf_counter()
        params = tune_recommenders(tx, as_of, holdout_days=28, k=K, items=ds.items).params
        click.echo(f"## {name}: tuned in {time.perf_counter() - started:.0f} s, blend "
                   f"`{json.dumps(params['blend']['weights'])}`, new "
                   f"`{json.dumps(params['blend']['new_weights'])}`\n")
        val = split_precisions(tx, ds.items, as_of - pd.Timedelta(days=28), params)
        test = split_precisions(tx, ds.items, as_of, params)
    for mode in ("all", "never_bought"):
        click.echo(f"### precision@{K}, {mode} (validation / test)\n")
        click.echo("| half-life | neighbours | " + " | ".join(f"w={w}" for w in WEIGHTS) + " |")
        click.echo("|---|---|" + "---|" * len(WEIGHTS))
        for half_life, n_nb in itertools.product(HALF_LIVES, NEIGHBOURS):
            keys = [(mode, half_life, n_nb, w) for w in WEIGHTS]
            cells = [f"{val[key]:.4f} / {test[key]:.4f}" for key in keys]
            click.echo(f"| {half_life} | {n_nb} | " + " | ".join(cells) + " |")
        click.echo("")


if __name__ == "__main__":
    main()

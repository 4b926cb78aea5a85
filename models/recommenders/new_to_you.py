"""Tuning of the "new to you" list: its own candidates and weights.

The blend's list with purchased items excluded is a discovery list; buy
again cannot contribute to it. :func:`tune_new_to_you` picks a
first-purchase popularity (:mod:`.first_purchase`), a category-aware
popularity (:mod:`.category_popularity`, when the item categories are given)
and the blend's ``new_weights`` over ALS, popularity, first-purchase and
category-aware popularity by precision@k (then NDCG@k) over never-bought items
on the validation split, the target metric of issue 13. Like the blend weight
search in :mod:`.tuning`, each weight tuple is scored on the union of every
component's top ``n_candidates`` unbought items per member. The weights the
all-items blend implies for this list (its ALS and popularity weights) are
always a candidate, so the chosen weights are at least as good on validation.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from .base import for_row_chunks, top_k
from .blend import blend_parts
from .category_popularity import CategoryPopularityRecommender
from .first_purchase import FirstPurchasePopularityRecommender
from .metrics import HoldoutTruth, evaluate, ranking_metrics

logger = logging.getLogger(__name__)

#: The defaults; :data:`models.recommenders.tuning.DEFAULT_GRID` holds them.
NEW_GRID: dict = {
    "first_purchase_popularity": [
        {"half_life_days": 14.0}, {"half_life_days": 30.0}, {"half_life_days": 90.0},
    ],
    "new_als": [0.0, 0.25, 0.5, 1.0],
    "new_popularity": [0.0, 0.1, 0.25, 0.5],
    "new_first_purchase": [0.0, 0.5, 1.0],
    # bench/bench_new_to_you.py: share ** 0.5 was the best of beta 0.5 and 1
    "category_popularity": [{"beta": 0.5}],
    "new_category_popularity": [0.0, 0.25, 0.5],
}
_KEYS = ("als", "popularity", "first_purchase_popularity", "category_popularity")


def _row(model: str, params, metrics: dict, k: int) -> dict:
    return {"model": model, "params": repr(params), "mode": "never_bought",
            f"ndcg@{k}": metrics["ndcg"], f"precision@{k}": metrics["precision"],
            f"recall@{k}": metrics["recall"]}


def _key(metrics: dict) -> tuple[float, float]:
    return metrics["precision"], metrics["ndcg"]


def weight_grid(components: dict, truth: HoldoutTruth, k: int, triples,
                n_candidates: int = 50) -> dict:
    """Never-bought metrics of each weight tuple (in the order of ``_KEYS``).

    Mirrors :meth:`BlendParts.dense` on the candidates (popularity alone for
    unknown members); ``components`` holds fitted ``als``, ``popularity``,
    ``first_purchase_popularity`` and optionally ``category_popularity`` (then
    absent, its weights must be 0).
    """
    comps = {n: components[n] for n in _KEYS if n in components}
    rows_all = truth.member_rows
    n_items = len(comps["popularity"].item_ids_)
    recs = {t: np.full((len(rows_all), k), -1, dtype=np.int64) for t in triples}

    def chunk_recs(start: int, stop: int) -> None:
        rows = rows_all[start:stop]
        picks = [c.recommend(rows, k=n_candidates, exclude_purchased=True)[0]
                 for c in comps.values()]
        cand = np.sort(np.concatenate(picks, axis=1), axis=1)
        dup = np.zeros(cand.shape, dtype=bool)
        dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
        cand[dup] = -1
        values = blend_parts(comps, rows).at(cand)
        filled = {n: np.where(np.isfinite(v), v, 0.0) for n, v in values.items()}
        unknown = rows < 0
        for t in triples:
            total = np.zeros(cand.shape, dtype=np.float32)
            for name, w in zip(_KEYS, t):
                if w > 0 and name in filled:
                    total += np.float32(w) * filled[name]
            total[unknown] = filled["popularity"][unknown]
            total[cand < 0] = -np.inf
            idx, _ = top_k(total, k)
            recs[t][start:stop] = np.where(
                idx >= 0, np.take_along_axis(cand, np.maximum(idx, 0), 1), -1)

    for_row_chunks(len(rows_all), n_items, chunk_recs)
    return {t: ranking_metrics(recs[t], truth.items, k, n_relevant=truth.n_relevant,
                               n_items=truth.n_items) for t in triples}


def _pick(klass, candidates, interactions, truth, k, trials, *fit_args):
    """The candidate of ``klass`` with the best never-bought precision (then NDCG)."""
    best = None
    for params in candidates:
        model = klass(**params).fit(interactions, *fit_args)
        if len(candidates) == 1:
            return model, params
        metrics = evaluate(model, truth, k)
        trials.append(_row(klass.name, params, metrics, k))
        if best is None or _key(metrics) > _key(best[2]):
            best = (model, params, metrics)
    return best[0], best[1]


def tune_new_to_you(components: dict, interactions, truth: HoldoutTruth, k: int, space: dict,
                    weights: dict, trials: list, n_candidates: int = 50, item_category=None):
    """First-purchase and category popularity and ``new_weights`` chosen on never-bought
    validation.

    Parameters
    ----------
    components : dict
        The fitted ``als`` and ``popularity`` of the validation split.
    interactions : InteractionMatrix
        The validation training interactions.
    truth : HoldoutTruth
        The never-bought truth of the validation window.
    k : int
    space : dict
        Holds the keys of :data:`NEW_GRID`.
    weights : dict
        The all-items blend weights (their ALS/popularity pair is a candidate).
    trials : list
        Every candidate tried is appended (``model`` ``first_purchase_popularity``,
        ``category_popularity`` and ``blend_new``).
    n_candidates : int
    item_category : array-like of str, shape (n_items,), optional
        The category of each item column of ``interactions``; without it
        category-aware popularity is not fitted and its weight is 0.

    Returns
    -------
    models : dict
        The fitted ``first_purchase_popularity`` and, with ``item_category``,
        ``category_popularity``.
    params : dict
        Their constructor arguments, by the same keys.
    new_weights : dict
        Keys ``als``, ``popularity``, ``first_purchase_popularity``, ``category_popularity``.
    """
    models, params = {}, {}
    name = "first_purchase_popularity"
    models[name], params[name] = _pick(FirstPurchasePopularityRecommender, space[name],
                                       interactions, truth, k, trials)
    category_weights = space["new_category_popularity"]
    if item_category is not None:
        name = "category_popularity"
        models[name], params[name] = _pick(CategoryPopularityRecommender, space[name],
                                           interactions, truth, k, trials, item_category)
    else:
        category_weights = [0.0]
    tuples = [t for t in itertools.product(space["new_als"], space["new_popularity"],
                                           space["new_first_purchase"], category_weights)
              if any(t)]
    current = (float(weights["als"]), float(weights["popularity"]), 0.0, 0.0)
    if any(current) and current not in tuples:
        tuples.append(current)
    grid = weight_grid({**components, **models}, truth, k, tuples, n_candidates)
    for t, metrics in grid.items():
        trials.append(_row("blend_new", dict(zip(_KEYS, t)), metrics, k))
    chosen = max(grid, key=lambda t: _key(grid[t]))
    logger.info("new-to-you weights %s: precision@%d %.4f (the all-items weights: %s)",
                chosen, k, grid[chosen]["precision"],
                f"{grid[current]['precision']:.4f}" if current in grid else "-")
    return models, {n: dict(p) for n, p in params.items()}, {
        n: float(w) for n, w in zip(_KEYS, chosen)}

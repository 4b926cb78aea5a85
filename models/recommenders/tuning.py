"""Choose recommender parameters on a time-based validation split.

The split: fit on the lines before ``as_of - holdout_days``, evaluate on what
members bought in the last ``holdout_days`` before ``as_of`` (see
:mod:`models.recommenders.metrics`). The search is a small bounded grid:

1. popularity and buy-again half-lives, chosen by NDCG@k over all items;
2. a few ALS weightings and hyper-parameters, chosen by NDCG@k over never
   bought items (discovery is what ALS adds to the blend);
3. the blend weights of ALS and popularity next to buy again (weight 1),
   chosen by NDCG@k over all items among the weights whose never-bought
   NDCG@k is at least popularity's;
4. the "new to you" list's own first-purchase popularity, category-aware
   popularity (given the ``items`` table) and weights (``new_weights``), chosen
   by precision@k over never-bought items (see :mod:`.new_to_you`).

Step 3 scores each weight pair on the union of every component's top
``n_candidates`` items per member, so the whole grid costs about one dense
scoring pass; the final table evaluates the chosen blend exactly.

The result's ``params`` feed :func:`fit_tuned` (or
``make_recommender("blend", **params["blend"])``) on the lines before ``as_of``.
"""

from __future__ import annotations

import copy
import itertools
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError

from .base import _CHUNK_CELLS, top_k
from .blend import COMPONENTS, BlendRecommender, blend_parts
from .category import item_categories
from .factory import make_recommender
from .interactions import Interactions
from .lines import Lines, as_lines
from .metrics import (
    MODES,
    HoldoutTruth,
    evaluate,
    holdout_truth,
    metrics_table,
    ranking_metrics,
)
from .new_to_you import NEW_GRID, tune_new_to_you

logger = logging.getLogger(__name__)

#: The default search space; ``als_common`` is merged into every ALS candidate.
DEFAULT_GRID: dict = {
    "popularity": [{"half_life_days": 14.0}, {"half_life_days": 30.0}, {"half_life_days": 90.0}],
    "buy_again": [
        {"half_life_days": 30.0},
        {"half_life_days": 90.0},
        {"half_life_days": 180.0},
        {"half_life_days": None},
    ],
    "als_common": {"factors": 64, "iterations": 15, "min_item_buyers": 2, "random_state": 0},
    "als": [
        {"weighting": "log1p", "alpha": 1.0, "regularization": 5.0},
        {"weighting": "log1p", "alpha": 2.0, "regularization": 0.05},
        {"weighting": "bm25", "alpha": 1.0, "regularization": 0.05},
    ],
    "blend_als": [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0],
    "blend_popularity": [0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5],
    **NEW_GRID,
}


@dataclass
class ValidationSplit:
    """Training interactions and the holdout truths of a time-based split."""

    interactions: Interactions
    truths: dict[str, HoldoutTruth]
    start: pd.Timestamp
    end: pd.Timestamp


@dataclass
class TuningResult:
    """What :func:`tune_recommenders` chose and measured.

    Attributes
    ----------
    params : dict
        Chosen constructor arguments per model: ``popularity``, ``buy_again``,
        ``als`` and ``blend`` (the latter nests the others and ``weights``).
    table : DataFrame
        Validation metrics of the chosen models (popularity, buy_again, als,
        blend), both modes; see :func:`models.recommenders.metrics.metrics_table`.
    trials : DataFrame
        Every candidate tried: ``model``, ``params``, ``mode``, ``ndcg@k``,
        ``precision@k``.
    seconds : float
        Wall time of the search.
    split : dict
        ``start``, ``end`` and ``holdout_days`` of the split, ``members`` (rows
        of its training interactions) and ``sampled`` (whether members were
        sampled, see ``max_members``).
    models : dict of str to Recommender
        The chosen models fitted on the split (``als`` can warm-start the
        final fit, see :func:`fit_tuned`).
    """

    params: dict
    table: pd.DataFrame
    trials: pd.DataFrame
    seconds: float
    split: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)


def _half_lives(candidates: dict[str, list[dict]]) -> set[float]:
    """The decayed-count half-lives the models ``{name: [params, ...]}`` will ask for."""
    out = set()
    for name, params_list in candidates.items():
        for params in params_list:
            model = make_recommender(name, **params)
            for attr in ("half_life_days", "popularity_half_life_days"):
                h = getattr(model, attr, None)
                if isinstance(h, (int, float)) and not isinstance(h, bool) and h > 0:
                    out.add(float(h))
    return out


def validation_split(transactions, as_of, holdout_days: float = 28,
                     half_lives=()) -> ValidationSplit:
    """Interactions before ``as_of - holdout_days`` and the truths of the window after.

    Parameters
    ----------
    transactions : DataFrame or Lines
        Canonical transactions, or lines on an engine
        (:class:`~models.recommenders.engine_interactions.EngineLines`).
    as_of : Timestamp or str
        End of the holdout window (exclusive); lines from it on are not used.
    holdout_days : float
        Length of the holdout window.
    half_lives : iterable of float
        Decayed counts the models will ask for (see :meth:`Lines.interactions`).
    """
    if not holdout_days > 0:
        raise ConfigError(f"holdout_days={holdout_days} should be > 0.")
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=holdout_days)
    lines = as_lines(transactions)
    interactions = lines.interactions(start, half_lives=tuple(half_lives))
    truths = {m: holdout_truth(lines, interactions, start, end, mode=m) for m in MODES}
    return ValidationSplit(interactions, truths, start, end)


def _trial(model: str, params: dict, mode: str, metrics: dict, k: int) -> dict:
    return {
        "model": model,
        "params": repr(params),
        "mode": mode,
        f"ndcg@{k}": metrics["ndcg"],
        f"precision@{k}": metrics["precision"],
        f"recall@{k}": metrics["recall"],
    }


def _pick(model_name, candidates, interactions, truth, k, trials):
    """Fit each candidate, keep the one with the best NDCG on ``truth``.

    A single candidate is only fitted: the final table measures it anyway.
    """
    if len(candidates) == 1:
        return make_recommender(model_name, **candidates[0]).fit(interactions), candidates[0], None
    best, best_ndcg, best_params = None, -1.0, None
    for params in candidates:
        model = make_recommender(model_name, **params).fit(interactions)
        metrics = evaluate(model, truth, k)
        trials.append(_trial(model_name, params, truth.mode, metrics, k))
        logger.info("%s %s: %s ndcg@%d=%.4f", model_name, params, truth.mode, k, metrics["ndcg"])
        if metrics["ndcg"] > best_ndcg:
            best, best_ndcg, best_params = model, metrics["ndcg"], params
    return best, best_params, best_ndcg


def _candidates(components: dict, rows: np.ndarray, exclude: bool, n_candidates: int):
    """Union of each component's top ``n_candidates`` items per row, and the
    blend's normalised component scores of them.

    Returns ``cand`` (n, C) item columns, -1 for unusable slots, and
    ``values`` {component: (n, C)}, ``nan`` where a component does not score.
    """
    picks = [
        comp.recommend(rows, k=n_candidates, exclude_purchased=exclude)[0]
        for comp in components.values()
    ]
    cand = np.sort(np.concatenate(picks, axis=1), axis=1)
    dup = np.zeros(cand.shape, dtype=bool)
    dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
    cand[dup] = -1
    return cand, blend_parts(components, rows).at(cand)


def _blend_grid(components, split, k, als_weights, pop_weights, n_candidates):
    """Metrics of every (als, popularity) weight pair in both modes, on candidates.

    Mirrors :meth:`BlendParts.dense` restricted to the candidates: the
    weighted sum of the scores a component gives (missing ones add 0), ``-inf``
    where no weighted component scores, popularity alone for unknown members.
    """
    pairs = list(itertools.product(als_weights, pop_weights))
    results = {pair: {} for pair in pairs}
    step = max(1, _CHUNK_CELLS // max(split.interactions.n_items, 1))
    for mode, truth in split.truths.items():
        rows_all = truth.member_rows
        recs = {pair: np.full((len(rows_all), k), -1, dtype=np.int64) for pair in pairs}
        for start in range(0, len(rows_all), step):
            rows = rows_all[start : start + step]
            cand, values = _candidates(components, rows, truth.exclude_purchased, n_candidates)
            finite = {name: np.isfinite(v) for name, v in values.items()}
            filled = {name: np.where(finite[name], v, 0.0) for name, v in values.items()}
            unknown = rows < 0
            for a, p in pairs:
                weights = {"buy_again": 1.0, "als": a, "popularity": p}
                total = np.zeros(cand.shape, dtype=np.float32)
                scored = np.zeros(cand.shape, dtype=bool)
                for name in values:
                    if weights[name] > 0:
                        total += np.float32(weights[name]) * filled[name]
                        scored |= finite[name]
                total[unknown] = filled["popularity"][unknown]
                scored[unknown] = finite["popularity"][unknown]
                total[~scored] = -np.inf
                idx, _ = top_k(total, k)
                chosen = np.where(idx >= 0, np.take_along_axis(cand, np.maximum(idx, 0), 1), -1)
                recs[(a, p)][start : start + step] = chosen
        for pair in pairs:
            results[pair][mode] = ranking_metrics(
                recs[pair], truth.items, k, n_relevant=truth.n_relevant, n_items=truth.n_items
            )
    return results


def _member_sample(lines: Lines, max_members, random_state):
    """The lines of a seeded sample of ``max_members`` members, if there are more.

    The draw depends only on the seed and the sorted member ids, so it picks
    the same members whatever holds the lines (pandas or an engine).
    """
    if max_members is None:
        return lines, False
    if not isinstance(max_members, (int, np.integer)) or max_members < 1:
        raise ConfigError(f"max_members={max_members!r} should be a positive integer or None.")
    ids = lines.member_ids()
    if len(ids) <= max_members:
        return lines, False
    rng = np.random.default_rng(random_state)
    chosen = np.sort(ids[rng.choice(len(ids), size=max_members, replace=False)])
    logger.info("validating on a sample of %d of %d members", max_members, len(ids))
    return lines.of_members(chosen), True


def _best_weights(components, split, k, space, n_candidates, trials):
    """The (als, popularity) blend weights chosen on the candidate grid."""
    grid_metrics = _blend_grid(
        components, split, k, space["blend_als"], space["blend_popularity"], n_candidates
    )
    for (a, p), per_mode in grid_metrics.items():
        for mode, metrics in per_mode.items():
            trials.append(_trial("blend", {"als": a, "popularity": p}, mode, metrics, k))
    pop_new = evaluate(components["popularity"], split.truths["never_bought"], k)["ndcg"]
    ok = [pair for pair, pm in grid_metrics.items() if pm["never_bought"]["ndcg"] >= pop_new]
    pool = ok or list(grid_metrics)
    if not ok:
        logger.warning("no blend weights match popularity on never-bought items; using the best")
    return max(
        pool,
        key=lambda pr: (grid_metrics[pr]["all"]["ndcg"], grid_metrics[pr]["never_bought"]["ndcg"]),
    )


def _single_trials(space, params, table, k, trials):
    """Trials of the one-candidate searches, taken from the final metrics table."""
    rows = table.set_index(["model", "mode"])
    single = {
        "popularity": ("popularity", ["all"], params["popularity"]),
        "buy_again": ("buy_again", ["all"], params["buy_again"]),
        "als": ("als", ["never_bought"], params["als"]),
    }
    done = []
    for key, (model, modes, chosen) in single.items():
        if len(space[key]) == 1:
            done += [(model, mode, chosen) for mode in modes]
    if len(space["blend_als"]) * len(space["blend_popularity"]) == 1:
        w = params["blend"]["weights"]
        pair = {"als": w["als"], "popularity": w["popularity"]}
        done += [("blend", "all", pair)]  # never bought: the "blend_new" trials
    for model, mode, chosen in done:
        m = rows.loc[(model, mode)]
        metrics = {name: m[f"{name}@{k}"] for name in ("ndcg", "precision", "recall")}
        trials.append(_trial(model, chosen, mode, metrics, k))


def tune_recommenders(
    transactions,
    as_of,
    *,
    holdout_days: float = 28,
    k: int = 10,
    grid: dict | None = None,
    num_threads: int = 0,
    n_candidates: int = 50,
    max_members: int | None = None,
    random_state: int | None = 0,
    items: pd.DataFrame | None = None,
) -> TuningResult:
    """Search the grid on a validation split and report the chosen parameters.

    Parameters
    ----------
    transactions : DataFrame or Lines
        Canonical transactions, or lines on an engine
        (:class:`~models.recommenders.engine_interactions.EngineLines`).
    as_of : Timestamp or str
        Training cutoff of the final model: validation trains before
        ``as_of - holdout_days`` and evaluates on ``[as_of - holdout_days, as_of)``.
    holdout_days : float
        Validation window length.
    k : int
        List length the metrics are computed at.
    grid : dict, optional
        Overrides of :data:`DEFAULT_GRID` keys.
    num_threads : int
        Threads for ALS fitting (0: all cores); BLAS always uses one.
    n_candidates : int
        Candidates per component for the blend weight search.
    max_members : int, optional
        With more members than this in ``transactions``, validate on a seeded
        random sample of this many members (their lines only): the metrics are
        estimates on that sample (``split["members"]`` says how many). ``None``
        validates on everyone.
    random_state : int or None
        Seed of the member sample.
    items : DataFrame, optional
        The canonical items table (``item_id``, ``category``): with it the
        "new to you" list may weigh category-aware popularity; without it that
        weight is 0.

    Returns
    -------
    TuningResult
    """
    started = time.perf_counter()
    space = copy.deepcopy(DEFAULT_GRID)
    if grid:
        unknown = sorted(set(grid) - set(DEFAULT_GRID))
        if unknown:
            raise ConfigError(f"grid keys {unknown} are not among {sorted(DEFAULT_GRID)}.")
        space.update(copy.deepcopy(grid))
    for key in ("popularity", "buy_again", "als", "blend_als", "blend_popularity", *NEW_GRID):
        if not space[key]:
            raise ConfigError(f"grid[{key!r}] is empty; give at least one candidate.")
    if items is None and any(w > 0 for w in (grid or {}).get("new_category_popularity", [])):
        raise ConfigError(
            "grid['new_category_popularity'] has a weight > 0 but no items table was given; "
            "pass items= (with item_id and category) or give it only the weight 0."
        )
    als_space = [
        {**space["als_common"], "num_threads": num_threads, **p} for p in space["als"]
    ]
    decayed = {"popularity": space["popularity"], "buy_again": space["buy_again"],
               "als": als_space}
    if items is not None:
        decayed["category_popularity"] = space["category_popularity"]
    lines, sampled = _member_sample(as_lines(transactions), max_members, random_state)
    split = validation_split(lines, as_of, holdout_days, half_lives=_half_lives(decayed))
    im, truths = split.interactions, split.truths
    trials: list[dict] = []

    pop, pop_params, _ = _pick("popularity", space["popularity"], im, truths["all"], k, trials)
    ba, ba_params, _ = _pick("buy_again", space["buy_again"], im, truths["all"], k, trials)
    als, als_params, _ = _pick("als", als_space, im, truths["never_bought"], k, trials)

    components = {"buy_again": ba, "als": als, "popularity": pop}
    if len(space["blend_als"]) * len(space["blend_popularity"]) == 1:
        best = (space["blend_als"][0], space["blend_popularity"][0])  # measured in the table
    else:
        best = _best_weights(components, split, k, space, n_candidates, trials)
    weights = {"buy_again": 1.0, "als": float(best[0]), "popularity": float(best[1])}
    categories = None if items is None else item_categories(im, items)
    new_models, new_params, new_weights = tune_new_to_you(
        components, im, truths["never_bought"], k, space, weights, trials, n_candidates,
        item_category=categories,
    )
    blend = BlendRecommender.from_fitted({**components, **new_models}, weights,
                                         new_weights=new_weights)
    params = {
        "popularity": dict(pop_params),
        "buy_again": dict(ba_params),
        "als": dict(als_params),
        "blend": {
            "weights": weights,
            "buy_again": dict(ba_params),
            "als": dict(als_params),
            "popularity": dict(pop_params),
            "new_weights": new_weights,
            **new_params,
        },
    }
    # The plain personal top-frequency (every purchase counts 1): the baseline issue 13's
    # target is set against, measured beside the tuned, time-decayed buy-again.
    top_frequency = make_recommender("buy_again", half_life_days=None).fit(im)
    models = {"popularity": pop, "buy_again": ba, "top_frequency": top_frequency, "als": als,
              "blend": blend}
    table = metrics_table(models, truths, k)
    models.pop("top_frequency")  # a baseline: measured, not served
    _single_trials(space, params, table, k, trials)
    seconds = time.perf_counter() - started
    logger.info("tuned recommenders in %.1fs: blend weights %s", seconds, weights)
    return TuningResult(
        params=params,
        table=table,
        trials=pd.DataFrame.from_records(trials),
        seconds=seconds,
        split={"start": split.start, "end": split.end, "holdout_days": holdout_days,
               "members": im.n_members, "sampled": sampled},
        models=models,
    )


def fit_tuned(
    transactions, as_of, params: dict, *, warm_start=None, warm_iterations: int = 5,
    items: pd.DataFrame | None = None, als_members: int | None = None,
) -> dict:
    """Fit every tuned model on the lines before ``as_of``.

    Parameters
    ----------
    transactions : DataFrame or Lines
        Canonical transactions, or lines on an engine.
    as_of : Timestamp or str
    params : dict
        :attr:`TuningResult.params`.
    warm_start : ALSRecommender, optional
        A fitted ALS with the same parameters (the validation fit,
        ``TuningResult.models["als"]``) whose factors start the final ALS,
        which then runs ``warm_iterations`` sweeps instead of ``iterations``.
    warm_iterations : int
        ALS sweeps of a warm-started fit.
    items : DataFrame, optional
        The canonical items table; needed when ``new_weights`` weigh
        category-aware popularity.
    als_members : int, optional
        With more members than this, ALS's sweeps run on a seeded sample of
        about this many and every member's factors are then solved against the
        sample's item factors (``fit_members`` of :meth:`ALSRecommender.fit`);
        ``None``: the sweeps run on every member.

    Returns
    -------
    dict
        ``interactions`` and the fitted ``popularity``, ``buy_again``,
        ``als`` and ``blend`` (the blend reuses the other three).
    """
    missing = [c for c in COMPONENTS if c not in params]
    if missing:
        raise ConfigError(f"params lack {missing}; pass TuningResult.params.")
    new_weights = params["blend"].get("new_weights")
    decayed = {c: [params[c]] for c in COMPONENTS}
    if new_weights and new_weights.get("category_popularity", 0.0) > 0:
        decayed["category_popularity"] = [params["blend"].get("category_popularity") or {}]
    interactions = as_lines(transactions).interactions(as_of, half_lives=_half_lives(decayed))
    # Every decayed count the fits below ask for came with the pairs: an engine's copy of
    # the lines goes now, before ALS (0.5 GiB of DuckDB's memory at 1M members).
    interactions.release_engine()
    if interactions.n_members == 0:
        raise DataError(f"no member bought before as_of={as_of}.")
    fitted = {}
    for c in COMPONENTS:
        if c == "als":
            als = {**params[c], "iterations": warm_iterations} if warm_start is not None else (
                params[c])
            fitted[c] = make_recommender(c, **als).fit(interactions, init=warm_start,
                                                       fit_members=als_members)
        else:
            fitted[c] = make_recommender(c, **params[c]).fit(interactions)
    components = {c: fitted[c] for c in COMPONENTS}
    if new_weights:  # the "new to you" list's own candidates
        first = make_recommender("first_purchase_popularity",
                                 **(params["blend"].get("first_purchase_popularity") or {}))
        components["first_purchase_popularity"] = fitted["first_purchase_popularity"] = (
            first.fit(interactions))
    if new_weights and new_weights.get("category_popularity", 0.0) > 0:
        if items is None:
            raise ConfigError(
                "params weigh category_popularity in new_weights but no items table was "
                "given; pass items= (with item_id and category)."
            )
        category = make_recommender("category_popularity",
                                    **(params["blend"].get("category_popularity") or {}))
        components["category_popularity"] = fitted["category_popularity"] = category.fit(
            interactions, item_categories(interactions, items))
    fitted["blend"] = BlendRecommender.from_fitted(
        components, params["blend"]["weights"], new_weights=new_weights
    )
    fitted["interactions"] = interactions
    return fitted

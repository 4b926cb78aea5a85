"""Ranking metrics for the recommenders, computed in batch on a time-based holdout.

The evaluation protocol: fit on the lines before a cutoff, then for every
member who bought in the holdout window ``[start, end)`` compare the top ``k``
recommendations with the distinct items that member bought in the window.

Two modes:

``all``
    Every item bought in the window is relevant; purchased items may be
    recommended (a "buy again" list is fine).
``never_bought``
    Only items the member had not bought before the cutoff are relevant, the
    recommender must exclude purchased items, and members who bought nothing
    new are left out (discovery quality).

Metrics per member, averaged over members:

- ``precision@k`` = hits / k,
- ``recall@k`` = hits / relevant items (items unknown at the cutoff count as
  relevant: no model can find them, which is the honest denominator),
- ``ndcg@k`` = DCG / ideal DCG with binary gains and ``1 / log2(rank + 1)``,
- ``coverage@k`` = distinct items recommended to anyone / items in the catalogue
  (the items of the training interactions).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.errors import DataError

from .lines import as_lines

logger = logging.getLogger(__name__)

MODES = ("all", "never_bought")


@dataclass
class HoldoutTruth:
    """What each evaluated member bought in the holdout window.

    Parameters
    ----------
    member_ids : ndarray of str, shape (n_eval,)
        Evaluated members (those who bought in the window).
    member_rows : ndarray of int64, shape (n_eval,)
        Their rows in the training interactions; -1 for members new in the window.
    items : csr_matrix of float32, shape (n_eval, n_items)
        1 for each relevant item column of the training catalogue.
    n_relevant : ndarray of int64, shape (n_eval,)
        Relevant distinct items, including items not in the training catalogue.
    mode : {"all", "never_bought"}
    n_items : int
        Size of the training catalogue.
    """

    member_ids: np.ndarray
    member_rows: np.ndarray
    items: sp.csr_matrix
    n_relevant: np.ndarray
    mode: str
    n_items: int

    @property
    def exclude_purchased(self) -> bool:
        return self.mode == "never_bought"

    def __len__(self) -> int:
        return len(self.member_ids)


def holdout_truth(transactions, interactions, start, end, mode: str = "all") -> HoldoutTruth:
    """Build the ground truth of the window ``[start, end)`` against training interactions.

    Parameters
    ----------
    transactions : DataFrame or Lines
        Canonical transactions (at least ``member_id``, ``item_id``, ``timestamp``),
        or lines on an engine (:class:`~models.recommenders.engine_interactions.EngineLines`).
    interactions : Interactions
        The training interactions (normally built with ``as_of=start``).
    start, end : Timestamp or str
        The holdout window.
    mode : {"all", "never_bought"}
        See the module docstring.

    Returns
    -------
    HoldoutTruth

    Raises
    ------
    DataError
        If ``mode`` is unknown, the window is empty or nobody qualifies.
    """
    if mode not in MODES:
        raise DataError(f"mode={mode!r} is not one of {MODES}.")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if not start < end:
        raise DataError(f"holdout start={start} should be before end={end}.")
    m_ids, i_ids = as_lines(transactions).window_pairs(start, end)
    if len(m_ids) == 0:
        raise DataError(f"no transaction in the holdout window [{start}, {end}).")
    rows = interactions.member_rows(m_ids)
    cols = interactions.item_columns(i_ids)
    if mode == "never_bought":
        bought = interactions.purchased()
        known = (rows >= 0) & (cols >= 0)
        already = np.zeros(len(rows), dtype=bool)
        if known.any():
            already[known] = np.asarray(bought[rows[known], cols[known]]).ravel() > 0
        keep = ~already
        m_ids, rows, cols = m_ids[keep], rows[keep], cols[keep]
    if len(m_ids) == 0:  # only never_bought can empty a window that has lines
        raise DataError(
            f"no member bought an item new to them in the validation window [{start}, "
            f"{end}): there is nothing to validate 'new to you' recommendations on "
            "(few items, members who keep buying the same ones, and no newcomers)")
    eval_ids, eval_pos = np.unique(m_ids, return_inverse=True)
    n_relevant = np.bincount(eval_pos, minlength=len(eval_ids)).astype(np.int64)
    in_cat = cols >= 0
    truth = sp.csr_matrix(
        (np.ones(int(in_cat.sum()), dtype=np.float32), (eval_pos[in_cat], cols[in_cat])),
        shape=(len(eval_ids), interactions.n_items),
    )
    eval_rows = interactions.member_rows(eval_ids)
    logger.info(
        "holdout [%s, %s) mode=%s: %d members, %d relevant pairs (%d outside the catalogue)",
        start, end, mode, len(eval_ids), len(m_ids), int((~in_cat).sum()),
    )
    return HoldoutTruth(eval_ids, eval_rows, truth, n_relevant, mode, interactions.n_items)


def hit_matrix(recommended: np.ndarray, truth_items: sp.csr_matrix) -> np.ndarray:
    """Boolean (n, k): whether each recommended item column is relevant for its row.

    Slots holding -1 are never hits.
    """
    recommended = np.asarray(recommended, dtype=np.int64)
    n, n_cols = truth_items.shape
    if recommended.shape[0] != n:
        raise DataError(
            f"recommended has {recommended.shape[0]} rows but the truth has {n}; "
            "recommend for truth.member_rows."
        )
    coo = truth_items.tocoo()
    truth_keys = np.sort(coo.row.astype(np.int64) * n_cols + coo.col)
    keys = np.arange(n, dtype=np.int64)[:, None] * n_cols + recommended
    # A binary search in the sorted truth, not np.isin (which sorts the n x k keys too:
    # 5 of the 26 s the 1M train spent measuring recommenders, py-spy).
    at = np.minimum(np.searchsorted(truth_keys, keys), max(len(truth_keys) - 1, 0))
    hits = truth_keys[at] == keys if len(truth_keys) else np.zeros(keys.shape, dtype=bool)
    hits &= recommended >= 0
    return hits


def ranking_metrics(
    recommended: np.ndarray,
    truth_items: sp.csr_matrix,
    k: int = 10,
    *,
    n_relevant: np.ndarray | None = None,
    n_items: int | None = None,
    per_member: bool = False,
) -> dict[str, float]:
    """Precision, recall, NDCG and catalogue coverage at ``k``, averaged over rows.

    Parameters
    ----------
    recommended : ndarray of int, shape (n, >= k)
        Recommended item columns per row, best first; -1 for empty slots.
    truth_items : csr_matrix, shape (n, n_items)
        Nonzero for the relevant items of each row.
    k : int
        Cut-off; only the first ``k`` columns of ``recommended`` are used.
    n_relevant : ndarray of int, shape (n,), optional
        Relevant items per row when some are outside ``truth_items`` (unknown
        items); defaults to the row counts of ``truth_items``.
    n_items : int, optional
        Catalogue size for coverage; defaults to ``truth_items.shape[1]``.
    per_member : bool
        Also return ``precision_rows`` and ``ndcg_rows``, the values of the
        members averaged over (arrays, in row order), for paired comparisons of
        two models on the same truth (:func:`metrics_table`).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``ndcg``, ``coverage`` and ``members``
        (rows with at least one relevant item, the ones averaged over), and the
        standard errors of the two means, ``precision_se`` and ``ndcg_se`` (the
        members' standard deviation over the square root of their number; NaN
        under two members).

    >>> truth = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 1, 0, 0]], dtype=np.float32))
    >>> m = ranking_metrics(np.array([[0, 1], [3, 1]]), truth, k=2)
    >>> round(m["precision"], 3), round(m["recall"], 3), m["coverage"]
    (0.5, 0.75, 0.75)
    """
    recommended = np.asarray(recommended)
    if recommended.ndim != 2 or recommended.shape[1] < k:
        raise DataError(f"recommended has shape {recommended.shape}; expected (n, >= k={k}).")
    truth_items = sp.csr_matrix(truth_items)
    truth_items.eliminate_zeros()
    recommended = recommended[:, :k]
    if n_relevant is None:
        n_relevant = np.diff(truth_items.indptr)
    n_relevant = np.asarray(n_relevant, dtype=np.int64)
    n_items = truth_items.shape[1] if n_items is None else n_items
    hits = hit_matrix(recommended, truth_items)
    valid = n_relevant > 0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])
    n_hits = hits.sum(axis=1)
    precision = n_hits / k
    recall = np.divide(n_hits, n_relevant, out=np.zeros(len(n_hits)), where=valid)
    dcg = hits @ discounts
    idcg = ideal[np.minimum(n_relevant, k)]
    ndcg = np.divide(dcg, idcg, out=np.zeros(len(dcg)), where=idcg > 0)
    shown = np.unique(recommended[recommended >= 0])
    n_valid = int(valid.sum())

    def mean(x):
        return float(x[valid].mean()) if n_valid else 0.0

    def standard_error(x):  # of the mean over members
        return float(x[valid].std(ddof=1) / np.sqrt(n_valid)) if n_valid > 1 else float("nan")

    found = {
        "precision": mean(precision),
        "recall": mean(recall),
        "ndcg": mean(ndcg),
        "coverage": float(len(shown) / n_items) if n_items else 0.0,
        "members": n_valid,
        "precision_se": standard_error(precision),
        "ndcg_se": standard_error(ndcg),
    }
    if per_member:
        found |= {"precision_rows": precision[valid], "ndcg_rows": ndcg[valid]}
    return found


def paired_standard_error(values: np.ndarray, reference: np.ndarray) -> float:
    """The standard error of ``mean(reference) - mean(values)`` over the same members (the
    standard deviation of their differences over the square root of their number; NaN
    under two members): how far one model's margin over another could move by the
    members measured."""
    if len(values) != len(reference):
        raise DataError(f"{len(values)} members against {len(reference)}; pair the same ones.")
    if len(values) < 2:
        return float("nan")
    return float(np.std(reference - values, ddof=1) / np.sqrt(len(values)))


def evaluate(model, truth: HoldoutTruth, k: int = 10,
             per_member: bool = False) -> dict[str, float]:
    """Metrics of a fitted recommender on a holdout truth (:func:`ranking_metrics`).

    The model must have been fitted on the same interactions the truth was
    built against; in ``never_bought`` mode purchased items are excluded.
    """
    if model.n_items != truth.n_items:
        raise DataError(
            f"the model knows {model.n_items} items but the truth {truth.n_items}; "
            "fit the model on the interactions the truth was built from."
        )
    rows = model.member_rows(truth.member_ids)
    recommended, _ = model.recommend(rows, k=k, exclude_purchased=truth.exclude_purchased)
    return ranking_metrics(
        recommended, truth.items, k, n_relevant=truth.n_relevant, n_items=truth.n_items,
        per_member=per_member,
    )


def metrics_table(models: dict, truths: dict[str, HoldoutTruth], k: int = 10,
                  reference: str = "blend") -> pd.DataFrame:
    """Evaluate several fitted models on several truths.

    Parameters
    ----------
    models : dict of str to Recommender
    truths : dict of str to HoldoutTruth
        Usually ``{"all": ..., "never_bought": ...}``.
    k : int

    Returns
    -------
    DataFrame
        One row per (model, mode) with ``precision@k``, ``recall@k``,
        ``ndcg@k``, ``coverage@k``, ``members``, ``precision@k_se`` and
        ``ndcg@k_se`` (standard errors, :func:`ranking_metrics`), and, when
        ``reference`` is one of ``models``, ``precision@k_margin_se`` and
        ``ndcg@k_margin_se``: the standard error of the reference's margin over
        this model on the same members (:func:`paired_standard_error`; NaN in the
        reference's own rows).
    """
    records = []
    for mode, truth in truths.items():
        measured = {name: evaluate(model, truth, k, per_member=reference in models)
                    for name, model in models.items()}
        for name, m in measured.items():
            margins = {}
            if reference in measured:
                ref = measured[reference]
                margins = {f"{metric}@{k}_margin_se": (
                    float("nan") if name == reference
                    else paired_standard_error(m[f"{metric}_rows"], ref[f"{metric}_rows"]))
                    for metric in ("precision", "ndcg")}
            records.append({
                "model": name,
                "mode": mode,
                f"precision@{k}": m["precision"],
                f"recall@{k}": m["recall"],
                f"ndcg@{k}": m["ndcg"],
                f"coverage@{k}": m["coverage"],
                "members": m["members"],
                f"precision@{k}_se": m["precision_se"],
                f"ndcg@{k}_se": m["ndcg_se"],
                **margins,
            })
    return pd.DataFrame.from_records(records)

"""Two versions' validation metrics side by side, each change judged against its noise.

Used by the report ("Compared with the previous version") and by ``offers compare``.
Each version is measured on its own validation members; a metric's standard error
(``se`` beside it in ``metrics.json``: :func:`models.metrics.standard_errors`, or the
analytic one of :func:`models.recommenders.metrics.ranking_metrics`) gives the noise
of a change, and a change no larger is "within noise".
"""

from __future__ import annotations

import numpy as np

#: ``(section, key, label, higher is better)`` of the metrics compared.
COMPARED = (
    ("recommend", "blend_ndcg@10", "blend NDCG@10 (all items)", True),
    ("recommend", "blend_ndcg@10_new", "blend NDCG@10 (never bought)", True),
    ("recommend", "blend_precision@10", "blend precision@10", True),
    ("churn", "roc_auc", "churn ROC-AUC", True),
    ("churn", "brier", "churn Brier score", False),
    ("value", "spearman", "spend Spearman", True),
    ("value", "mae", "spend MAE", False),
    ("offer_response", "roc_auc", "offer response ROC-AUC", True),
)

#: The column of :func:`comparison_rows` holding the noise of a change.
NOISE = "noise (2 s.e.)"


def change_noise(se_new: float | None, se_old: float | None) -> float | None:
    """Twice the standard error of the difference of two metrics measured on different
    members. One missing (a version trained before they were recorded) is taken as equal
    to the other; None when neither version has one."""
    se_new = se_old if se_new is None else se_new
    se_old = se_new if se_old is None else se_old
    if se_new is None:
        return None
    return 2 * float(np.hypot(se_new, se_old))


def change_verdict(change: float | None, noise: float | None, higher_is_better: bool) -> str:
    """"better", "worse", "within noise" or "" (no change, or one side missing)."""
    if not change:
        return ""
    if noise is not None and abs(change) <= noise:
        return "within noise"
    return "better" if (change > 0) == higher_is_better else "worse"


def comparison_rows(new: dict, old: dict) -> list[dict]:
    """One row per :data:`COMPARED` metric either version has: ``metric``, ``previous``,
    ``this version``, ``change``, :data:`NOISE` and the verdict (column ``""``), from two
    versions' ``metrics`` sections (``new`` is judged against ``old``)."""
    rows = []
    for section, key, label, higher in COMPARED:
        new_v = new.get(section, {}).get(key)
        old_v = old.get(section, {}).get(key)
        if new_v is None and old_v is None:
            continue
        change = None if new_v is None or old_v is None else new_v - old_v
        noise = change_noise(new.get(section, {}).get("se", {}).get(key),
                             old.get(section, {}).get("se", {}).get(key))
        rows.append({"metric": label, "previous": old_v, "this version": new_v,
                     "change": change, NOISE: noise, "": change_verdict(change, noise, higher)})
    return rows

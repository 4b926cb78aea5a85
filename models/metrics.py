"""Metrics for the churn and value models: thin, warning-free wrappers over sklearn and scipy.

Classification (churn risk ``p`` against the binary outcome ``y``):

- ``roc_auc``: area under the ROC curve, ties counted half (the Mann-Whitney
  statistic from average ranks: ``sklearn.metrics.roc_auc_score``'s value);
- ``pr_auc``: average precision, the step-wise area under the precision-recall
  curve with one step per distinct score (``sklearn.metrics.average_precision_score``'s
  value);
- ``brier``: mean squared error of the probabilities (``brier_score_loss``);
- ``lift_top_decile``: positive rate among the 10% highest scores divided by
  the overall positive rate (1.0 = no better than random).

Regression (predicted spend against actual spend):

- ``mae``: mean absolute error;
- ``spearman``: Spearman rank correlation (``scipy.stats.spearmanr``);
- ``top_decile_capture``: share of the total actual value that the 10% of rows
  with the highest predictions hold (0.1 = random, 1.0 = all of it).

Uncertainty: ``standard_errors`` resamples the rows (a seeded bootstrap) and
gives each metric's standard deviation over the resamples, so two versions'
figures can be told apart from the noise of the members each was measured on;
``paired_standard_errors`` does the same for a model's margin over its baseline,
both scored on each resample.

"Top decile" always means the first ``ceil(n / 10)`` rows when sorted by score,
highest first, ties kept in input order (a stable sort), so results are
deterministic. Metrics that are undefined on the input (one class only, a
constant input, no rows) return NaN instead of warning.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from features.errors import DataError


def _check_pair(y_true, y_score, name: str = "y_score") -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_score = np.asarray(y_score, dtype=np.float64).ravel()
    if y_true.shape != y_score.shape:
        raise DataError(
            f"y_true has {y_true.shape[0]} values but {name} has {y_score.shape[0]}; "
            "pass one score per outcome."
        )
    if np.isnan(y_true).any() or np.isnan(y_score).any():
        raise DataError(f"y_true and {name} must not contain NaN.")
    return y_true, y_score


def _check_binary(y_true: np.ndarray) -> np.ndarray:
    if not np.isin(y_true, (0.0, 1.0)).all():
        bad = np.unique(y_true[~np.isin(y_true, (0.0, 1.0))])[:5]
        raise DataError(f"y_true must be 0/1 (or bool); found {bad.tolist()}.")
    return y_true


def _two_classes(y_true: np.ndarray) -> bool:
    return y_true.size > 0 and 0.0 < y_true.mean() < 1.0


def top_k(n: int, fraction: float = 0.1) -> int:
    """Number of rows in the top ``fraction`` of ``n`` rows: ``ceil(n * fraction)``."""
    return int(math.ceil(n * fraction - 1e-9))


def _order(y_score: np.ndarray) -> np.ndarray:
    """Row indices sorted by score, highest first, ties in input order."""
    return np.argsort(-y_score, kind="stable")


def roc_auc(y_true, y_score) -> float:
    """ROC-AUC of ``y_score`` for the binary ``y_true``; NaN with a single class.

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y_true, y_score = _check_pair(y_true, y_score)
    if not _two_classes(_check_binary(y_true)):
        return float("nan")
    # Computed here rather than by sklearn, whose input checks cost 20 times the sum at a few
    # thousand rows, and the bootstraps (:func:`standard_errors`) call it hundreds of times.
    positives = y_true == 1.0
    n_pos = float(positives.sum())
    n_neg = y_true.size - n_pos
    ranks = stats.rankdata(y_score)  # ties share their average rank: each counts half
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y_true, y_score) -> float:
    """Average precision (area under the precision-recall curve); NaN without positives."""
    y_true, y_score = _check_pair(y_true, y_score)
    if not _two_classes(_check_binary(y_true)):
        return float("nan")
    # As sklearn's average_precision_score: sum over the distinct scores, highest first, of
    # the recall gained there times the precision at and above it (computed here, as roc_auc).
    order = np.argsort(-y_score, kind="stable")
    ranked = y_score[order]
    last = np.append(np.flatnonzero(ranked[1:] != ranked[:-1]), y_true.size - 1)
    hits = np.cumsum(y_true[order])[last]
    recall = hits / hits[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * hits / (last + 1)))


def brier(y_true, y_prob) -> float:
    """Brier score: mean of ``(y_prob - y_true) ** 2``; lower is better."""
    y_true, y_prob = _check_pair(y_true, y_prob, "y_prob")
    _check_binary(y_true)
    if y_true.size == 0:
        return float("nan")
    if (y_prob < 0).any() or (y_prob > 1).any():
        raise DataError("y_prob must be probabilities in [0, 1].")
    return float(brier_score_loss(y_true, y_prob))


def lift_top_decile(y_true, y_score, fraction: float = 0.1) -> float:
    """Positive rate in the top ``fraction`` of scores over the overall positive rate.

    >>> lift_top_decile([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], [9, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    5.0
    """
    y_true, y_score = _check_pair(y_true, y_score)
    _check_binary(y_true)
    if y_true.size == 0 or y_true.sum() == 0:
        return float("nan")
    top = _order(y_score)[: top_k(y_true.size, fraction)]
    return float(y_true[top].mean() / y_true.mean())


def lift_by_decile(y_true, y_score, n_bins: int = 10) -> pd.DataFrame:
    """Lift table: rows sorted by score (highest first) and cut into ``n_bins`` equal groups.

    Returns
    -------
    pandas.DataFrame
        One row per group, ``decile`` 1 (highest scores) to ``n_bins``, with
        ``n``, ``positives``, ``rate`` (positive rate), ``mean_score``, ``lift``
        (rate over the overall rate) and ``cumulative_capture`` (share of all
        positives in this and the higher groups).
    """
    y_true, y_score = _check_pair(y_true, y_score)
    _check_binary(y_true)
    order = _order(y_score)
    groups = np.array_split(order, n_bins)
    overall = y_true.mean() if y_true.size else float("nan")
    total = y_true.sum()
    rows = []
    captured = 0.0
    for i, idx in enumerate(groups, start=1):
        pos = float(y_true[idx].sum())
        captured += pos
        rate = pos / len(idx) if len(idx) else float("nan")
        rows.append({
            "decile": i,
            "n": len(idx),
            "positives": int(pos),
            "rate": rate,
            "mean_score": float(y_score[idx].mean()) if len(idx) else float("nan"),
            "lift": rate / overall if overall > 0 else float("nan"),
            "cumulative_capture": captured / total if total > 0 else float("nan"),
        })
    return pd.DataFrame(rows)


def calibration_table(y_true, y_prob, n_bins: int = 10) -> pd.DataFrame:
    """Reliability-curve data: mean predicted vs observed rate per quantile bin.

    Wraps ``sklearn.calibration.calibration_curve(strategy="quantile")``.

    Returns
    -------
    pandas.DataFrame
        Columns ``mean_predicted`` and ``observed_rate``, one row per non-empty bin.
    """
    y_true, y_prob = _check_pair(y_true, y_prob, "y_prob")
    if not _two_classes(_check_binary(y_true)):
        return pd.DataFrame({"mean_predicted": [], "observed_rate": []})
    observed, predicted = calibration_curve(y_true, y_prob, n_bins=n_bins, strategy="quantile")
    return pd.DataFrame({"mean_predicted": predicted, "observed_rate": observed})


def classification_metrics(y_true, y_prob) -> dict[str, float]:
    """``roc_auc``, ``pr_auc``, ``brier``, ``lift_top_decile`` and the ``base_rate``."""
    y_true, y_prob = _check_pair(y_true, y_prob, "y_prob")
    return {
        "roc_auc": roc_auc(y_true, y_prob),
        "pr_auc": pr_auc(y_true, y_prob),
        "brier": brier(y_true, y_prob),
        "lift_top_decile": lift_top_decile(y_true, y_prob),
        "base_rate": float(y_true.mean()) if y_true.size else float("nan"),
    }


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    y_true, y_pred = _check_pair(y_true, y_pred, "y_pred")
    if y_true.size == 0:
        return float("nan")
    return float(np.abs(y_true - y_pred).mean())


def spearman(y_true, y_pred) -> float:
    """Spearman rank correlation; NaN when either input is constant.

    >>> round(spearman([1, 2, 3, 4], [10, 20, 40, 30]), 6)
    0.8
    """
    y_true, y_pred = _check_pair(y_true, y_pred, "y_pred")
    if y_true.size < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        return float("nan")
    return float(stats.spearmanr(y_true, y_pred).statistic)


def top_decile_capture(y_true, y_pred, fraction: float = 0.1) -> float:
    """Share of the total of ``y_true`` held by the top ``fraction`` of rows by ``y_pred``.

    >>> top_decile_capture([5, 1, 1, 1, 1, 1, 1, 1, 1, 2], [9, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    0.3333333333333333
    """
    y_true, y_pred = _check_pair(y_true, y_pred, "y_pred")
    total = y_true.sum()
    if y_true.size == 0 or total == 0:
        return float("nan")
    top = _order(y_pred)[: top_k(y_true.size, fraction)]
    return float(y_true[top].sum() / total)


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """``mae``, ``spearman``, ``top_decile_capture`` and the means of both inputs."""
    y_true, y_pred = _check_pair(y_true, y_pred, "y_pred")
    return {
        "mae": mae(y_true, y_pred),
        "spearman": spearman(y_true, y_pred),
        "top_decile_capture": top_decile_capture(y_true, y_pred),
        "mean_actual": float(y_true.mean()) if y_true.size else float("nan"),
        "mean_predicted": float(y_pred.mean()) if y_pred.size else float("nan"),
    }


#: Resamples behind :func:`standard_errors` and :func:`paired_standard_errors`: the standard
#: error itself comes within about 7% at 100 (1 / sqrt(2 x 100)), enough to tell a change
#: from noise, for about two CPU seconds of a Complete Journey training (the churn, value
#: and response steps' standard errors and margins together).
BOOTSTRAP_RESAMPLES = 100


#: Rows a resample draws at most: above it each resample is ``BOOTSTRAP_ROWS`` rows and
#: the spread is scaled by ``sqrt(BOOTSTRAP_ROWS / rows)`` (the m-out-of-n bootstrap, for
#: metrics whose error falls as one over the root of the rows: means, AUCs, rank
#: correlations), so the cost stays flat on a large validation sample.
BOOTSTRAP_ROWS = 20_000


def standard_errors(y_true, y_score, metrics: dict, n: int = BOOTSTRAP_RESAMPLES,
                    seed: int = 0, max_rows: int = BOOTSTRAP_ROWS) -> dict[str, float]:
    """The standard error of each metric of ``(y_true, y_score)``, by bootstrap.

    Parameters
    ----------
    y_true, y_score : array-like of shape (n_rows,)
    metrics : dict of str to callable
        ``name -> metric(y_true, y_score)``, e.g. ``{"roc_auc": roc_auc}``.
    n : int
        Resamples of the rows (with replacement, the same ones for every metric).
    seed : int
    max_rows : int
        Rows per resample at most (:data:`BOOTSTRAP_ROWS`).

    Returns
    -------
    dict of str to float
        The standard deviation of each metric over the resamples (resamples where it
        is undefined, e.g. one class only, left out); NaN under two rows.

    >>> y = np.tile([0, 1], 200)  # every resample's Brier score of 0.5 is 0.25
    >>> standard_errors(y, np.full(400, 0.5), {"brier": brier})["brier"]
    0.0
    """
    y_true, y_score = _check_pair(y_true, y_score)
    return _bootstrap(y_true.size, {
        name: (lambda rows, m=metric: m(y_true[rows], y_score[rows]))
        for name, metric in metrics.items()}, n, seed, max_rows)


def paired_standard_errors(y_true, y_score, y_baseline, metrics: dict,
                           n: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                           max_rows: int = BOOTSTRAP_ROWS) -> dict[str, float]:
    """The standard error of each metric's difference ``model - baseline`` on the same rows
    (both scored on every resample): how far a model's margin over its baseline, or its
    loss to it, could move by the rows it was measured on. As :func:`standard_errors`."""
    y_true, y_score = _check_pair(y_true, y_score)
    _, y_baseline = _check_pair(y_true, y_baseline, "y_baseline")
    return _bootstrap(y_true.size, {
        name: (lambda rows, m=metric: m(y_true[rows], y_score[rows])
               - m(y_true[rows], y_baseline[rows]))
        for name, metric in metrics.items()}, n, seed, max_rows)


def _bootstrap(size: int, statistics: dict, n: int, seed: int, max_rows: int) -> dict:
    """The standard deviation of each ``statistic(rows)`` over ``n`` resamples of ``size``
    rows (at most ``max_rows`` a resample, the spread scaled to ``size``)."""
    if size < 2:
        return {name: float("nan") for name in statistics}
    rng = np.random.default_rng(seed)
    drawn = min(size, max_rows)
    scale = math.sqrt(drawn / size)
    draws = {name: [] for name in statistics}
    for _ in range(n):
        rows = rng.integers(0, size, drawn)
        for name, statistic in statistics.items():
            draws[name].append(statistic(rows))
    return {name: scale * float(np.nanstd(values)) if np.isfinite(values).any()
            else float("nan") for name, values in draws.items()}

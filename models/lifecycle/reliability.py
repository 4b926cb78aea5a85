"""Reliability of a spend prediction: mean predicted against mean actual, by prediction decile.

The value model's counterpart of the churn model's calibration curve: a
well-calibrated expected spend has each decile's mean prediction close to the
mean spend its members went on to have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def spend_reliability(predictions: dict[str, np.ndarray], actual, bins: int = 10) -> pd.DataFrame:
    """``source``, ``bin``, ``mean_predicted``, ``mean_actual``, ``members`` per quantile bin.

    Parameters
    ----------
    predictions : dict of name to array
        Each source's predicted spend of the same members.
    actual : array-like
        Their realised spend.
    bins : int
        At most this many bins of equal size by each source's prediction (ties share a bin).
    """
    actual = np.asarray(actual, dtype="float64")
    parts = []
    for source, p in predictions.items():
        p = np.asarray(p, dtype="float64")
        if len(p) != len(actual):
            raise ValueError(f"{source}: {len(p)} predictions for {len(actual)} members.")
        edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1))) if len(p) else [0.0]
        which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
        frame = pd.DataFrame({"bin": which, "p": p, "y": actual})
        parts.append(frame.groupby("bin").agg(mean_predicted=("p", "mean"),
                                              mean_actual=("y", "mean"),
                                              members=("y", "size")).reset_index()
                     .assign(source=source))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out[["source", "bin", "mean_predicted", "mean_actual", "members"]]


#: The value model's two forecasts as the tables name them (``clv_by_recency``,
#: ``value_calibration``, the step "horizons"' sums).
CLV_SOURCE = "mean forecast (CLV)"
MEDIAN_SOURCE = "median forecast"
#: Members who must have spent in a group before its predicted-over-actual ratio means
#: anything. A ratio over a group where one or two members spent a few cents is a division
#: by almost nothing: on an 8-month shop export, 5 members last seen 154-308 days before
#: the cutoff spent 1.42 between them and the CLV's ratio there was 1,029.
MIN_SPENDERS = 10


def spend_by_recency(predictions: dict[str, np.ndarray], actual, recency_days,
                     horizon_days: int, min_spenders: int = MIN_SPENDERS) -> pd.DataFrame:
    """Predicted against actual total spend of the members grouped by how long ago they bought.

    Sums over groups are what a CLV is used for (a segment's value, a budget), and the
    groups that matter most for it are the lapsed members: a median forecast is 0 for every
    member more likely than not to buy nothing, though together they spend (the value
    model's mean forecast exists for this; :mod:`models.lifecycle.value`).

    Parameters
    ----------
    predictions : dict of name to array
        Each source's predicted spend over ``horizon_days`` of the same members.
    actual : array-like
        Their realised spend over those days.
    recency_days : array-like
        Days from each member's last purchase to the cutoff.
    horizon_days : int
        ``H``: the bands are ``<= H``, ``H-2H``, ``2H-4H`` and ``> 4H`` days ago.
    min_spenders : int
        A band's ratio is NaN (not judged) where fewer of its members spent anything
        (:data:`MIN_SPENDERS`); its totals are still given.

    Returns
    -------
    DataFrame
        ``source``, ``last_purchase`` (the band), ``members``, ``spenders`` (members who
        spent), ``predicted``, ``actual`` (totals) and ``ratio`` (predicted over actual;
        NaN where fewer than ``min_spenders`` members spent).
    """
    actual = np.asarray(actual, dtype="float64")
    recency = np.asarray(recency_days, dtype="float64")
    h = float(horizon_days)
    edges = [-np.inf, h, 2 * h, 4 * h, np.inf]
    names = recency_bands(h)
    band = np.clip(np.searchsorted(edges, np.nan_to_num(recency, nan=np.inf), side="left") - 1,
                   0, 3)
    rows = []
    for source, p in predictions.items():
        p = np.asarray(p, dtype="float64")
        if len(p) != len(actual) or len(recency) != len(actual):
            raise ValueError(f"{source}: {len(p)} predictions and {len(recency)} recencies "
                             f"for {len(actual)} members.")
        for k, name in enumerate(names):
            rows_k = band == k
            if not rows_k.any():
                continue
            spent = float(actual[rows_k].sum())
            predicted = float(p[rows_k].sum())
            spenders = int((actual[rows_k] > 0).sum())
            judged = spent > 0 and spenders >= min_spenders
            rows.append({"source": source, "last_purchase": name, "members": int(rows_k.sum()),
                         "spenders": spenders, "predicted": predicted, "actual": spent,
                         "ratio": predicted / spent if judged else float("nan")})
    return pd.DataFrame(rows, columns=["source", "last_purchase", "members", "spenders",
                                       "predicted", "actual", "ratio"])


def recency_bands(horizon_days: float) -> list[str]:
    """The names of :func:`spend_by_recency`'s bands, nearest first.

    >>> recency_bands(28)
    ['<= 28 days ago', '28-56 days ago', '56-112 days ago', '> 112 days ago']
    """
    h = float(horizon_days)
    return [f"<= {h:g} days ago", f"{h:g}-{2 * h:g} days ago", f"{2 * h:g}-{4 * h:g} days ago",
            f"> {4 * h:g} days ago"]


def spend_sums(groups: pd.DataFrame, min_spenders: int = MIN_SPENDERS) -> dict:
    """``{source: {"total_ratio": r, "by_last_purchase": {band: r}, "not_judged": [band]}}``
    of a :func:`spend_by_recency` table: each source's predicted over actual spend in all
    and per band. Where fewer than ``min_spenders`` members spent (the table's NaN ratios)
    the total is None, and a band is left out of ``by_last_purchase`` and named in
    ``not_judged``.

    >>> table = spend_by_recency({"mean": np.array([2.0, 1.0])}, [1.0, 1.0], [3, 40], 28,
    ...                          min_spenders=1)
    >>> spend_sums(table, min_spenders=1)["mean"]["total_ratio"]
    1.5
    """
    out = {}
    for source, rows in groups.groupby("source", sort=False):
        spent = float(rows["actual"].sum())
        judged = spent > 0 and int(rows["spenders"].sum()) >= min_spenders
        out[source] = {
            "total_ratio": float(rows["predicted"].sum()) / spent if judged else None,
            "by_last_purchase": {band: float(r) for band, r in
                                 zip(rows["last_purchase"], rows["ratio"]) if np.isfinite(r)},
            "not_judged": [band for band, r in zip(rows["last_purchase"], rows["ratio"])
                           if not np.isfinite(r)]}
    return out

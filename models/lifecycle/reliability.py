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

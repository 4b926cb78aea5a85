"""Off-policy estimators of a new policy's value from logged decisions with propensities.

For logged decision ``i`` the log holds the reward ``r`` of the action shown,
the probability ``p`` with which it was shown, and the new policy's
probability ``pi`` of showing that same action; ``w = pi / p``. With a model
``q`` of the reward (the direct method), ``q_logged`` is its prediction for the
logged action and ``q_target`` its expectation under the new policy.

- IPS (inverse propensity scoring): ``mean(w r)``, unbiased when ``p > 0``
  wherever ``pi > 0`` (overlap);
- SNIPS (self-normalised IPS): ``sum(w r) / sum(w)``, a little bias, less variance;
- DR (doubly robust): ``mean(q_target + w (r - q_logged))``, unbiased if either
  the propensities or the reward model are right.

Intervals are normal (mean +- z standard errors of the per-decision terms) or
a percentile bootstrap over decisions.

Imports: numpy and the standard library only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from features.errors import DataError

METHODS = ("ips", "snips", "dr")
INTERVALS = ("normal", "bootstrap")


@dataclass(frozen=True)
class Estimate:
    method: str
    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def effective_sample_size(w: np.ndarray) -> float:
    """Kish's effective sample size of importance weights ``w``: (sum w)^2 / sum w^2."""
    w = np.asarray(w, dtype=float)
    total = float(np.sum(w**2))
    return float(np.sum(w) ** 2 / total) if total > 0 else 0.0


def estimate(reward, propensity, target, q_logged=None, q_target=None, *,
             interval: str = "normal", level: float = 0.95, n_boot: int = 1000,
             seed: int = 0) -> list[Estimate]:
    """IPS, SNIPS and (given ``q_logged`` and ``q_target``) DR, each with its interval.

    Raises
    ------
    DataError
        Without decisions, with a propensity that is not in (0, 1] (a log
        without propensities), or an unknown ``interval``.
    """
    r = np.asarray(reward, dtype=float)
    p = np.asarray(propensity, dtype=float)
    pi = np.asarray(target, dtype=float)
    if len(r) == 0:
        raise DataError("no logged decisions to replay: the log has no decision with an offer "
                        "shown (control-group and suppressed decisions carry no reward).")
    if not (len(p) == len(r) == len(pi)):
        raise DataError("reward, propensity and target probability must have one entry per "
                        "decision.")
    if not np.all(np.isfinite(p) & (p > 0) & (p <= 1)):
        raise DataError("the log has decisions without a propensity in (0, 1]: replay needs "
                        "the probability each offer was shown (log decisions with the engine's "
                        "decision log, `offers events export --decisions`).")
    if interval not in INTERVALS:
        raise DataError(f"unknown interval {interval!r}; use {' or '.join(INTERVALS)}.")
    w = pi / p
    terms = {"ips": w * r}
    if q_logged is not None and q_target is not None:
        terms["dr"] = np.asarray(q_target, float) + w * (r - np.asarray(q_logged, float))
    z = NormalDist().inv_cdf(0.5 + level / 2)
    n = len(r)
    out = []
    boot = None
    if interval == "bootstrap":
        boot = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    for method in METHODS:
        if method == "snips":
            value = float(np.sum(w * r) / np.sum(w)) if np.sum(w) > 0 else 0.0
            if boot is not None:
                sw = np.sum(w[boot], axis=1)
                stats = np.where(sw > 0, np.sum((w * r)[boot], axis=1) / np.where(sw > 0, sw, 1),
                                 0.0)
                low, high = _percentiles(stats, level)
            else:  # delta method: the terms w (r - value), normalised by mean(w)
                mw = float(np.mean(w)) or 1.0
                se = float(np.std(w * (r - value), ddof=1) / mw / np.sqrt(n)) if n > 1 else 0.0
                low, high = value - z * se, value + z * se
        elif method in terms:
            t = terms[method]
            value = float(np.mean(t))
            if boot is not None:
                low, high = _percentiles(np.mean(t[boot], axis=1), level)
            else:
                se = float(np.std(t, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
                low, high = value - z * se, value + z * se
        else:
            continue
        out.append(Estimate(method, value, float(low), float(high), n))
    return out


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    return float(np.percentile(stats, tail)), float(np.percentile(stats, 100 - tail))

"""Qini curves and the area under them: how well a score ranks members by uplift.

Pure numpy, for a randomised experiment: ``y`` is the outcome of each member
(spend, or 1/0 for retained), ``treated`` whether the member was sent the
offer (else held out), ``score`` the ranking to judge (higher = target first).

Members are targeted in order of decreasing score. After the top ``k``, with
``n_t(k)``/``n_c(k)`` treated/control members and ``Y_t(k)``/``Y_c(k)`` their
summed outcomes, the Qini value is

    q(k) = Y_t(k) - Y_c(k) * n_t(k) / n_c(k)     (0 while n_c(k) = 0)

the incremental outcome of the treated among the top ``k``. :func:`qini_curve`
reports ``q(k) / n_t(N)``: at a fraction 1 it is the average treatment effect
(mean treated outcome minus mean control outcome), so a curve reads as "the
incremental outcome per member of the population when the top x share is
targeted". Members with equal scores are targeted together (the curve has a
point only where the score changes).

Random targeting is the straight line from 0 to the value at 1; the perfect
ranking puts treated members with high outcomes first and control members
with high outcomes last (score ``y`` for treated, ``-y`` for control, as in
scikit-uplift). :func:`qini_auc` integrates a curve over the fraction
targeted; :func:`normalized_auuc` is (model - random) / (perfect - random):
1 for the perfect ranking, 0 for random, negative when worse than random.

>>> y = np.array([1.0, 0.0, 0.0, 1.0]); t = np.array([1, 1, 0, 0], bool)
>>> fraction, gain = qini_curve(y, t, np.array([4.0, 3.0, 2.0, 1.0]))
>>> gain.tolist()
[0.0, 0.0, 0.0, 0.5, 0.0]
"""

from __future__ import annotations

import numpy as np

from features.errors import DataError


def check_experiment(y, treated, score=None) -> tuple[np.ndarray, ...]:
    """Outcomes, treatment flags (and scores) as float/bool arrays of one length.

    Raises
    ------
    DataError
        Mismatched lengths, missing values, or no treated or no control member.
    """
    y = np.asarray(y, dtype=float).ravel()
    treated = np.asarray(treated).ravel()
    arrays = {"y": y, "treated": treated}
    if score is not None:
        arrays["score"] = np.asarray(score, dtype=float).ravel()
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"lengths differ: {lengths}; give one value per member in each.")
    if treated.dtype != bool:
        if not np.isin(treated, (0, 1)).all():
            raise DataError("treated should hold only True/False (or 1/0).")
        treated = treated.astype(bool)
    for name, a in arrays.items():
        if name != "treated" and not np.isfinite(a).all():
            raise DataError(f"{name} has {int((~np.isfinite(a)).sum())} missing or infinite "
                            "value(s); drop or fill those members first.")
    n_t = int(treated.sum())
    if n_t == 0 or n_t == len(treated):
        which = "control (held-out)" if n_t else "treated (sent)"
        raise DataError(f"no {which} members among {len(treated)}; uplift needs both a "
                        "randomised control group and treated members.")
    out = [y, treated]
    if score is not None:
        out.append(arrays["score"])
    return tuple(out)


def qini_curve(y, treated, score) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve of ``score`` (see the module docstring).

    Parameters
    ----------
    y : (n,) array of float
    treated : (n,) array of bool
    score : (n,) array of float

    Returns
    -------
    fraction : (m,) float
        Share of members targeted, from 0 to 1.
    gain : (m,) float
        ``q(k) / n_t(N)`` at each fraction; ``gain[-1]`` is the average treatment effect.
    """
    y, treated, score = check_experiment(y, treated, score)
    return _curve(y, treated, score)


def _curve(y: np.ndarray, treated: np.ndarray, score: np.ndarray):
    """:func:`qini_curve` on checked input."""
    order = np.argsort(-score, kind="stable")
    y, treated, score = y[order], treated[order], score[order]
    ends = np.r_[np.flatnonzero(np.diff(score) != 0), len(score) - 1]
    n_t = np.cumsum(treated)[ends]
    n_c = (ends + 1) - n_t
    y_t = np.cumsum(np.where(treated, y, 0.0))[ends]
    y_c = np.cumsum(np.where(treated, 0.0, y))[ends]
    ratio = np.divide(n_t, n_c, out=np.zeros(len(ends)), where=n_c > 0)
    q = np.where(n_c > 0, y_t - y_c * ratio, 0.0)
    fraction = np.r_[0.0, (ends + 1) / len(score)]
    return fraction, np.r_[0.0, q / n_t[-1]]


def qini_auc(y, treated, score) -> float:
    """Area under the Qini curve of ``score`` (trapezoids over the fraction targeted)."""
    y, treated, score = check_experiment(y, treated, score)
    return _area(*_curve(y, treated, score))


def _area(fraction: np.ndarray, gain: np.ndarray) -> float:
    return float(np.sum((gain[1:] + gain[:-1]) / 2 * np.diff(fraction)))


def normalized_auuc(y, treated, score) -> float:
    """(area of ``score`` - area of random) / (area of the perfect ranking - area of random).

    Returns NaN when the perfect ranking is no better than random (all outcomes equal).
    """
    return _normalized(*check_experiment(y, treated, score))


def _normalized(y: np.ndarray, treated: np.ndarray, *scores: np.ndarray) -> float | list:
    """:func:`normalized_auuc` on checked input, of one score (a float) or of several
    (a list; the perfect and random areas, which the scores do not change, computed once)."""
    perfect = _area(*_curve(y, treated, np.where(treated, y, -y)))
    random = _curve(y, treated, np.zeros(len(y)))[1][-1] / 2
    if perfect - random <= 0:
        values = [float("nan")] * len(scores)
    else:
        values = [(_area(*_curve(y, treated, s)) - random) / (perfect - random) for s in scores]
    return values[0] if len(scores) == 1 else values


def gain_at(y, treated, score, fraction: float) -> float:
    """The Qini curve's value after targeting the top ``fraction`` (linear between points)."""
    if not 0 <= fraction <= 1:
        raise DataError(f"fraction={fraction} should be between 0 and 1.")
    x, gain = qini_curve(y, treated, score)
    return float(np.interp(fraction, x, gain))


#: Resamples behind :func:`auuc_standard_errors`, and the most members one resample draws
#: (the spread is then scaled to the whole set, as :mod:`models.metrics` does for rows): at
#: 4 to 5 sends a member about the 20,000 rows of :data:`models.metrics.BOOTSTRAP_ROWS`.
#: With 20,000 members the six verdicts of the 50,000-member sample took 17 s.
AUUC_RESAMPLES, AUUC_MEMBERS = 100, 4_000


def auuc_standard_errors(y, treated, members, score, baseline, *, n: int = AUUC_RESAMPLES,
                         seed: int = 0, max_members: int = AUUC_MEMBERS) -> tuple[float, float]:
    """How far a normalised AUUC, and its margin over a baseline's, could move by the members
    it was measured on.

    The members are resampled with replacement, each drawn with all its rows (one member's
    sends are not independent), and both scores are judged on every resample. Returns the
    standard errors of ``normalized_auuc(score)`` and of ``normalized_auuc(score) -
    normalized_auuc(baseline)``; NaN when fewer than two members or no resample could be
    judged (one without treated or control rows is skipped).
    """
    y, treated, score = check_experiment(y, treated, score)
    _, _, baseline = check_experiment(y, treated, baseline)
    members = np.asarray(members).astype(str).ravel()
    if len(members) != len(y):
        raise DataError(f"lengths differ: {len(members)} member ids for {len(y)} outcomes; "
                        "give the member of each row.")
    codes = np.unique(members, return_inverse=True)[1].ravel()
    order = np.argsort(codes, kind="stable")
    count = np.bincount(codes)
    start = np.r_[0, np.cumsum(count)[:-1]]
    size = len(count)
    if size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    drawn = min(size, max_members)
    own, margin = [], []
    for _ in range(n):
        pick = rng.integers(0, size, drawn)
        lengths = count[pick]
        offsets = np.repeat(start[pick] - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        rows = order[offsets + np.arange(int(lengths.sum()))]
        t = treated[rows]
        if t.all() or not t.any():
            continue
        a, b = _normalized(y[rows], t, score[rows], baseline[rows])
        own.append(a)
        margin.append(a - b)
    scale = np.sqrt(drawn / size)

    def spread(values) -> float:
        values = np.asarray(values, dtype=float)
        return float(scale * np.nanstd(values)) if np.isfinite(values).any() else float("nan")

    return spread(own), spread(margin)

"""Purchase-cycle models: BG/NBD (who is still buying, how often) and Gamma-Gamma (how much).

Both answer at *any* horizon ``t`` from one fit, which the tabular churn and
value models (fixed ``H``) cannot:

- :class:`BetaGeoModel`, the BG/NBD model (Fader, Hardie & Lee 2005, "Counting
  your customers the easy way"): while alive a member buys at a Poisson rate
  ``lambda ~ Gamma(r, alpha)``; after each purchase they drop out with
  probability ``p ~ Beta(a, b)``. From a member's repeat purchases ``x``, the
  time ``t_x`` of their last purchase and their age ``T`` (days from the first
  purchase to the cut-off) it gives ``P(alive)``, the expected purchases in the
  next ``t`` days and ``P(no purchase in the next t days)``
  (``1 - P(alive) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x))``: an alive
  member's rate is ``Gamma(r + x, alpha + T)`` a posteriori);
- :class:`GammaGammaModel` (Fader & Hardie 2013, "The Gamma-Gamma model of
  monetary value"): a member's spend per purchase averages ``zeta``, with
  ``zeta ~ InvGamma(q, gamma)`` scaled by ``p``; the expected spend per purchase
  shrinks a member's observed mean towards the population's.

Both are fitted by maximum likelihood (``scipy.optimize.minimize``, L-BFGS-B
on the log-parameters) on the closed-form log-likelihoods, and export their
four or three parameters as a JSON-ready dict (:meth:`to_json`, :meth:`from_json`):
no pickle. :func:`purchase_summary` turns purchase lines into the inputs.

A *purchase* is a distinct purchase day (several baskets on one day count once,
the usual convention of these models); time is in days. Members with fewer than
:data:`MIN_MEMBERS` rows, or data without :data:`MIN_REPEAT_BUYERS` repeat
buyers, cannot identify the parameters: :class:`~features.errors.DataError`.

Imports: :mod:`features` only (and scipy).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln, gammaln, hyp2f1

from features.errors import DataError, NotFittedError
from models.lifecycle.purchase_days import summarise_lines

logger = logging.getLogger(__name__)

#: Fewest members and repeat buyers a fit accepts.
MIN_MEMBERS, MIN_REPEAT_BUYERS = 20, 10
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary")


def purchase_summary(transactions: pd.DataFrame, as_of) -> pd.DataFrame:
    """Per member with a purchase before ``as_of``: the inputs of the two models.

    Parameters
    ----------
    transactions : pandas.DataFrame
        Canonical lines (``member_id``, ``timestamp``, ``amount``); lines at or
        after ``as_of`` are ignored.
    as_of : timestamp-like
        The cut-off (exclusive).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``member_id`` (str): ``frequency`` (purchase days after the
        first), ``recency`` (days from the first to the last purchase day),
        ``T`` (days from the first purchase day to ``as_of``), ``monetary``
        (mean spend of the repeat purchase days with a positive spend; NaN
        when there is none).

    Examples
    --------
    >>> tx = pd.DataFrame({"member_id": ["a", "a", "a", "b"], "amount": [10.0, 5.0, 20.0, 3.0],
    ...                    "timestamp": pd.to_datetime(["2024-01-01", "2024-01-01",
    ...                                                 "2024-01-11", "2024-01-05"])})
    >>> purchase_summary(tx, "2024-01-21").to_dict("index")["a"]
    {'frequency': 1, 'recency': 10.0, 'T': 20.0, 'monetary': 20.0}
    """
    return summarise_lines(transactions, as_of)


def _arrays(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, age = (np.asarray(v, dtype=np.float64).ravel() for v in (frequency, recency, T))
    if not x.shape == t_x.shape == age.shape:
        raise DataError(f"frequency, recency and T have {len(x)}, {len(t_x)} and {len(age)} "
                        "values; pass one of each per member.")
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(age).all()):
        raise DataError("frequency, recency and T must be finite numbers.")
    if (x < 0).any() or (t_x < 0).any() or (t_x > age + 1e-9).any():
        raise DataError("need frequency >= 0 and 0 <= recency <= T for every member.")
    return x, t_x, age


def _fit(negative_ll, start: np.ndarray, name: str) -> np.ndarray:
    """Minimise ``negative_ll(log_params)``; the parameters, or a DataError."""
    with np.errstate(all="ignore"):
        result = optimize.minimize(negative_ll, start, method="L-BFGS-B",
                                   bounds=[(-12.0, 12.0)] * len(start))
    params = np.exp(result.x)
    if not np.isfinite(result.fun) or not np.isfinite(params).all():
        raise DataError(f"the {name} fit did not converge ({result.message}); the data may be "
                        "too small or too regular for this model.")
    return params


class BetaGeoModel:
    """BG/NBD: P(alive), expected purchases and churn risk at any horizon (module docstring).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (days), ``a``, ``b``.
    n_members_ : int
    """

    def fit(self, frequency, recency, T) -> BetaGeoModel:
        """Fit by maximum likelihood on one row per member; returns ``self``."""
        x, t_x, age = _arrays(frequency, recency, T)
        repeat = int((x > 0).sum())
        if len(x) < MIN_MEMBERS or repeat < MIN_REPEAT_BUYERS:
            raise DataError(
                f"BG/NBD needs at least {MIN_MEMBERS} members of whom {MIN_REPEAT_BUYERS} "
                f"bought on two or more days; got {len(x)} members, {repeat} repeat buyers.")

        def nll(log_params):
            return -self._log_likelihood(np.exp(log_params), x, t_x, age).mean()

        start = np.log([1.0, max(age.mean(), 1.0) / max(x.mean(), 0.1), 1.0, 3.0])
        r, alpha, a, b = _fit(nll, start, "BG/NBD")
        self.params_ = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        self.n_members_ = len(x)
        logger.info("BG/NBD fitted on %d members: %s", len(x), self.params_)
        return self

    @staticmethod
    def _log_likelihood(params, x, t_x, age) -> np.ndarray:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + age)
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12))
                      - (r + x) * np.log(alpha + t_x), -np.inf)
        return a1 + a2 + np.logaddexp(a3, a4)

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise NotFittedError("This BetaGeoModel instance is not fitted yet. Call 'fit' "
                                 "with appropriate arguments before using this estimator.")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """P(the member is still buying at the cut-off), shape (n,)."""
        r, alpha, a, b = self._params()
        x, t_x, age = _arrays(frequency, recency, T)
        log_ratio = (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
        odds = np.where(x > 0, np.exp(np.log(a) - np.log(np.maximum(b + x - 1, 1e-12))
                                      + np.minimum(log_ratio, 700.0)), 0.0)
        return 1.0 / (1.0 + odds)

    def p_no_purchase(self, t: float, frequency, recency, T) -> np.ndarray:
        """P(no purchase in the next ``t`` days): churn risk at horizon ``t``, shape (n,)."""
        r, alpha, _, _ = self._params()
        x, _, age = _arrays(frequency, recency, T)
        stay_quiet = ((alpha + age) / (alpha + age + _horizon(t))) ** (r + x)
        return 1.0 - self.p_alive(frequency, recency, T) * (1.0 - stay_quiet)

    def expected_purchases(self, t: float, frequency, recency, T) -> np.ndarray:
        """Expected purchase days in the next ``t`` days (FHL 2005, eq. 10), shape (n,).

        The hypergeometric term is taken through Euler's transformation,
        ``(1 - z)**(a - 1) * 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z)``, which
        stays finite for members with many purchases.
        """
        r, alpha, a, b = self._params()
        x, t_x, age = _arrays(frequency, recency, T)
        t = _horizon(t)
        if abs(a - 1.0) < 1e-6:  # eq. 10 is 0/0 at a == 1; its limit, to within 1e-6
            a = 1.0 + 1e-6
        z = t / (alpha + age + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1.0 - (1.0 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        return np.clip(head * tail * self.p_alive(x, t_x, age), 0.0, None)

    def to_json(self) -> dict:
        """The parameters as a JSON-ready dict (``{"model": "bgnbd", "r": ..., ...}``)."""
        self._params()
        return {"model": "bgnbd", **self.params_}

    @classmethod
    def from_json(cls, data: dict) -> BetaGeoModel:
        """A fitted model from :meth:`to_json`'s dict; DataError when it is not one."""
        model = cls()
        model.params_ = _read_params(data, "bgnbd", ("r", "alpha", "a", "b"))
        return model


class GammaGammaModel:
    """Gamma-Gamma: expected spend per purchase, shrunk towards the population mean.

    Fitted on repeat buyers only (``frequency > 0``, positive ``monetary``);
    a one-time buyer's expected spend per purchase is the population mean
    ``p * gamma / (q - 1)``.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``gamma``.
    """

    def fit(self, frequency, monetary) -> GammaGammaModel:
        """Fit on the members with ``frequency > 0`` and ``monetary > 0``; returns ``self``."""
        x = np.asarray(frequency, dtype=np.float64).ravel()
        m = np.asarray(monetary, dtype=np.float64).ravel()
        if x.shape != m.shape:
            raise DataError(f"frequency has {len(x)} values but monetary {len(m)}.")
        use = (x > 0) & np.isfinite(m) & (m > 0)
        if use.sum() < MIN_REPEAT_BUYERS:
            raise DataError(f"Gamma-Gamma needs at least {MIN_REPEAT_BUYERS} repeat buyers with "
                            f"a positive spend; got {int(use.sum())}.")
        x, m = x[use], m[use]

        def nll(log_params):
            p, q, gamma = np.exp(log_params)
            ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(gamma)
                  + (p * x - 1) * np.log(m) + p * x * np.log(x)
                  - (p * x + q) * np.log(gamma + m * x))
            return -ll.mean()

        start = np.log([2.0, 3.0, max(float(np.mean(m)), 1e-3)])
        p, q, gamma = _fit(nll, start, "Gamma-Gamma")
        if q <= 1.0:
            raise DataError(f"the Gamma-Gamma fit gave q={q:.3g} <= 1: the population's mean "
                            "spend per purchase is not finite; spends are too dispersed.")
        self.params_ = {"p": float(p), "q": float(q), "gamma": float(gamma)}
        logger.info("Gamma-Gamma fitted on %d repeat buyers: %s", len(x), self.params_)
        return self

    def _params(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise NotFittedError("This GammaGammaModel instance is not fitted yet. Call 'fit' "
                                 "with appropriate arguments before using this estimator.")
        return self.params_["p"], self.params_["q"], self.params_["gamma"]

    def expected_spend(self, frequency, monetary) -> np.ndarray:
        """Expected spend per purchase, shape (n,); the population mean without a repeat spend."""
        p, q, gamma = self._params()
        x = np.asarray(frequency, dtype=np.float64).ravel()
        m = np.asarray(monetary, dtype=np.float64).ravel()
        known = (x > 0) & np.isfinite(m) & (m > 0)
        x, m = np.where(known, x, 0.0), np.where(known, m, 0.0)
        return p * (gamma + x * m) / (p * x + q - 1)

    def to_json(self) -> dict:
        """The parameters as a JSON-ready dict (``{"model": "gamma_gamma", ...}``)."""
        self._params()
        return {"model": "gamma_gamma", **self.params_}

    @classmethod
    def from_json(cls, data: dict) -> GammaGammaModel:
        """A fitted model from :meth:`to_json`'s dict; DataError when it is not one."""
        model = cls()
        model.params_ = _read_params(data, "gamma_gamma", ("p", "q", "gamma"))
        return model


def predict_at_horizon(params: dict, summary: pd.DataFrame, days: float) -> pd.DataFrame:
    """``churn_risk`` (P(no purchase in ``days``)) and ``expected_spend`` over ``days``.

    Parameters
    ----------
    params : dict
        ``{"bgnbd": BetaGeoModel.to_json(), "gamma_gamma": GammaGammaModel.to_json()}``.
    summary : pandas.DataFrame
        :func:`purchase_summary` rows (:data:`SUMMARY_COLUMNS`).
    days : float
        The horizon, in days after the summaries' cut-off.

    Returns
    -------
    pandas.DataFrame
        ``churn_risk`` and ``expected_spend`` (expected purchase days x Gamma-Gamma
        spend per purchase), same index as ``summary``.
    """
    bg = BetaGeoModel.from_json(params["bgnbd"])
    gg = GammaGammaModel.from_json(params["gamma_gamma"])
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    purchases = bg.expected_purchases(days, x, t_x, age)
    return pd.DataFrame({
        "churn_risk": bg.p_no_purchase(days, x, t_x, age),
        "expected_spend": purchases * gg.expected_spend(x, summary["monetary"]),
    }, index=summary.index)


def _horizon(t) -> float:
    t = float(t)
    if not np.isfinite(t) or t <= 0:
        raise DataError(f"horizon t={t} should be a positive number of days.")
    return t


def _read_params(data, kind: str, names: tuple[str, ...]) -> dict:
    if not isinstance(data, dict) or data.get("model") != kind:
        raise DataError(f"not a {kind} parameter record: {str(data)[:120]}")
    try:
        params = {n: float(data[n]) for n in names}
    except (KeyError, TypeError, ValueError):
        raise DataError(f"a {kind} record needs the numbers {list(names)}; got "
                        f"{sorted(data)}.") from None
    if not all(np.isfinite(v) and v > 0 for v in params.values()):
        raise DataError(f"{kind} parameters must be positive numbers; got {params}.")
    return params

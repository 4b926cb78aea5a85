"""BG/NBD and Gamma-Gamma: parameter recovery on data simulated from their own processes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError, NotFittedError
from models.lifecycle.bgnbd import BetaGeoModel, GammaGammaModel, purchase_summary

TRUE_BG = {"r": 0.8, "alpha": 20.0, "a": 0.9, "b": 3.0}
TRUE_GG = {"p": 6.0, "q": 4.0, "gamma": 15.0}


def simulate_bgnbd(n, T, horizon, params, seed=0):
    """Per member: (x, t_x, T) over [0, T] and the purchases in (T, T + horizon].

    The BG/NBD story: first purchase at 0; purchases at Poisson rate lambda ~
    Gamma(r, alpha) while alive; after each repeat purchase, dropout with p ~ Beta(a, b).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    drop = rng.beta(params["a"], params["b"], n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    future = np.zeros(n)
    ages = np.full(n, float(T))
    for i in range(n):
        now = 0.0
        while True:  # alive: the next purchase, then dropout with probability p
            now += rng.exponential(1.0 / lam[i])
            if now > T + horizon:
                break
            if now <= T:
                x[i] += 1
                t_x[i] = now
            else:
                future[i] += 1
            if rng.random() < drop[i]:
                break
    return x, t_x, ages, future


@pytest.fixture(scope="module")
def simulated():
    return simulate_bgnbd(3000, 300.0, 90.0, TRUE_BG)


@pytest.fixture(scope="module")
def fitted(simulated):
    x, t_x, T, _ = simulated
    return BetaGeoModel().fit(x, t_x, T)


def test_bgnbd_recovers_its_parameters(fitted):
    got = fitted.params_
    for name, true in TRUE_BG.items():
        assert got[name] == pytest.approx(true, rel=0.2), (name, got)


def test_expected_purchases_match_the_simulated_future(fitted, simulated):
    x, t_x, T, future = simulated
    expected = fitted.expected_purchases(90, x, t_x, T)
    assert expected.sum() == pytest.approx(future.sum(), rel=0.1)
    # Ranked: the members expected to buy most do buy most.
    top = np.argsort(-expected)[: len(x) // 10]
    assert future[top].mean() > 3 * future.mean()


def test_p_no_purchase_matches_the_simulated_share(fitted, simulated):
    x, t_x, T, future = simulated
    risk = fitted.p_no_purchase(90, x, t_x, T)
    assert risk.mean() == pytest.approx((future == 0).mean(), abs=0.03)
    assert ((risk >= 0) & (risk <= 1)).all()
    # Longer horizons: never more risk; P(alive) bounds the long-run chance of buying.
    longer = fitted.p_no_purchase(365, x, t_x, T)
    assert (longer <= risk + 1e-12).all()
    assert (1 - longer <= fitted.p_alive(x, t_x, T) + 1e-12).all()


def test_json_round_trip(fitted, simulated):
    x, t_x, T, _ = simulated
    again = BetaGeoModel.from_json(fitted.to_json())
    np.testing.assert_allclose(again.expected_purchases(30, x, t_x, T),
                               fitted.expected_purchases(30, x, t_x, T))
    with pytest.raises(DataError, match="not a bgnbd parameter record"):
        BetaGeoModel.from_json({"model": "gamma_gamma", "p": 1, "q": 2, "gamma": 3})
    with pytest.raises(DataError, match="must be positive"):
        BetaGeoModel.from_json({"model": "bgnbd", "r": -1, "alpha": 1, "a": 1, "b": 1})


def test_gamma_gamma_recovers_its_parameters():
    rng = np.random.default_rng(1)
    n = 3000
    x = rng.integers(1, 15, n).astype(float)
    # zeta ~ InvGamma(q, gamma): nu = 1 / zeta ~ Gamma(q, rate gamma); spends ~ Gamma(p, rate nu).
    nu = rng.gamma(TRUE_GG["q"], 1.0 / TRUE_GG["gamma"], n)
    spends = rng.gamma(TRUE_GG["p"] * x, 1.0 / nu) / x  # mean of x Gamma(p, nu) draws
    model = GammaGammaModel().fit(x, spends)
    for name, true in TRUE_GG.items():
        assert model.params_[name] == pytest.approx(true, rel=0.3), (name, model.params_)
    expected = model.expected_spend(x, spends)
    true_mean = TRUE_GG["p"] * nu ** -1.0
    # Shrinkage beats the raw member means on the members' true mean spend.
    assert np.abs(expected - true_mean).mean() < np.abs(spends - true_mean).mean()
    one_timer = model.expected_spend([0], [np.nan])[0]
    assert one_timer == pytest.approx(model.params_["p"] * model.params_["gamma"]
                                      / (model.params_["q"] - 1))
    again = GammaGammaModel.from_json(model.to_json())
    np.testing.assert_allclose(again.expected_spend(x, spends), expected)


def test_degenerate_inputs_give_a_clear_error():
    with pytest.raises(DataError, match="0 repeat buyers"):
        BetaGeoModel().fit(np.zeros(50), np.zeros(50), np.full(50, 100.0))
    with pytest.raises(DataError, match="at least 20 members"):
        BetaGeoModel().fit([1, 2, 3], [5, 6, 7], [10, 10, 10])
    with pytest.raises(DataError, match="recency <= T"):
        BetaGeoModel().fit(np.ones(30), np.full(30, 20.0), np.full(30, 10.0))
    with pytest.raises(DataError, match="Gamma-Gamma needs at least 10 repeat buyers"):
        GammaGammaModel().fit(np.zeros(50), np.full(50, np.nan))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        BetaGeoModel().p_alive([1], [1], [2])
    with pytest.raises(DataError, match="positive number of days"):
        BetaGeoModel.from_json(TRUE_BG | {"model": "bgnbd"}).p_no_purchase(0, [1], [1], [2])


def test_purchase_summary_counts_days_and_ignores_the_future():
    tx = pd.DataFrame({
        "member_id": [7, 7, 7, 7, 8, 8],
        "timestamp": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-06 00:00",
                                     "2024-02-01 00:00", "2024-01-10 00:00", "2024-01-10 00:00"]),
        "amount": [4.0, 6.0, 12.0, 99.0, 5.0, -5.0],
    })
    out = purchase_summary(tx, "2024-01-11")
    assert out.loc["7"].tolist() == [1, 5.0, 10.0, 12.0]
    assert out.loc["8", "frequency"] == 0 and np.isnan(out.loc["8", "monetary"])
    with pytest.raises(DataError, match="no transactions before"):
        purchase_summary(tx, "2023-01-01")

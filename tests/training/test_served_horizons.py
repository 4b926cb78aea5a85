"""The arithmetic of the answers at any horizon (training/artifacts/horizons.py) and the
choice of the served models (training/horizon_served.py)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from models.lifecycle import reliability
from training import horizon_served, horizon_step
from training.artifacts import horizons
from training.artifacts.horizons import isotonic_rows, place_on_curve
from training.horizon_served import served_mean, served_models
from training.horizon_step import SUM_BANDS, sum_rows


def test_isotonic_rows_equal_sklearns_isotonic_regression():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(300, 5)).cumsum(axis=1) * rng.choice([-1, 1], size=(300, 1))
    got = isotonic_rows(values)
    x = np.arange(5)
    want = np.array([IsotonicRegression().fit(x, row).predict(x) for row in values])
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert (np.diff(got, axis=1) >= -1e-12).all()
    ordered = np.sort(values, axis=1)
    np.testing.assert_array_equal(isotonic_rows(ordered), ordered)  # already monotone: kept


def _curve(days):
    """A BG/NBD-like P(no purchase in N) per member: falling from 1, at the member's rate."""
    rates = np.array([0.01, 0.05, 0.2])
    return np.exp(-np.outer(rates, np.atleast_1d(days))).squeeze()


def test_answers_between_and_beyond_the_anchors_are_continuous_and_monotone():
    anchors = [28, 60, 90]
    values = np.array([[0.9, 0.7, 0.6], [0.5, 0.3, 0.1], [0.2, 0.2, 0.05]])
    curve = np.column_stack([_curve(h) for h in anchors])
    days = np.arange(1, 400)
    answers = np.column_stack([place_on_curve(int(n), anchors, values, curve, _curve(n),
                                              cap=1.0) for n in days])
    for j, h in enumerate(anchors):  # exactly the anchors' values there
        np.testing.assert_allclose(answers[:, h - 1], values[:, j])
    assert (np.diff(answers, axis=1) <= 1e-12).all()
    assert (answers <= 1.0).all() and (answers >= 0).all()
    # no jump: neighbouring days differ by little next to an anchor
    for h in anchors:
        assert np.abs(answers[:, h] - answers[:, h - 2]).max() < 0.05
    # beyond the last anchor: its value carried by the curve's own ratio
    np.testing.assert_allclose(answers[:, 364],
                               values[:, 2] * _curve(365) / _curve(90))


def test_a_flat_reference_falls_back_to_days():
    values = np.array([[10.0, 20.0]])
    flat = np.array([[np.nan, np.nan]])
    got = place_on_curve(45, [30, 60], values, flat, np.array([np.nan]))
    np.testing.assert_allclose(got, [15.0])
    beyond = place_on_curve(120, [30, 60], values, flat, np.array([np.nan]))
    np.testing.assert_allclose(beyond, [40.0])  # 20 x 120 / 60
    # a risk is not scaled by days: it stays as it is at the nearest anchor
    risk = place_on_curve(120, [30, 60], np.array([[0.4, 0.3]]), flat, np.array([np.nan]),
                          cap=1.0, flat=1.0)
    np.testing.assert_allclose(risk, [0.3])


def _validation(churn_wins: list[str], value_wins: list[str]) -> dict:
    out = {}
    for i, (c, v) in enumerate(zip(churn_wins, value_wins, strict=True)):
        out[str(30 * (i + 1))] = {
            "churn": {m: {"pr_auc": 0.6 if m == c else 0.5}
                      for m in ("churn_model", "recency_only", "bgnbd")},
            "value": {m: {"mae": 10.0 if m == v else 12.0}
                      for m in ("value_model", "past_spend_rate", "bgnbd_gamma_gamma")}}
    return out


@pytest.mark.parametrize(("churn", "value", "want"), [
    (["bgnbd", "churn_model", "churn_model"], ["value_model"] * 3,
     {"churn": "churn_model", "value": "value_model"}),
    (["bgnbd", "bgnbd", "churn_model"], ["past_spend_rate", "value_model", "past_spend_rate"],
     {"churn": "bgnbd", "value": "past_spend_rate"}),
    # a tie in wins goes to the boosted model
    (["bgnbd", "churn_model"], ["bgnbd_gamma_gamma", "value_model"],
     {"churn": "churn_model", "value": "value_model"}),
])
def test_one_model_per_task_serves_every_horizon(churn, value, want):
    assert served_models(_validation(churn, value)) == want


def _at(own: float, fitted: float, noise: float | None = None) -> dict:
    """One horizon's validation: the version's churn and spend models against those fitted
    at the horizon (PR-AUC, MAE), with the noise of the fitted models' wins when given."""
    result = {"churn": {"churn_model_at_H": {"pr_auc": own}, "churn_model": {"pr_auc": fitted},
                        "recency_only": {"pr_auc": 0.3}, "bgnbd": {"pr_auc": 0.3}},
              "value": {"value_model_at_H": {"mae": 100 * own},
                        "value_model": {"mae": 100 * fitted},
                        "past_spend_rate": {"mae": 99.0}, "bgnbd_gamma_gamma": {"mae": 99.0}}}
    if noise is not None:
        result["carried_se"] = {"churn": {"churn_model": noise}, "value": {"value_model": noise}}
    return result


def test_the_versions_own_models_answer_unless_another_wins_beyond_the_noise():
    own = {"churn": "churn_model_at_H", "value": "value_model_at_H"}
    fitted = {"churn": "churn_model", "value": "value_model"}
    # churn: PR-AUC 0.50 against 0.52 (higher is better); spend: MAE 50 against 52 (lower)
    same = _at(0.5, 0.5)  # at H they are the same models
    assert served_models({"28": same}) == own
    # the fitted models win by 0.02 (churn) at two of three horizons, with a noise of 0.005
    assert served_models({"28": same, "60": _at(0.5, 0.52, 0.005),
                          "90": _at(0.5, 0.52, 0.005)})["churn"] == "churn_model"
    # ... within twice the noise: the version's own answer
    assert served_models({"28": same, "60": _at(0.5, 0.52, 0.011),
                          "90": _at(0.5, 0.52, 0.011)})["churn"] == own["churn"]
    # ... beyond it at one horizon of three only: the version's own answer
    assert served_models({"28": same, "60": _at(0.5, 0.52, 0.005),
                          "90": _at(0.5, 0.52, 0.011)})["churn"] == own["churn"]
    # spend: the fitted model's MAE 48 against 50 beyond the noise at 2 of 3
    assert served_models({"28": same, "60": _at(0.5, 0.48, 0.005),
                          "90": _at(0.5, 0.48, 0.005)})["value"] == fitted["value"]
    # a point-estimate win without its noise measured is not enough
    assert served_models({"60": _at(0.5, 0.52), "90": _at(0.5, 0.52)}) == own


def test_doctests():
    assert doctest.testmod(horizons).failed == 0
    assert doctest.testmod(horizon_served).failed == 0
    assert doctest.testmod(horizon_step).failed == 0
    assert doctest.testmod(reliability).failed == 0


def test_step_rows_name_bands_by_h_and_put_the_mean_first():
    sums = {"bgnbd_gamma_gamma": {"total_ratio": 0.9, "by_last_purchase": {
                "<= 60 days ago": 0.95, "> 240 days ago": 0.3}},
            "value_mean_at_H": {"total_ratio": 1.01, "by_last_purchase": {
                "60-120 days ago": 0.8}}}
    rows = sum_rows(60, sums)
    assert [r["model"] for r in rows] == ["value_mean_at_H", "bgnbd_gamma_gamma"]
    assert rows[0] == {"horizon_days": 60, "model": "value_mean_at_H", "total": 1.01,
                       SUM_BANDS[1]: 0.8}
    assert rows[1][SUM_BANDS[0]] == 0.95 and rows[1][SUM_BANDS[3]] == 0.3


def _sums(own: float, cycle: float, se: float | None) -> dict:
    found = {"value_sums": {"value_mean_at_H": {"total_ratio": own},
                            "bgnbd_gamma_gamma": {"total_ratio": cycle}}}
    return found | ({"sums_se": se} if se is not None else {})


def test_the_mean_to_sum_is_the_value_models_unless_bgnbd_sums_closer_beyond_noise():
    # BG/NBD + Gamma-Gamma closer by more than twice the noise at 2 of 3 horizons.
    assert served_mean({"30": _sums(1.30, 1.05, 0.02), "60": _sums(0.70, 0.95, 0.02),
                        "90": _sums(1.01, 1.20, 0.02)}) == "bgnbd_gamma_gamma"
    # Closer, but within the noise: the value model's mean (the CLV's) answers.
    assert served_mean({"30": _sums(1.03, 1.01, 0.02), "60": _sums(1.04, 0.99, 0.05)}
                       ) == "value_mean_at_H"
    # Over or under by the same factor is as far: 1.25 and 0.8 tie (no win).
    assert served_mean({"30": _sums(1.25, 0.8, 0.001)}) == "value_mean_at_H"
    # H has no paired noise (the value step's own mean): it counts as no win, as in
    # served_models, so one win of two horizons is not more than half.
    assert served_mean({"28": _sums(1.5, 1.0, None), "60": _sums(1.5, 1.0, 0.01)}
                       ) == "value_mean_at_H"
    assert served_mean({}) == "value_mean_at_H"

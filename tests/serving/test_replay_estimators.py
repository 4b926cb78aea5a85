"""Off-policy estimators against a simulated policy with known reward probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from features.errors import DataError
from serving.replay.estimators import effective_sample_size, estimate


def simulate(seed: int, n: int = 20_000, k: int = 5, epsilon: float = 0.3):
    """Contexts, epsilon-greedy logging, a different deterministic target policy."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.02, 0.4, size=(n, k))  # P(reward | context, action)
    scores = truth + rng.normal(0, 0.1, size=(n, k))  # the logging model: noisy
    greedy = np.argmax(scores, axis=1)
    explore = rng.random(n) < epsilon
    action = np.where(explore, rng.integers(0, k, n), greedy)
    propensity = epsilon / k + (1 - epsilon) * (action == greedy)
    reward = (rng.random(n) < truth[np.arange(n), action]).astype(float)
    target_action = np.argmin(scores, axis=1)  # the new policy: the worst-looking offer
    true_value = float(np.mean(truth[np.arange(n), target_action]))
    pi = (action == target_action).astype(float)
    q = np.clip(scores, 0, 1)  # the reward model used by DR (biased but informative)
    return reward, propensity, pi, q[np.arange(n), action], q[np.arange(n), target_action], \
        true_value, float(np.mean(reward))


@pytest.mark.parametrize("interval", ["normal", "bootstrap"])
def test_estimates_cover_the_true_value_of_the_new_policy(interval):
    r, p, pi, ql, qt, truth, logged = simulate(seed=3)
    results = {e.method: e for e in estimate(r, p, pi, ql, qt, interval=interval, n_boot=200)}
    assert set(results) == {"ips", "snips", "dr"}
    for e in results.values():
        assert e.low <= truth <= e.high, (e, truth)
        assert e.high - e.low < 0.08  # informative, not an interval that covers everything
    assert not (results["dr"].low <= logged <= results["dr"].high)  # it tells the policies apart


def test_normal_intervals_cover_about_95_percent_of_the_time():
    covered = {"ips": 0, "snips": 0, "dr": 0}
    runs = 60
    for seed in range(runs):
        r, p, pi, ql, qt, truth, _ = simulate(seed=100 + seed, n=1500)
        for e in estimate(r, p, pi, ql, qt):
            covered[e.method] += e.low <= truth <= e.high
    for method, hits in covered.items():
        assert hits / runs >= 0.85, (method, hits)


def test_logs_without_propensities_are_refused():
    r, p, pi, *_ = simulate(seed=1, n=100)
    p = p.copy()
    p[5] = np.nan
    with pytest.raises(DataError, match="without a propensity"):
        estimate(r, p, pi)
    with pytest.raises(DataError, match="no logged decisions"):
        estimate([], [], [])
    with pytest.raises(DataError, match="unknown interval"):
        estimate(r, np.ones(100), pi, interval="wide")


def test_effective_sample_size():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size(np.r_[np.zeros(9), 5.0]) == pytest.approx(1)

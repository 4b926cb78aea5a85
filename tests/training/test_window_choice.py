"""The out-of-time choice of windows and value form picks each option on data planted for it,
and never reads the validation window."""
import numpy as np
import pandas as pd
import pytest

from models.lifecycle.windows import TrainingWindows
from training.window_choice import choose_value_form, choose_windows, first_windows

AS_OF = pd.Timestamp("2020-01-01")
H = 28
CUTOFFS = tuple(AS_OF - pd.Timedelta(days=H * (k + 1)) for k in range(4))  # validation first
N = 1500


def _windows(make_window) -> TrainingWindows:
    """Windows whose cutoff ``k`` (0 = validation) holds ``make_window(k, rng)``."""
    rng = np.random.default_rng(0)
    feats, outs = [], []
    for k, cutoff in enumerate(CUTOFFS):
        X, out = make_window(k, rng)
        idx = pd.MultiIndex.from_product([[cutoff], np.arange(N)], names=["cutoff", "member_id"])
        feats.append(X.set_index(idx))
        outs.append(out.set_index(idx))
    return TrainingWindows(pd.concat(feats), pd.concat(outs), CUTOFFS, H, AS_OF, N, 1.0)


def _churn_window(drift: bool):
    def make(k, rng):
        x = rng.normal(size=(N, 3))
        sign = -1.0 if drift and k >= 2 else 1.0  # the older windows teach the opposite
        p = 1 / (1 + np.exp(-(sign * 2.5 * x[:, 0] - 1.0)))
        churned = rng.random(N) < p
        X = pd.DataFrame(x, columns=["a", "b", "c"])
        out = pd.DataFrame({"churned": churned, "future_spend": (~churned) * 10.0,
                            "past_spend": 10.0, "future_baskets": (~churned).astype(int)})
        if k == 0:  # the validation window: its labels are noise, so reading it would show
            out["churned"] = rng.random(N) < 0.5
        return X, out
    return make


def test_windows_choice_picks_two_when_older_windows_mislead():
    assert choose_windows(_windows(_churn_window(drift=True)))["n_windows"] == 2


def test_windows_choice_keeps_more_windows_when_the_relation_holds():
    choice = choose_windows(_windows(_churn_window(drift=False)))
    assert choice["n_windows"] >= 3
    assert choice["chosen_on"] == str(CUTOFFS[1].date())
    assert set(choice["scores"]) == {"2", "4"}  # 1 or 2 inner windows; both: keep all 4


def _value_window(recent_rules: bool):
    def make(k, rng):
        x = rng.normal(size=(N, 2))
        recent = rng.gamma(2.0, 50.0, size=N)  # spend over 90 days
        if recent_rules:  # the past-spend rate is the truth, the booster's features noise
            spend = recent * H / 90.0 * rng.gamma(20.0, 1 / 20.0, size=N)
        else:  # spend follows a feature; the past-spend rate is unrelated
            spend = np.exp(1.5 * x[:, 0]) * 20.0
        X = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "spend_recent": recent if recent_rules
                          else rng.permutation(recent)})
        out = pd.DataFrame({"churned": spend == 0, "future_spend": spend, "past_spend": spend,
                            "future_baskets": 1})
        if k == 0:
            out["future_spend"] = 0.0
        return X, out
    return make


def test_value_choice_shrinks_toward_the_rate_when_the_rate_is_the_truth():
    choice = choose_value_form(_windows(_value_window(recent_rules=True)))
    assert choice["loss"] == "absolute_error" and choice["shrink"] == pytest.approx(0.75)


def test_value_choice_does_not_shrink_when_the_rate_is_noise():
    choice = choose_value_form(_windows(_value_window(recent_rules=False)))
    assert choice["shrink"] == 0.0
    assert len(choice["scores"]) == 2 * 5  # 1 or 2 inner windows x (Poisson + 4 shrinks)


def test_value_choice_can_pick_poisson():
    def make(k, rng):  # counts with a multiplicative (log-additive) structure in 4 features
        x = rng.normal(size=(N, 4))
        spend = rng.poisson(20.0 * np.exp(0.5 * x.sum(axis=1))).astype(float)
        X = pd.DataFrame(x, columns=list("abcd")).assign(spend_recent=rng.gamma(2.0, 50.0, N))
        return X, pd.DataFrame({"churned": spend == 0, "future_spend": spend,
                                "past_spend": spend, "future_baskets": 1})
    assert choose_value_form(_windows(make))["loss"] == "poisson"


def test_too_few_windows_keep_the_defaults():
    windows = first_windows(_windows(_churn_window(drift=False)), 2)
    assert windows.cutoffs == CUTOFFS[:2]
    assert choose_windows(windows) == {"n_windows": 2, "scores": {}, "chosen_on": None}
    assert choose_value_form(windows)["loss"] == "absolute_error"

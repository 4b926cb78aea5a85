"""Per-arm A/B results on simulated arms with known redemption rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.arm_lift import arm_lift, read_arm_log
from features.errors import DataError

TRUE_RATE = {"A": 0.10, "B": 0.16}


def simulate(n: int = 6000, seed: int = 5):
    rng = np.random.default_rng(seed)
    members = [f"m{i}" for i in range(n)]
    arms = rng.choice(["A", "B"], size=n)
    decisions = pd.DataFrame({"member_id": np.repeat(members, 2), "arm": np.repeat(arms, 2),
                              "decided_at": ["2026-11-01T10:00:00Z", "2026-11-03T10:00:00Z"] * n})
    redeemed = rng.random(n) < np.vectorize(TRUE_RATE.get)(arms)
    events = pd.DataFrame({"member_id": np.array(members)[redeemed], "offer_id": "x",
                           "event": "redeemed", "timestamp": "2026-11-10 09:00:00"})
    before = events.assign(timestamp="2026-10-01 09:00:00")  # before the test: not counted
    sent = events.assign(event="sent")
    return decisions, pd.concat([events, before, sent], ignore_index=True)


def test_arm_rates_and_difference_cover_the_truth():
    decisions, events = simulate()
    table, mixed = arm_lift(decisions, events, window_days=28)
    assert mixed == 0 and list(table["arm"]) == ["A", "B"]
    for row in table.itertuples():
        assert row.ci_low <= TRUE_RATE[row.arm] <= row.ci_high
    b = table.set_index("arm").loc["B"]
    assert b.diff_ci_low <= TRUE_RATE["B"] - TRUE_RATE["A"] <= b.diff_ci_high
    assert b.diff_ci_low > 0  # the better arm is detected
    short, _ = arm_lift(decisions, events, window_days=3)  # redemptions after the window
    assert (short["redeemers"] == 0).all()


def test_members_in_two_arms_are_left_out_and_bad_logs_refused(tmp_path):
    decisions, events = simulate(n=200)
    swapped = decisions.copy()
    swapped.loc[1, "arm"] = "B" if swapped.loc[0, "arm"] == "A" else "A"
    assert arm_lift(swapped, events)[1] == 1
    with pytest.raises(DataError, match="no logged decision has an arm"):
        arm_lift(decisions.assign(arm=""), events)
    with pytest.raises(DataError, match="only one arm"):
        arm_lift(decisions.assign(arm="A"), events)
    with pytest.raises(DataError, match="reference arm 'C'"):
        arm_lift(decisions, events, reference="C")
    (tmp_path / "log.csv").write_text("member_id,decided_at\n1,2026-01-01\n")
    with pytest.raises(DataError, match="column\\(s\\) arm missing"):
        read_arm_log(tmp_path / "log.csv")

"""``window_outcomes``: each row's spend and lines in its window, against a plain loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.uplift.rows import window_outcomes


def _loop(tx, member_id, start, window_days, as_of):
    tx = tx[tx["timestamp"] < as_of]
    ids = tx["member_id"].astype(str).to_numpy()
    spend, lines = [], []
    for m, s in zip(member_id, start):
        inside = (ids == str(m)) & (tx["timestamp"] >= s).to_numpy() & (
            tx["timestamp"] < s + pd.Timedelta(days=window_days)).to_numpy()
        spend.append(tx["amount"].to_numpy()[inside].sum())
        lines.append(int(inside.sum()))
    return np.array(spend), np.array(lines)


@pytest.mark.parametrize("ids", ["categorical", "object", "mixed"])
def test_window_outcomes_equal_a_loop(ids):
    rng = np.random.default_rng(3)
    n = 3_000
    member = rng.integers(0, 40, n).astype(str)
    tx = pd.DataFrame({
        "member_id": member,
        "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 120 * 86_400, n),
                                                                   unit="s"),
        "amount": rng.normal(10, 5, n).round(2),  # returns too
        "item_id": "i",
    })
    if ids == "categorical":
        tx["member_id"] = pd.Categorical(tx["member_id"], categories=[*map(str, range(45))])
    elif ids == "mixed":  # 7 and "7" are one member, as their printed ids are
        tx["member_id"] = tx["member_id"].astype(object)
        tx.loc[tx["member_id"] == "7", "member_id"] = [7, "7"] * int(
            (tx["member_id"] == "7").sum() // 2) + [7] * int((tx["member_id"] == "7").sum() % 2)
    rows_member = np.array([*map(str, rng.integers(0, 45, 200))])  # 40-44 never bought
    rows_start = (pd.Timestamp("2024-01-01")
                  + pd.to_timedelta(rng.integers(0, 130, 200), unit="D")).to_numpy()
    as_of = pd.Timestamp("2024-04-01")  # later lines ignored, some windows cut there
    got = window_outcomes(tx, rows_member, rows_start, 14.0, as_of)
    want = _loop(tx, rows_member, rows_start, 14.0, as_of)
    np.testing.assert_allclose(got[0], want[0], atol=1e-9)
    np.testing.assert_array_equal(got[1], want[1])
    assert (want[1] > 0).sum() > 50 and (want[1] == 0).sum() > 10


def test_a_missing_member_id_is_not_counted_as_another_member():
    tx = pd.DataFrame({"member_id": pd.Categorical(["a", None, "b"]),
                       "timestamp": pd.to_datetime(["2024-01-02"] * 3), "amount": [1.0, 2.0, 4.0]})
    spend, lines = window_outcomes(tx, np.array(["a", "b"]),
                                   pd.to_datetime(["2024-01-01"] * 2).to_numpy(), 14.0,
                                   pd.Timestamp("2024-02-01"))
    assert spend.tolist() == [1.0, 4.0] and lines.tolist() == [1, 1]

"""The top department of the engine's member features, picked in pandas from rows the
spend mix already fetched (:func:`_first_largest`), is the engine query's pick
(:func:`_argmax`): largest spend, ties to the first name, None without spend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.relational import connect
from features.relational.portable import register_frame
from features.relational.purchases import _argmax, _first_largest


def test_first_largest_equals_the_engine_argmax_with_ties():
    rng = np.random.default_rng(7)
    n = 400
    long = pd.DataFrame({
        "member_id": [f"m{i % 97}" for i in range(n)],
        "department": [f"d{k}" for k in rng.integers(0, 12, n)],
        # few distinct values: many members have two departments tied for the top
        "spend": rng.integers(1, 4, n).astype("float64"),
    }).drop_duplicates(["member_id", "department"]).sample(frac=1.0, random_state=3)
    con = connect()
    table = register_frame(con, "long_spend", long)
    index = pd.Index([*sorted(long["member_id"].unique())[::-1], "never-bought"])
    has = np.ones(len(index), dtype=bool)
    has[-1] = False
    want = _argmax(table, "department", index, has)
    got = _first_largest(long, "department", index, has)
    assert list(got) == list(want)
    assert got[-1] is None
    # ties were exercised, and broken by name
    top = long.groupby("member_id")["spend"].transform("max") == long["spend"]
    tied = long[top].groupby("member_id")["department"].agg(sorted)
    tied = tied[tied.map(len) > 1]
    assert len(tied) > 5
    picks = dict(zip(index, got))
    assert all(picks[m] == names[0] for m, names in tied.items())

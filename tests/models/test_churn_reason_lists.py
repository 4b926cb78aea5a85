"""Churn reason codes as flat per-member lists (ReasonLists) against the long-frame path.

The oracle below is the long-table code the pipeline used before the lists
(every column of the members passed to each text, then sorted and grouped into
Python lists per member); the lists must hold the same codes and sentences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.lifecycle.churn_reasons import (
    DRIVERS,
    ReasonLists,
    driver_impacts,
    reason_lists,
    risky_side,
    top_reasons,
    usable_drivers,
)
from models.lifecycle.tabular import to_matrix


def _old_reason_table(x, impacts, reference, drivers, top, min_impact) -> pd.DataFrame:
    """The long table as built before ReasonLists (commit 6a37a55), kept as the oracle."""
    n, _ = impacts.shape
    eligible = (impacts >= min_impact) & risky_side(x, reference, drivers)
    score = np.where(eligible, impacts, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")[:, :top]
    rows = np.repeat(np.arange(n), order.shape[1])
    cols = order.ravel()
    keep = np.isfinite(score[rows, cols])
    rows, cols = rows[keep], cols[keep]
    rank = np.tile(np.arange(1, order.shape[1] + 1), n)[keep]
    texts = np.empty(rows.size, dtype=object)
    for j, driver in enumerate(drivers):
        sel = cols == j
        if sel.any():
            member_rows = np.unique(rows[sel])
            text = driver.text(x.iloc[member_rows], reference)
            lookup = pd.Series(text.to_numpy(dtype=object), index=member_rows)
            texts[sel] = lookup.loc[rows[sel]].to_numpy()
    return pd.DataFrame({
        "member_id": np.asarray(x.index)[rows], "rank": rank.astype(np.int64),
        "code": np.array([d.code for d in drivers], dtype=object)[cols],
        "impact": impacts[rows, cols], "text": texts,
    })


def _old_lists(table: pd.DataFrame, index: pd.Index, column: str) -> list[list[str]]:
    grouped = table.sort_values(["member_id", "rank"]).groupby("member_id", sort=False)
    found = grouped[column].agg(list).reindex(index)
    return [v if isinstance(v, list) else [] for v in found.tolist()]


def _lists(found: ReasonLists, values: np.ndarray) -> list[list[str]]:
    return [list(values[a:b]) for a, b in zip(found.offsets[:-1], found.offsets[1:])]


@pytest.fixture(scope="module")
def fitted(case):
    X_val, _ = case.windows.validation()
    model = case.churn
    names = list(model.feature_names_in_)
    drivers = usable_drivers(names)
    risk = model.predict_proba(X_val)
    return model, X_val, drivers, risk


@pytest.mark.parametrize("top", [1, 3])
def test_lists_equal_the_long_frame_grouped_per_member(fitted, top):
    model, X_val, drivers, risk = fitted
    names = list(model.feature_names_in_)
    impacts = driver_impacts(model._predict, to_matrix(X_val, names), names,
                             model.reference_.to_numpy(), drivers)
    want = _old_reason_table(X_val, impacts, model.reference_, drivers, top, 0.01)
    found = reason_lists(X_val, impacts, model.reference_, drivers, top, 0.01)
    assert len(found.offsets) == len(X_val) + 1 and found.offsets[-1] == len(want) > 0
    counts = np.diff(found.offsets)
    assert counts.max() == top and (counts < top).any() and (counts == 0).any()
    assert _lists(found, found.codes) == _old_lists(want, X_val.index, "code")
    assert _lists(found, found.texts) == _old_lists(want, X_val.index, "text")
    np.testing.assert_array_equal(found.impacts, want["impact"].to_numpy())
    np.testing.assert_array_equal(found.rank, want["rank"].to_numpy())


def test_the_precomputed_risk_gives_the_same_lists(fitted):
    model, X_val, _, risk = fitted
    plain = model.reason_lists(X_val)
    given = model.reason_lists(X_val, risk=risk)
    for field in ("offsets", "code_index", "impacts", "texts"):
        np.testing.assert_array_equal(getattr(plain, field), getattr(given, field))
    with pytest.raises(ValueError, match=r"risk has shape \(2,\); expected"):
        model.reason_lists(X_val, risk=risk[:2])


def test_each_text_reads_only_the_columns_it_quotes(fitted):
    _, X_val, _, _ = fitted
    reference = fitted[0].reference_
    for driver in DRIVERS:
        quoted = [c for c in driver.quoted if c in X_val.columns]
        full = driver.text(X_val, reference).tolist()
        assert driver.text(X_val[quoted], reference).tolist() == full, driver.code


def test_ties_keep_driver_order_and_ineligible_drivers_are_left_out():
    impacts = np.array([
        [0.2, 0.2, 0.2, 0.2],   # a four-way tie: the first three drivers, in order
        [0.1, 0.5, np.nan, 0.3],  # NaN: not on the risky side
        [0.0, 0.0, 0.0, 0.0],   # nothing eligible
        [0.05, 0.9, 0.4, 0.4],  # one ineligible (below), a tie for second
    ])
    eligible = np.array([
        [True, True, True, True],
        [True, True, False, True],
        [False, False, False, False],
        [True, False, True, True],
    ])
    offsets, cols = top_reasons(impacts, eligible, 3)
    assert offsets.tolist() == [0, 3, 6, 6, 9]
    assert cols.tolist() == [0, 1, 2, 1, 3, 0, 2, 3, 0]
    offsets, cols = top_reasons(impacts, eligible, 1)
    assert offsets.tolist() == [0, 1, 2, 2, 3] and cols.tolist() == [0, 1, 2]


def test_an_empty_frame_has_no_lists(fitted):
    model, X_val, _, _ = fitted
    assert model.reason_lists(X_val.iloc[:0]) is None
    assert list(model.reason_codes(X_val.iloc[:0]).columns) == [
        "member_id", "rank", "code", "impact", "text"]

"""Churn/value windows and purchase summaries built on DuckDB equal the pandas ones (issue 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import ConfigError, DataError
from features.loading import load_dataset
from features.relational import connect, tables_from_dataset
from models.lifecycle import engine_purchase_summary, purchase_summary
from models.lifecycle.engine_windows import engine_horizon_days, make_engine_windows
from models.lifecycle.windows import default_horizon_days, make_windows


@pytest.fixture(scope="module")
def synth(synth_data):
    ds = load_dataset(synth_data, now="2100-01-01")
    lines = tables_from_dataset(connect(), ds)["transactions"]
    small = {"items": ds.items, "members": ds.members, "offer_events": ds.offer_events}
    return ds, lines, small, ds.last_timestamp.normalize() + pd.Timedelta(days=1)


def assert_same_windows(got, want) -> None:
    assert (got.cutoffs, got.horizon_days, got.n_members) == (
        want.cutoffs, want.horizon_days, want.n_members)
    assert got.sample_fraction == pytest.approx(want.sample_fraction)
    for name in ("features", "outcomes"):
        g, w = getattr(got, name), getattr(want, name)
        assert list(g.columns) == list(w.columns), name
        assert g.index.equals(w.index), name
        for col in w.columns:
            if pd.api.types.is_float_dtype(w[col].dtype):
                np.testing.assert_allclose(g[col].to_numpy(float), w[col].to_numpy(float),
                                           rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=col)
            else:
                assert g[col].tolist() == w[col].tolist(), col
                assert g[col].dtype == w[col].dtype, col


def test_windows_equal_pandas_with_the_derived_horizon(synth):
    ds, lines, small, as_of = synth
    want = make_windows(ds, as_of)
    got = make_engine_windows(lines, small, as_of)
    assert want.outcomes["churned"].any() and not want.outcomes["churned"].all()
    assert want.outcomes["future_spend"].gt(0).any()
    assert_same_windows(got, want)


def test_windows_equal_pandas_on_a_member_sample_and_other_options(synth):
    ds, lines, small, as_of = synth
    want = make_windows(ds, as_of, 21, n_windows=4, step_days=10, max_members=200,
                        random_state=3)
    got = make_engine_windows(lines, small, as_of, 21, n_windows=4, step_days=10,
                              max_members=200, random_state=3)
    assert want.sample_fraction < 1.0 and len(want.cutoffs) == 4
    assert_same_windows(got, want)


def test_stacked_windows_equal_pandas(synth):
    ds, lines, small, as_of = synth
    want = make_windows(ds, as_of, 28, n_windows=None, max_members=300, random_state=2)
    got = make_engine_windows(lines, small, as_of, 28, n_windows=None, max_members=300,
                              random_state=2)
    assert len(want.cutoffs) > 3
    assert_same_windows(got, want)


def test_windows_of_several_horizons_read_features_built_in_one_pass(synth, monkeypatch):
    """prefetch_features builds the member features of every window cutoff of several
    horizons with one member_features_at call; the windows then build none alone and
    equal pandas' (issue 11)."""
    import models.lifecycle.engine_windows as engine_windows
    from models.lifecycle.buyer_sample import engine_sample_buyers

    ds, lines, small, as_of = synth
    calls = []
    together = engine_windows.member_features_at
    monkeypatch.setattr(engine_windows, "member_features_at",
                        lambda *a, **k: calls.append(list(a[2])) or together(*a, **k))
    monkeypatch.setattr(engine_windows, "member_features",
                        lambda *a, **k: pytest.fail("a cutoff was built alone"))
    horizons = (14, 28, 10_000)  # the last does not fit the data: skipped
    with engine_sample_buyers(lines, as_of, 300, random_state=2) as sample:
        engine_windows.prefetch_features(sample, small, horizons)
        got = {h: make_engine_windows(lines, small, as_of, h, n_windows=None, sample=sample)
               for h in horizons[:2]}
    assert len(calls) == 1
    assert set(calls[0]) == set(got[14].cutoffs) | set(got[28].cutoffs)
    assert len(calls[0]) < len(got[14].cutoffs) + len(got[28].cutoffs)  # shared cutoffs once
    for h, windows in got.items():
        assert_same_windows(windows, make_windows(ds, as_of, h, n_windows=None, max_members=300,
                                                  random_state=2))


def test_windows_from_files_read_by_duckdb_equal_pandas(synth, synth_data):
    """Out of core end to end: lines and offer events as the DuckDB loader reads them."""
    from features.relational import load_relational

    ds, _, _, as_of = synth
    data = load_relational(connect(), synth_data, now="2100-01-01")
    small = {"items": data.items, "members": data.members, "offer_events": data.offer_events}
    want = make_windows(ds, as_of, 21, max_members=300, random_state=1)
    got = make_engine_windows(data.transactions, small, as_of, 21, max_members=300,
                              random_state=1)
    assert want.features["offers_sent"].gt(0).any()
    assert_same_windows(got, want)


def test_the_horizon_rule_agrees_with_pandas(synth):
    ds, lines, _, _ = synth
    assert engine_horizon_days(lines) == default_horizon_days(ds.transactions)
    assert engine_horizon_days(lines, quantile=0.5, min_days=7) == default_horizon_days(
        ds.transactions, quantile=0.5, min_days=7)


def test_bad_options_are_named(synth):
    ds, lines, small, as_of = synth
    with pytest.raises(ConfigError, match="n_windows=1"):
        make_engine_windows(lines, small, as_of, n_windows=1)
    with pytest.raises(ConfigError, match="horizon_days=0"):
        make_engine_windows(lines, small, as_of, 0)
    with pytest.raises(ConfigError, match="earliest cutoff"):
        make_engine_windows(lines, small, as_of, 90, n_windows=10)
    with pytest.raises(ConfigError, match="quantile"):
        engine_horizon_days(lines, quantile=0)
    with pytest.raises(DataError, match="no transactions before"):
        make_engine_windows(lines, small, pd.Timestamp("1990-01-01"))


@pytest.mark.parametrize("as_of", ["2100-01-01", "mid"])
def test_purchase_summary_equals_pandas(synth, as_of):
    ds, lines, _, end = synth
    as_of = end - pd.Timedelta(days=45, hours=7) if as_of == "mid" else pd.Timestamp(as_of)
    want = purchase_summary(ds.transactions, as_of)
    got = engine_purchase_summary(lines, as_of)
    assert want["monetary"].isna().any() and (want["frequency"] > 0).any()
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)


def test_purchase_summary_in_slices_of_members_equals_pandas(synth, monkeypatch):
    """Above LINES_PER_PASS lines the members are summarised a hash slice at a time (3M
    members ran out of DuckDB's memory in one query): the same frame."""
    import models.lifecycle.engine_summary as engine_summary

    ds, lines, _, end = synth
    queries = []
    per_member = engine_summary._per_member
    monkeypatch.setattr(engine_summary, "LINES_PER_PASS", len(ds.transactions) // 4 + 1)
    monkeypatch.setattr(engine_summary, "_per_member",
                        lambda part: queries.append(1) or per_member(part))
    want = purchase_summary(ds.transactions, end)
    pd.testing.assert_frame_equal(engine_purchase_summary(lines, end), want, rtol=1e-9)
    assert len(queries) == 4


def test_purchase_summary_of_returns_same_day_lines_and_one_time_buyers():
    """Refunds inside a day net out; a repeat day whose net spend is negative has no monetary."""
    tx = pd.DataFrame({
        "member_id": pd.Categorical(["a", "a", "a", "a", "b", "c", "c"]),
        "item_id": pd.Categorical(["i"] * 7),
        "timestamp": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-05",
                                     "2024-01-09", "2024-01-03", "2024-01-02", "2024-01-04"],
                                    format="ISO8601"),
        "basket_id": [1, 2, 3, 4, 5, 6, 7],
        "quantity": 1.0, "amount": [10.0, -4.0, 20.0, -8.0, 3.0, 5.0, 7.0], "discount": 0.0,
    })
    from features.dataset import Dataset

    ds = Dataset(tx, pd.DataFrame({"item_id": ["i"], "category": ["c"]}),
                 pd.DataFrame({"member_id": ["a", "b", "c"]}),
                 pd.DataFrame({"member_id": [], "offer_id": [], "event": [],
                               "timestamp": pd.to_datetime([])}))
    lines = tables_from_dataset(connect(), ds)["transactions"]
    want = purchase_summary(tx, "2024-01-10 12:00")
    assert want.loc["a", "monetary"] == 20.0 and np.isnan(want.loc["b", "monetary"])
    pd.testing.assert_frame_equal(engine_purchase_summary(lines, "2024-01-10 12:00"), want)
    with pytest.raises(DataError, match="no transactions before"):
        engine_purchase_summary(lines, "2023-01-01")


def _outcomes_one_by_one(tx: pd.DataFrame, cutoff, horizon: pd.Timedelta) -> pd.DataFrame:
    """The outcomes of one window straight from the lines (the test's own oracle)."""
    ts, member = tx["timestamp"], tx["member_id"].astype(str)
    eligible = pd.Index(sorted(member[ts < cutoff].unique()), dtype="str", name="member_id")
    during = (ts >= cutoff) & (ts < cutoff + horizon)
    recent = (ts >= cutoff - horizon) & (ts < cutoff)
    return pd.DataFrame({
        "future_baskets": tx[during].groupby(member[during])["basket_id"].nunique(),
        "future_spend": tx[during].groupby(member[during])["amount"].sum(),
        "past_spend": tx[recent].groupby(member[recent])["amount"].sum(),
    }).reindex(eligible).fillna(0)


def _assert_outcomes_match(got: dict, tx: pd.DataFrame, cutoffs, horizon) -> None:
    assert sorted(got) == sorted({pd.Timestamp(c) for c in cutoffs})
    for cut, frame in got.items():
        want = _outcomes_one_by_one(tx, cut, horizon)
        frame = frame.fillna(0)
        assert frame.index.equals(want.index), cut
        assert frame["future_baskets"].astype("int64").tolist() == (
            want["future_baskets"].astype("int64").tolist()), cut
        for col in ("future_spend", "past_spend"):
            np.testing.assert_allclose(frame[col].to_numpy(float), want[col].to_numpy(float),
                                       rtol=1e-9, atol=1e-9, err_msg=f"{cut} {col}")


def test_window_outcomes_of_many_cutoffs_equal_one_at_a_time_at_the_edges():
    """window_outcomes (all cutoffs in one query) = each window's outcomes computed alone:
    a basket straddling a cutoff (counted once, its earlier line in the past spend), lines
    at a cutoff's exact time (after it), a refund, tied times in a basket, overlapping
    windows, a cutoff before every line and one after the last, unsorted repeated cutoffs
    (issue 11)."""
    from features.dataset import Dataset
    from models.lifecycle.engine_windows import window_outcomes

    tx = pd.DataFrame({
        "member_id": pd.Categorical(["a", "a", "a", "a", "a", "b", "b", "b", "c", "c"]),
        "item_id": pd.Categorical(["i"] * 10),
        "timestamp": pd.to_datetime([
            "2024-01-01 09:00", "2024-01-01 09:00", "2024-01-09 23:59", "2024-01-10 00:00",
            "2024-01-15", "2024-01-05", "2024-01-10", "2024-01-12", "2024-01-20",
            "2024-01-20"], format="ISO8601"),
        "basket_id": [1, 1, 2, 2, 3, 4, 5, 6, 7, 8],
        "quantity": 1.0,
        "amount": [10.0, 2.5, 4.0, 6.0, -3.0, 7.0, 1.0, 2.0, 5.0, 5.0],
        "discount": 0.0,
    })
    ds = Dataset(tx, pd.DataFrame({"item_id": ["i"], "category": ["c"]}),
                 pd.DataFrame({"member_id": ["a", "b", "c"]}),
                 pd.DataFrame({"member_id": [], "offer_id": [], "event": [],
                               "timestamp": pd.to_datetime([])}))
    lines = tables_from_dataset(connect(), ds)["transactions"]
    horizon = pd.Timedelta(days=7)
    cutoffs = [pd.Timestamp(c) for c in ("2024-01-10", "2023-12-01", "2024-01-05",
                                         "2024-01-10", "2024-01-13 12:00", "2024-02-01")]
    got = window_outcomes(lines, cutoffs, horizon)
    _assert_outcomes_match(got, tx, cutoffs, horizon)
    assert got[pd.Timestamp("2023-12-01")].empty
    at_10 = got[pd.Timestamp("2024-01-10")].fillna(0)
    assert at_10.loc["a", "future_baskets"] == 2 and at_10.loc["a", "past_spend"] == 4.0
    assert at_10.loc["b", "future_baskets"] == 2 and at_10.loc["b", "past_spend"] == 7.0
    assert list(at_10.index) == ["a", "b"]


@pytest.mark.parametrize("days", [7, 28])
def test_window_outcomes_equal_one_at_a_time_on_synthetic_lines(synth, days):
    from models.lifecycle.engine_windows import window_outcomes

    ds, lines, _, as_of = synth
    horizon = pd.Timedelta(days=days)
    cutoffs = [as_of - horizon * k - pd.Timedelta(hours=5 * k) for k in range(1, 7)]
    got = window_outcomes(lines.filter(lines.ts_us < as_of.value // 1000), cutoffs, horizon)
    assert any(frame["future_baskets"].fillna(0).eq(0).any() for frame in got.values())
    _assert_outcomes_match(got, ds.transactions, cutoffs, horizon)

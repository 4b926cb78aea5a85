"""Program KPIs on the engine equal the pandas KPIs, the oracle (issue 11)."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.dataset import Dataset
from features.errors import ConfigError, DataError
from features.kpis import program_kpis
from features.loading import load_dataset
from features.relational import connect, tables_from_dataset
from features.relational.kpis import month_index
from features.relational.kpis import program_kpis as relational_kpis


def assert_same_kpis(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for col in want.columns:
        w, g = want[col], got[col]
        if pd.api.types.is_float_dtype(w.dtype):
            np.testing.assert_allclose(g.to_numpy(dtype=float), w.to_numpy(dtype=float),
                                       rtol=1e-9, equal_nan=True, err_msg=col)
        else:
            assert g.astype(object).tolist() == w.astype(object).tolist(), col
            assert g.dtype == w.dtype, col


@pytest.fixture(scope="module")
def synth(synth_data):
    return load_dataset(synth_data, now="2100-01-01")


@pytest.mark.parametrize("period", ["month", "quarter", "year"])
def test_kpis_equal_pandas_on_synthetic_data(synth, period):
    tables = tables_from_dataset(connect(), synth)
    want = program_kpis(synth, period)
    got = relational_kpis(tables["transactions"], synth.members, tables["offer_events"], period)
    assert want["offers_sent"].sum() > 0 and want["retained_members"].sum() > 0
    assert want["active_90d"].gt(0).any() and (want["repeat_purchase_rate"] > 0).any()
    assert_same_kpis(got, want)


def test_joined_at_members_without_purchases_and_gaps_in_activity():
    """Join dates before the first purchase, a member who never buys, an empty month."""
    tx = pd.DataFrame({
        "member_id": pd.Categorical(["a", "a", "b", "b", "c"]),
        "item_id": pd.Categorical(["i"] * 5),
        "timestamp": pd.to_datetime(["2024-01-03 10:00", "2024-04-05", "2024-01-31 23:59:59",
                                     "2024-01-31 23:59:59", "2024-04-30"], format="ISO8601"),
        "basket_id": [1, 2, 3, 3, 4],
        "quantity": 1.0, "amount": [10.0, 20.0, 5.0, 7.5, -3.0], "discount": 0.0,
    })
    members = pd.DataFrame({"member_id": ["a", "b", "c", "z"],
                            "joined_at": pd.to_datetime(["2023-12-01", None, "2024-02-10",
                                                         "2024-03-01"])})
    events = pd.DataFrame({"member_id": ["a", "b", "a"], "offer_id": ["o"] * 3,
                           "event": ["sent", "sent", "redeemed"],
                           "timestamp": pd.to_datetime(["2024-02-01", "2024-04-01",
                                                        "2024-04-02"])})
    ds = Dataset(tx, pd.DataFrame({"item_id": ["i"], "category": ["c"]}), members, events)
    tables = tables_from_dataset(connect(), ds)
    want = program_kpis(ds)
    got = relational_kpis(tables["transactions"], members, tables["offer_events"])
    assert want["active_members"].tolist() == [2, 0, 0, 2]  # February and March: no one
    assert want["offers_sent"].tolist() == [0, 1, 0, 1]
    assert_same_kpis(got, want)
    # The events may also come as the canonical frame (the relational loader keeps them so).
    assert_same_kpis(relational_kpis(tables["transactions"], members, events), want)


def test_a_purchase_three_months_back_still_counts_in_the_90_day_activity():
    """Feb + Mar + Apr are 89 days (2023): a purchase on 31 January is inside the 90 days
    before 1 May, so the member is active at April's end from a purchase three periods back;
    one on 30 January is not."""
    tx = pd.DataFrame({
        "member_id": pd.Categorical(["a", "b", "c", "c"]),
        "item_id": pd.Categorical(["i"] * 4),
        "timestamp": pd.to_datetime(["2023-01-31 08:00", "2023-01-30 23:00", "2023-01-02 09:00",
                                     "2023-06-20 12:00"]),
        "basket_id": [1, 2, 3, 4], "quantity": 1.0, "amount": 5.0, "discount": 0.0,
    })
    members = pd.DataFrame({"member_id": ["a", "b", "c"], "joined_at": pd.NaT})
    events = pd.DataFrame({"member_id": [], "offer_id": [], "event": [],
                           "timestamp": pd.to_datetime([])})
    ds = Dataset(tx, pd.DataFrame({"item_id": ["i"], "category": ["c"]}), members, events)
    want = program_kpis(ds)
    assert want["active_90d"].tolist() == [3, 3, 3, 1, 0, 1]  # April: "a" only
    assert_same_kpis(relational_kpis(tables_from_dataset(connect(), ds)["transactions"]), want)


def test_month_index_agrees_with_the_calendar_across_leap_years_and_centuries():
    stamps = pd.to_datetime(["1899-12-31 23:59:59", "1900-02-28", "1900-03-01", "1969-12-31",
                             "1970-01-01", "2000-02-29 12:00", "2000-03-01", "2023-12-31",
                             "2024-02-29", "2100-02-28", "2100-03-01 00:00:01", "2399-12-31"],
                            format="ISO8601")
    t = ibis.memtable(pa.table({"ts_us": stamps.astype("datetime64[us]").astype("int64")}))
    con = connect()
    got = con.to_pyarrow(t.select(m=month_index(t.ts_us))).column("m").to_pylist()
    assert got == [s.year * 12 + s.month - 1 for s in stamps]


def test_bad_period_and_empty_lines_are_named(synth):
    tables = tables_from_dataset(connect(), synth)
    lines = tables["transactions"]
    with pytest.raises(ConfigError, match="period='week'"):
        relational_kpis(lines, period="week")
    with pytest.raises(DataError, match="transactions are empty"):
        relational_kpis(lines.filter(lines.ts_us < 0))


def test_kpis_counted_over_member_parts_equal_one_pass(synth, monkeypatch):
    """Large programs count baskets and active members per part of the members (the one-pass
    DISTINCT ran DuckDB out of memory at 3M members): the sums are the same KPIs."""
    import features.relational.kpis as kpis

    tables = tables_from_dataset(connect(), synth)
    lines = tables["transactions"]
    n = len(synth.transactions)
    monkeypatch.setattr(kpis, "LINES_PER_PASS", n // 4)
    parts = kpis.slices(lines, "member_id", n, kpis.LINES_PER_PASS)
    assert len(parts) >= 4
    members = [set(p.select("member_id").distinct().to_pyarrow()["member_id"].to_pylist())
               for p in parts]
    assert sum(len(m) for m in members) == len(set().union(*members))  # disjoint
    assert sum(p.count().to_pyarrow().as_py() for p in parts) == n  # every line once
    got = relational_kpis(lines, synth.members, tables["offer_events"], "month")
    assert_same_kpis(got, program_kpis(synth, "month"))

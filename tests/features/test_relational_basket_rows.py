"""The lines summed per (member, basket, time) answer the per-member queries as the lines do
(issue 11): the program KPIs, the members' baskets and the purchase-cycle summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.dataset import Dataset
from features.kpis import program_kpis
from features.loading import load_dataset
from features.relational import connect, tables_from_dataset
from features.relational.kpis import program_kpis as relational_kpis
from features.relational.portable import line_count, to_scalar
from features.relational.purchases import basket_rows, purchase_aggregates
from models.lifecycle import engine_purchase_summary
from models.lifecycle.bgnbd import purchase_summary
from tests.features.test_relational_kpis import assert_same_kpis


@pytest.fixture(scope="module")
def synth(synth_data):
    return load_dataset(synth_data, now="2100-01-01")


@pytest.fixture(scope="module")
def lines(synth):
    return tables_from_dataset(connect(), synth)


def _straddling() -> Dataset:
    """Baskets whose lines have different times: one across a month's end, one across
    the cutoff of the summaries below, and a return."""
    tx = pd.DataFrame({
        "member_id": pd.Categorical(["a", "a", "a", "b", "b", "b", "c"]),
        "item_id": pd.Categorical(["i", "j", "i", "i", "j", "i", "j"]),
        "timestamp": pd.to_datetime(
            ["2024-01-31 23:59:50", "2024-02-01 00:00:10", "2024-03-05 09:00",
             "2024-02-14 23:59:59", "2024-02-15 00:00:01", "2024-03-20 12:00",
             "2024-03-01 08:00"], format="ISO8601"),
        "basket_id": [1, 1, 2, 3, 3, 4, 5],
        "quantity": 1.0, "amount": [10.0, 5.0, 7.0, 4.0, 6.0, -2.0, 3.0],
        "discount": [0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0],
    })
    items = pd.DataFrame({"item_id": ["i", "j"], "category": ["x", "y"]})
    events = pd.DataFrame({"member_id": ["a"], "offer_id": ["o"], "event": ["sent"],
                           "timestamp": pd.to_datetime(["2024-02-01"])})
    return Dataset(tx, items, pd.DataFrame({"member_id": ["a", "b", "c"]}), events)


def test_the_basket_rows_hold_every_line_once(synth, lines):
    rows = basket_rows(lines["transactions"])
    n_rows = to_scalar(rows.count())
    assert to_scalar(line_count(rows)) == len(synth.transactions) > n_rows
    # a basket's lines share their time in the synthetic data: about a fifth as many rows
    assert n_rows < 0.5 * len(synth.transactions)
    assert to_scalar(rows.amount.sum()) == pytest.approx(synth.transactions["amount"].sum())
    empty = rows.filter(rows.ts_us < 0)
    assert to_scalar(line_count(empty)) == 0


@pytest.mark.parametrize("period", ["month", "quarter"])
def test_kpis_on_the_basket_rows_equal_pandas(synth, lines, period):
    got = relational_kpis(basket_rows(lines["transactions"]), synth.members,
                          lines["offer_events"], period)
    assert_same_kpis(got, program_kpis(synth, period))


def test_baskets_across_midnight_a_month_end_and_the_cutoff():
    ds = _straddling()
    tables = tables_from_dataset(connect(), ds)
    rows = basket_rows(tables["transactions"])
    assert to_scalar(rows.count()) == 7  # every line its own time here
    assert_same_kpis(relational_kpis(rows, ds.members, tables["offer_events"]),
                     program_kpis(ds))
    cutoff = pd.Timestamp("2024-02-15")  # basket 3 has a line on each side
    want = purchase_summary(ds.transactions, cutoff)
    pd.testing.assert_frame_equal(engine_purchase_summary(rows, cutoff), want)
    pd.testing.assert_frame_equal(
        purchase_aggregates(tables["transactions"], ds.items, cutoff, baskets=rows),
        purchase_aggregates(tables["transactions"], ds.items, cutoff))


def test_the_members_baskets_and_the_summary_from_the_basket_rows(synth, lines):
    tx = lines["transactions"]
    rows = basket_rows(tx)
    cutoff = synth.transactions["timestamp"].quantile(0.7).normalize()
    summary = engine_purchase_summary(rows, cutoff)
    pd.testing.assert_frame_equal(summary, engine_purchase_summary(tx, cutoff),
                                  check_exact=False, rtol=1e-12)
    assert len(summary) > 100 and (summary["frequency"] > 0).mean() > 0.5
    got = purchase_aggregates(tx, synth.items, cutoff, baskets=rows)
    want = purchase_aggregates(tx, synth.items, cutoff)
    assert got.index.equals(want.index) and list(got.columns) == list(want.columns)
    for column in want.columns:
        if pd.api.types.is_float_dtype(want[column].dtype):
            np.testing.assert_allclose(got[column].to_numpy(float), want[column].to_numpy(float),
                                       rtol=1e-12, equal_nan=True, err_msg=column)
        else:
            assert got[column].astype(object).tolist() == want[column].astype(object).tolist()
    assert (got["n_lines"] > got["frequency"]).any()  # lines, not basket rows, are counted

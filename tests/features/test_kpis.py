"""Program KPIs (features.kpis) and the ``offers kpis`` command on hand-computed fixtures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from features.dataset import Dataset
from features.errors import ConfigError, DataError
from features.kpis import KPI_COLUMNS, program_kpis
from training.cli.kpis import kpis

# The fixture: five members, January to early April 2024 (a leap year).
#
#   member  basket  timestamp            amount
#   A       1       2024-01-05 10:00     10
#   A       2       2024-01-20 10:00     20
#   A       3       2024-02-10 10:00     30
#   A       4       2024-03-15 10:00     40
#   A       11      2024-04-02 10:00      5
#   B       5       2024-01-10 10:00      5 + 15 (two lines, one basket)
#   C       7       2024-02-03 10:00     60
#   C       8       2024-02-25 10:00     10
#   D       6       2024-03-01 00:00     50   (exactly at the March start: March, not February)
#   D       9       2024-03-30 10:00    100
#   E       10      2024-01-01 23:00     25
#
# First purchases (membership start without a members table):
#   A Jan 5, B Jan 10, C Feb 3, D Mar 1 00:00 (exactly a period start), E Jan 1 23:00.
TX_ROWS = [
    ("A", "2024-01-05 10:00", 10.0, 1),
    ("A", "2024-01-20 10:00", 20.0, 2),
    ("A", "2024-02-10 10:00", 30.0, 3),
    ("A", "2024-03-15 10:00", 40.0, 4),
    ("A", "2024-04-02 10:00", 5.0, 11),
    ("B", "2024-01-10 10:00", 5.0, 5),
    ("B", "2024-01-10 10:00", 15.0, 5),
    ("C", "2024-02-03 10:00", 60.0, 7),
    ("C", "2024-02-25 10:00", 10.0, 8),
    ("D", "2024-03-01 00:00", 50.0, 6),
    ("D", "2024-03-30 10:00", 100.0, 9),
    ("E", "2024-01-01 23:00", 25.0, 10),
]

# Offer events: January 2 sent / 1 redeemed; February 1 sent / 0 redeemed;
# March 0 sent / 1 redeemed (C redeems in March what was sent in February).
EVENT_ROWS = [
    ("A", "o1", "sent", "2024-01-03 09:00"),
    ("B", "o1", "sent", "2024-01-04 09:00"),
    ("B", "o1", "viewed", "2024-01-05 09:00"),
    ("A", "o1", "redeemed", "2024-01-10 09:00"),
    ("C", "o2", "sent", "2024-02-01 00:00"),
    ("C", "o2", "viewed", "2024-02-02 09:00"),
    ("C", "o2", "redeemed", "2024-03-02 09:00"),
    ("D", "o3", "dismissed", "2024-03-05 09:00"),
]


def make_dataset(tx_rows=TX_ROWS, event_rows=EVENT_ROWS, joined_at=None) -> Dataset:
    """A Dataset in canonical form; ``joined_at`` maps member id -> join time."""
    tx = pd.DataFrame(tx_rows, columns=["member_id", "timestamp", "amount", "basket_id"])
    tx["member_id"] = tx["member_id"].astype("category")
    tx["timestamp"] = pd.to_datetime(tx["timestamp"]).astype("datetime64[ns]")
    tx["basket_id"] = tx["basket_id"].astype("int64")
    tx["item_id"] = pd.Categorical(["i1"] * len(tx))
    tx["quantity"] = 1.0
    tx["discount"] = 0.0
    items = pd.DataFrame({"item_id": ["i1"], "category": ["c"], "department": ["c"]})
    ids = sorted(set(tx["member_id"].astype(str)) | set(joined_at or {}))
    joined = [pd.Timestamp(joined_at[m]) if joined_at and m in joined_at else pd.NaT for m in ids]
    members = pd.DataFrame(
        {"member_id": ids, "joined_at": pd.Series(joined, dtype="datetime64[ns]")}
    )
    events = pd.DataFrame(event_rows, columns=["member_id", "offer_id", "event", "timestamp"])
    events["timestamp"] = pd.to_datetime(events["timestamp"]).astype("datetime64[ns]")
    return Dataset(tx, items, members, events)


def column(table: pd.DataFrame, name: str) -> list:
    return table[name].tolist()


@pytest.fixture
def monthly() -> pd.DataFrame:
    return program_kpis(make_dataset(), period="month")


@pytest.mark.parametrize("as_basket", [
    lambda b: b.astype(str).astype("category"),   # text ids, kept as a categorical
    lambda b: b + (1 << 60),                        # integers too large for the packed key
    lambda b: b.astype(str),                        # plain text
], ids=["categorical", "huge-int", "text"])
def test_basket_ids_of_any_kind_count_the_same(monthly, as_basket):
    ds = make_dataset()
    ds.transactions["basket_id"] = as_basket(ds.transactions["basket_id"])
    pd.testing.assert_frame_equal(program_kpis(ds, period="month"), monthly)


def test_monthly_periods_and_partial_flags(monthly):
    assert list(monthly.columns) == list(KPI_COLUMNS)
    assert column(monthly, "period") == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert column(monthly, "start") == list(
        pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
    )
    assert column(monthly, "end") == list(
        pd.to_datetime(["2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"])
    )
    # Data runs from Jan 1 to Apr 2: January is complete, April is not.
    assert column(monthly, "partial") == [False, False, False, True]


def test_monthly_membership_counts(monthly):
    # members_at_start (since < start): Jan none (E's Jan 1 23:00 is after the start);
    # Feb A,B,E; Mar A,B,C,E (D's Mar 1 00:00 is not before the start); Apr all five.
    assert column(monthly, "members_at_start") == [0, 3, 4, 5]
    # new (since in the month): Jan A,B,E; Feb C; Mar D; Apr none.
    assert column(monthly, "new_members") == [3, 1, 1, 0]
    # active: Jan A,B,E; Feb A,C; Mar A,D (D at Mar 1 00:00 is March); Apr A.
    assert column(monthly, "active_members") == [3, 2, 2, 1]
    # retained (active and since < start): Jan none; Feb A; Mar A; Apr A.
    assert column(monthly, "retained_members") == [0, 1, 1, 1]


def test_monthly_retention_and_churn(monthly):
    retention = monthly["retention_rate"].to_numpy()
    churn = monthly["churn_rate"].to_numpy()
    # Jan: nobody was a member at the start -> undefined.
    assert np.isnan(retention[0]) and np.isnan(churn[0])
    # Feb 1/3, Mar 1/4, Apr 1/5.
    np.testing.assert_allclose(retention[1:], [100 / 3, 25.0, 20.0])
    np.testing.assert_allclose(churn[1:], [200 / 3, 75.0, 80.0])


def test_monthly_repeat_and_active_90d(monthly):
    # 2+ baskets: Jan A (of A,B,E: B's two lines are one basket); Feb C (of A,C);
    # Mar D (of A,D); Apr none of A.
    np.testing.assert_allclose(monthly["repeat_purchase_rate"], [100 / 3, 50.0, 50.0, 0.0])
    # Windows [end - 90 days, end):
    #   Jan: [2023-11-03, 2024-02-01) -> A,B,E
    #   Feb: [2023-12-02, 2024-03-01) -> A,B,C,E (D's Mar 1 00:00 is excluded)
    #   Mar: [2024-01-02, 2024-04-01) -> A,B,C,D (E's only purchase, Jan 1, is out)
    #   Apr: [2024-01-31, 2024-05-01) -> A,C,D (B's only purchase, Jan 10, is out)
    assert column(monthly, "active_90d") == [3, 4, 4, 3]


def test_monthly_sales(monthly):
    # baskets: Jan A1,A2,B5,E10; Feb A3,C7,C8; Mar A4,D6,D9; Apr A11.
    assert column(monthly, "baskets") == [4, 3, 3, 1]
    # revenue: Jan 10+20+5+15+25; Feb 30+60+10; Mar 40+50+100; Apr 5.
    np.testing.assert_allclose(monthly["revenue"], [75.0, 100.0, 190.0, 5.0])
    np.testing.assert_allclose(monthly["average_order_value"], [18.75, 100 / 3, 190 / 3, 5.0])
    np.testing.assert_allclose(monthly["purchase_frequency"], [4 / 3, 1.5, 1.5, 1.0])


def test_monthly_offers(monthly):
    assert column(monthly, "offers_sent") == [2, 1, 0, 0]
    assert column(monthly, "offers_redeemed") == [1, 0, 1, 0]
    rate = monthly["offer_redemption_rate"].to_numpy()
    np.testing.assert_allclose(rate[:2], [50.0, 0.0])
    # Nothing sent in March (a redemption, though) or April -> undefined.
    assert np.isnan(rate[2]) and np.isnan(rate[3])


def test_quarterly():
    table = program_kpis(make_dataset(), period="quarter")
    assert column(table, "period") == ["2024Q1", "2024Q2"]
    assert column(table, "end") == list(pd.to_datetime(["2024-04-01", "2024-07-01"]))
    assert column(table, "partial") == [False, True]
    assert column(table, "members_at_start") == [0, 5]
    assert column(table, "new_members") == [5, 0]
    assert column(table, "active_members") == [5, 1]
    assert np.isnan(table["retention_rate"].iloc[0])
    # Q2: only A of the five members is active.
    assert table["retention_rate"].iloc[1] == pytest.approx(20.0)
    assert table["churn_rate"].iloc[1] == pytest.approx(80.0)
    # Q1 baskets: A 4, B 1, C 2, D 2, E 1 -> 3 of 5 repeat.
    assert table["repeat_purchase_rate"].tolist() == pytest.approx([60.0, 0.0])
    # Q1 window [Jan 2, Apr 1): A,B,C,D; Q2 window [Apr 2, Jul 1): A's Apr 2 10:00.
    assert column(table, "active_90d") == [4, 1]
    assert column(table, "baskets") == [10, 1]
    assert table["revenue"].tolist() == pytest.approx([365.0, 5.0])
    assert table["average_order_value"].tolist() == pytest.approx([36.5, 5.0])
    assert table["purchase_frequency"].tolist() == pytest.approx([2.0, 1.0])
    assert column(table, "offers_sent") == [3, 0]
    assert column(table, "offers_redeemed") == [2, 0]
    assert table["offer_redemption_rate"].iloc[0] == pytest.approx(200 / 3)


def test_yearly():
    table = program_kpis(make_dataset(), period="year")
    assert column(table, "period") == ["2024"]
    assert column(table, "start") == [pd.Timestamp("2024-01-01")]
    assert column(table, "end") == [pd.Timestamp("2025-01-01")]
    assert column(table, "partial") == [True]
    row = table.iloc[0]
    assert (row["members_at_start"], row["new_members"], row["active_members"]) == (0, 5, 5)
    assert np.isnan(row["retention_rate"])
    assert row["repeat_purchase_rate"] == pytest.approx(60.0)  # A 5, C 2, D 2 baskets
    assert row["active_90d"] == 0  # nothing in [2024-10-03, 2025-01-01)
    assert row["baskets"] == 11
    assert row["revenue"] == pytest.approx(370.0)
    assert row["average_order_value"] == pytest.approx(370 / 11)
    assert row["purchase_frequency"] == pytest.approx(2.2)


def test_joined_at_overrides_first_purchase():
    # C joined before the data (Dec 15), D joined Feb 15 but first bought Mar 1,
    # F joined exactly at the March start and never bought.
    # A, B, E: unknown -> first purchase.
    ds = make_dataset(joined_at={"C": "2023-12-15", "D": "2024-02-15", "F": "2024-03-01"})
    table = program_kpis(ds, period="month")
    # at start: Jan C; Feb A,B,C,E; Mar A,B,C,D,E (not F); Apr A-F.
    assert column(table, "members_at_start") == [1, 4, 5, 6]
    # new: Jan A,B,E; Feb D; Mar F; Apr none.
    assert column(table, "new_members") == [3, 1, 1, 0]
    # retained: Jan none (C inactive); Feb A,C; Mar A,D (D joined in Feb); Apr A.
    assert column(table, "retained_members") == [0, 2, 2, 1]
    np.testing.assert_allclose(table["retention_rate"], [0.0, 50.0, 40.0, 100 / 6])
    np.testing.assert_allclose(table["churn_rate"], [100.0, 50.0, 60.0, 500 / 6])
    # Activity does not depend on the members table.
    assert column(table, "active_members") == [3, 2, 2, 1]


def test_members_table_without_joined_at_column():
    ds = make_dataset()
    ds.members = ds.members[["member_id"]].astype("string")
    table = program_kpis(ds, period="month")
    assert column(table, "members_at_start") == [0, 3, 4, 5]


def test_no_offer_events():
    empty = pd.DataFrame(
        {
            "member_id": pd.Series(dtype="string"),
            "offer_id": pd.Series(dtype="string"),
            "event": pd.Series(dtype="string"),
            "timestamp": pd.Series(dtype="datetime64[ns]"),
        }
    )
    ds = make_dataset()
    ds.offer_events = empty
    table = program_kpis(ds, period="month")
    assert column(table, "offers_sent") == [0, 0, 0, 0]
    assert column(table, "offers_redeemed") == [0, 0, 0, 0]
    assert table["offer_redemption_rate"].isna().all()
    assert table["offers_sent"].dtype == "int64"


def test_month_without_purchases_is_a_row():
    ds = make_dataset(
        tx_rows=[("A", "2024-01-10 10:00", 10.0, 1), ("B", "2024-03-10 10:00", 20.0, 2)],
        event_rows=[],
    )
    table = program_kpis(ds, period="month")
    assert column(table, "period") == ["2024-01", "2024-02", "2024-03"]
    assert column(table, "partial") == [True, False, True]
    feb = table.iloc[1]
    assert (feb["active_members"], feb["baskets"], feb["revenue"]) == (0, 0, 0.0)
    assert feb["retention_rate"] == 0.0 and feb["churn_rate"] == 100.0
    assert np.isnan(feb["repeat_purchase_rate"])
    assert np.isnan(feb["average_order_value"]) and np.isnan(feb["purchase_frequency"])
    assert feb["active_90d"] == 1


def test_partial_means_data_missing_on_the_first_or_last_day():
    rows = [("A", "2024-01-01 08:00", 1.0, 1), ("A", "2024-01-31 23:59", 1.0, 2)]
    ds = make_dataset(tx_rows=rows, event_rows=[])
    assert column(program_kpis(ds, "month"), "partial") == [False]
    assert column(program_kpis(ds, "quarter"), "partial") == [True]
    rows[1] = ("A", "2024-01-30 23:59", 1.0, 2)
    assert column(program_kpis(make_dataset(tx_rows=rows), "month"), "partial") == [True]


@pytest.mark.parametrize("period", ["week", "Month", "", None])
def test_invalid_period_is_a_config_error(period):
    with pytest.raises(ConfigError, match="use one of month, quarter, year"):
        program_kpis(make_dataset(), period=period)


def test_empty_transactions_is_a_data_error():
    ds = make_dataset()
    ds.transactions = ds.transactions.iloc[:0]
    with pytest.raises(DataError, match="transactions are empty"):
        program_kpis(ds)


def test_missing_column_is_a_data_error():
    ds = make_dataset()
    ds.transactions = ds.transactions.drop(columns=["basket_id"])
    with pytest.raises(DataError, match="basket_id"):
        program_kpis(ds)


# --- the `offers kpis` command --------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path):
    """A tiny data directory: A buys in Jan and Feb, B only in Jan, C only in Feb.

    Offers: two sent and one redeemed in January, nothing in February.
    """
    (tmp_path / "transactions.csv").write_text(
        "member_id,timestamp,item_id,quantity,amount,basket_id\n"
        "A,2024-01-05T10:00:00,i1,1,10.0,b1\n"
        "A,2024-01-05T10:00:00,i2,2,5.0,b1\n"
        "B,2024-01-20T10:00:00,i1,1,20.0,b2\n"
        "A,2024-02-03T10:00:00,i2,1,30.0,b3\n"
        "A,2024-02-20T10:00:00,i1,1,40.0,b4\n"
        "C,2024-02-21T10:00:00,i1,1,50.0,b5\n"
    )
    (tmp_path / "items.csv").write_text("item_id,category\ni1,milk\ni2,bread\n")
    (tmp_path / "offer_events.csv").write_text(
        "member_id,offer_id,event,timestamp\n"
        "A,o1,sent,2024-01-02T09:00:00\n"
        "B,o1,sent,2024-01-02T09:00:00\n"
        "A,o1,redeemed,2024-01-05T10:00:00\n"
    )
    return tmp_path


def test_cli_table(data_dir):
    result = CliRunner().invoke(kpis, [str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "Members per month" in result.output
    assert "Sales and offers per month" in result.output
    assert "2024-01*" in result.output and "2024-02*" in result.output
    assert "n/a" in result.output  # January retention, no offers sent
    # February: 2 members at start (A, B), A retained -> 50.0%.
    feb = [line.split() for line in result.output.splitlines() if line.startswith("2024-02*")]
    assert feb[0][1:6] == ["2", "2", "1", "1", "50.0"]


def test_cli_json(data_dir):
    result = CliRunner().invoke(kpis, [str(data_dir), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["period"] for r in rows] == ["2024-01", "2024-02"]
    jan, feb = rows
    assert jan["start"] == "2024-01-01" and jan["end"] == "2024-02-01"
    assert jan["retention_rate"] is None
    assert (jan["offers_sent"], jan["offers_redeemed"]) == (2, 1)
    assert jan["offer_redemption_rate"] == pytest.approx(50.0)
    assert feb["offers_sent"] == 0 and feb["offer_redemption_rate"] is None
    assert jan["revenue"] == pytest.approx(35.0) and jan["baskets"] == 2
    assert feb["members_at_start"] == 2 and feb["new_members"] == 1
    assert feb["retention_rate"] == pytest.approx(50.0)
    assert feb["repeat_purchase_rate"] == pytest.approx(50.0)  # A: b3, b4; C: b5
    assert feb["average_order_value"] == pytest.approx(40.0)
    assert feb["active_90d"] == 3


def test_cli_csv_quarter(data_dir):
    result = CliRunner().invoke(kpis, [str(data_dir), "--period", "quarter", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split(",") == list(KPI_COLUMNS)
    assert len(lines) == 2
    row = dict(zip(KPI_COLUMNS, lines[1].split(",")))
    assert row["period"] == "2024Q1" and row["partial"] == "True"
    assert row["retention_rate"] == ""
    assert row["active_members"] == "3" and row["revenue"] == "155"


def test_cli_invalid_period(data_dir):
    result = CliRunner().invoke(kpis, [str(data_dir), "--period", "week"])
    assert result.exit_code == 2
    assert "Invalid value for '--period'" in result.output
    assert "'week' is not one of 'month', 'quarter', 'year'" in result.output


def test_cli_bad_data_is_a_clean_error(data_dir):
    (data_dir / "items.csv").unlink()
    result = CliRunner().invoke(kpis, [str(data_dir)])
    assert result.exit_code == 1
    assert result.output.startswith("Error:")
    assert "items" in result.output
    assert "Traceback" not in result.output


def test_cli_on_duckdb_gives_the_same_figures(data_dir, synth_data):
    """DuckDB reads, checks and aggregates the files itself: the same table as pandas."""
    for folder in (data_dir, synth_data):
        args = [str(folder), "--format", "json", "--period", "month"]
        want = CliRunner().invoke(kpis, args)
        got = CliRunner().invoke(kpis, [*args, "--engine", "duckdb", "--memory-limit", "500MB"])
        assert got.exit_code == 0 and want.exit_code == 0, got.output
        got_rows, want_rows = json.loads(got.output), json.loads(want.output)
        assert len(want_rows) >= 2
        for g, w in zip(got_rows, want_rows, strict=True):
            assert g.keys() == w.keys()
            for key, value in w.items():
                assert g[key] == (pytest.approx(value, rel=1e-12)
                                  if isinstance(value, float) else value), key


def test_cli_memory_limit_needs_duckdb_and_bad_data_is_one_error_line(data_dir):
    result = CliRunner().invoke(kpis, [str(data_dir), "--memory-limit", "1GB",
                                       "--engine", "pandas"])
    assert result.exit_code == 2 and "--memory-limit applies to --engine duckdb" in result.output
    (data_dir / "items.csv").unlink()
    result = CliRunner().invoke(kpis, [str(data_dir), "--engine", "duckdb"])
    assert result.exit_code == 1 and "required table 'items' is missing" in result.output
    assert "Traceback" not in result.output


def test_cli_auto_takes_duckdb_above_the_threshold_and_says_so(data_dir, monkeypatch):
    """The default engine (auto) gives the same figures whichever it picks; a pick of DuckDB
    is said on stderr, stdout keeps only the figures."""
    import training.engine_choice

    want = CliRunner().invoke(kpis, [str(data_dir), "--format", "json"])
    assert want.exit_code == 0 and "engine:" not in want.output
    monkeypatch.setattr(training.engine_choice, "AUTO_MAX_LINES", 1)
    got = CliRunner().invoke(kpis, [str(data_dir), "--format", "json"])
    assert got.exit_code == 0, got.output
    assert got.stderr.startswith("engine: duckdb (auto: ") and "more than 1: out of core" in (
        got.stderr)
    got_rows, want_rows = json.loads(got.stdout), json.loads(want.stdout)
    assert len(want_rows) == 2 and got_rows[1]["revenue"] == pytest.approx(
        want_rows[1]["revenue"])
    limited = CliRunner().invoke(kpis, [str(data_dir), "--memory-limit", "500MB"])
    assert limited.exit_code == 0 and "engine: duckdb (auto: a memory limit (500MB)" in (
        limited.stderr)

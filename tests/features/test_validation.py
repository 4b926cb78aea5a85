"""`offers validate` / `load_dataset`: one test per class of bad input, checking the message."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from features.errors import DataValidationError
from features.loading import load_dataset
from offers.cli import main
from tests.conftest import TX_HEADER


def problems_of(data_dir) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        load_dataset(data_dir, now="2025-01-01")
    return [str(p) for p in info.value.problems]


def test_valid_directory_loads_in_canonical_form(make_data_dir):
    ds = load_dataset(make_data_dir(), now="2025-01-01")
    tx = ds.transactions
    assert isinstance(tx["member_id"].dtype, pd.CategoricalDtype)
    assert list(tx["member_id"].cat.categories) == ["1", "2"]
    assert str(tx["timestamp"].dtype) == "datetime64[ns]"
    assert tx["amount"].tolist() == [3.5, 4.0, 2.0]
    assert tx["basket_id"].nunique() == 3
    assert tx["discount"].tolist() == [0.0, 0.0, 0.0]
    assert ds.members["member_id"].tolist() == ["1", "2"]
    assert ds.offer_events.empty and "event" in ds.offer_events


def test_missing_required_file(make_data_dir):
    found = problems_of(make_data_dir(items=None))
    assert len(found) == 1
    assert "required table 'items' is missing" in found[0]


def test_both_csv_and_parquet_for_one_table_is_ambiguous(make_data_dir):
    data = make_data_dir()
    pd.read_csv(data / "items.csv").to_parquet(data / "items.parquet")
    assert any("both items.parquet and items.csv exist" in p for p in problems_of(data))


def test_missing_column_names_the_columns_present(make_data_dir):
    data = make_data_dir(transactions="member_id,timestamp,item_id,quantity\n1,2024-01-01,A,1\n")
    (msg,) = problems_of(data)
    assert "transactions.csv" in msg and "missing required column(s) amount" in msg
    assert "the file has member_id, timestamp, item_id, quantity" in msg


def test_unparsable_timestamp_reports_line_and_value(make_data_dir):
    data = make_data_dir(
        transactions=f"{TX_HEADER}\n1,2024-01-02,A,1,3.5,b1\n1,yesterday,B,1,1,b2\n"
        "2,2024-13-45,C,1,1,b3\n"
    )
    (msg,) = problems_of(data)
    assert "column 'timestamp'" in msg and "unparsable timestamp" in msg
    assert "line 3 ('yesterday')" in msg and "line 4 ('2024-13-45')" in msg
    assert "[2 rows" in msg


def test_non_numeric_amount(make_data_dir):
    data = make_data_dir(
        transactions=f"{TX_HEADER}\n1,2024-01-02,A,1,3.5,b1\n1,2024-01-03,B,1,$4,b2\n"
    )
    (msg,) = problems_of(data)
    assert "column 'amount': not a number" in msg and "line 3 ('$4')" in msg


def test_negative_amount_on_a_sale_is_an_error(make_data_dir):
    data = make_data_dir(
        transactions=f"{TX_HEADER}\n1,2024-01-02,A,1,-3.5,b1\n1,2024-01-03,B,1,2,b2\n"
    )
    (msg,) = problems_of(data)
    assert "column 'amount'" in msg and "negative amount" in msg and "line 2 ('-3.5')" in msg


def test_transactions_with_unknown_items(make_data_dir):
    data = make_data_dir(
        transactions=f"{TX_HEADER}\n1,2024-01-02,A,1,3.5,b1\n1,2024-01-03,ZZ,1,2,b2\n"
        "2,2024-01-03,ZZ,1,2,b3\n2,2024-01-03,YY,1,2,b3\n"
    )
    (msg,) = problems_of(data)
    assert "2 item id(s) are not in the items table" in msg
    assert "line 3 ('ZZ')" in msg and "line 5 ('YY')" in msg


def test_duplicate_item_ids(make_data_dir):
    data = make_data_dir(items="item_id,category\nA,x\nB,y\nC,z\nA,w\n")
    (msg,) = problems_of(data)
    assert "items.csv, column 'item_id': duplicate ids" in msg
    assert "line 2 ('A')" in msg and "line 5 ('A')" in msg


def test_duplicate_member_ids(make_data_dir):
    data = make_data_dir(**{"members.csv": "member_id,tier\n1,gold\n2,silver\n1,bronze\n"})
    (msg,) = problems_of(data)
    assert "members.csv, column 'member_id': duplicate ids" in msg


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"transactions": f"{TX_HEADER}\n"}, "transactions.csv: the table has no rows"),
        ({"items": "item_id,category\n"}, "items.csv: the table has no rows"),
        ({"transactions": ""}, "transactions.csv: the file is empty"),
    ],
)
def test_empty_tables(make_data_dir, files, expected):
    assert any(expected in p for p in problems_of(make_data_dir(**files)))


def test_wrong_encoding_reports_the_line(make_data_dir):
    latin1 = "item_id,category\nA,caf\xe9\nB,tea\nC,bread\n".encode("latin-1")
    data = make_data_dir(items=None, **{"items.csv": latin1})
    (msg,) = problems_of(data)
    assert "items.csv: is not valid UTF-8" in msg and "line 2" in msg


def test_utf8_with_byte_order_mark_is_accepted(make_data_dir):
    data = make_data_dir(items=None, **{"items.csv": "\ufeffitem_id,category\nA,café\nB,t\nC,b\n"})
    ds = load_dataset(data, now="2025-01-01")
    assert ds.items["category"].tolist()[0] == "café"


def test_bad_event_type_and_bool(make_data_dir):
    data = make_data_dir(
        **{
            "offer_events.csv": "member_id,offer_id,event,timestamp\n1,o1,sent,2024-01-01\n"
            "1,o1,clicked,2024-01-02\n",
            "members.csv": "member_id,email_opt_in\n1,yes\n2,maybe\n",
        }
    )
    found = problems_of(data)
    assert any("column 'event': unknown event type" in p and "'clicked'" in p for p in found)
    assert any("column 'email_opt_in': not a yes/no value" in p and "'maybe'" in p for p in found)


def test_missing_required_value(make_data_dir):
    data = make_data_dir(
        transactions=f"{TX_HEADER}\n,2024-01-02,A,1,3.5,b1\n1,2024-01-03,B,1,2,b2\n"
    )
    (msg,) = problems_of(data)
    assert "column 'member_id': missing value in a required column" in msg and "line 2" in msg


def test_every_problem_is_reported_at_once(make_data_dir):
    data = make_data_dir(
        transactions=f"{TX_HEADER}\n1,never,A,1,x,b1\n",
        items="item_id,category\nA,x\nA,y\n",
    )
    assert len(problems_of(data)) == 3


def test_validate_command_exit_codes_and_output(make_data_dir):
    runner = CliRunner()
    good = runner.invoke(main, ["validate", str(make_data_dir("good")), "--now", "2025-01-01"])
    assert good.exit_code == 0, good.output
    assert "OK" in good.output and "3 transaction lines" in good.output
    bad_dir = make_data_dir("bad", items="item_id,category\nA,x\nA,y\n")
    bad = runner.invoke(main, ["validate", str(bad_dir)])
    assert bad.exit_code == 1
    assert "INVALID" in bad.output and "duplicate ids" in bad.output
    assert "Traceback" not in bad.output


def test_integer_ids_in_parquet_become_decimal_strings(make_data_dir, tmp_path):
    root = tmp_path / "pq"
    root.mkdir()
    pd.DataFrame(
        {
            "member_id": [10, 10, 7],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "item_id": [1, 2, 1],
            "quantity": [1, 1, 1],
            "amount": [1.0, 2.0, 3.0],
        }
    ).to_parquet(root / "transactions.parquet")
    pd.DataFrame({"item_id": [1, 2], "category": ["a", "b"]}).to_parquet(root / "items.parquet")
    ds = load_dataset(root, now="2025-01-01")
    assert sorted(ds.transactions["member_id"].cat.categories) == ["10", "7"]
    assert ds.items["item_id"].tolist() == ["1", "2"]
    # Without basket ids, a basket is a member's purchases at one timestamp.
    assert ds.transactions["basket_id"].nunique() == 3


def test_time_zones_are_converted_to_utc(make_data_dir):
    data = make_data_dir(
        transactions=f"{TX_HEADER}\n1,2024-01-02T10:00:00+02:00,A,1,3.5,b1\n"
        "1,2024-01-02T10:00:00Z,B,1,1,b2\n"
    )
    ts = load_dataset(data, now="2025-01-01").transactions["timestamp"].tolist()
    assert ts == [pd.Timestamp("2024-01-02 08:00:00"), pd.Timestamp("2024-01-02 10:00:00")]


def test_string_ids_in_parquet_are_stripped_merged_and_blank_is_missing(tmp_path):
    root = tmp_path / "pq"
    root.mkdir()
    pd.DataFrame(
        {
            "member_id": pd.array(["a", " a", "b ", "b", "c"], dtype="str"),
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03",
                                         "2024-01-04", "2024-01-05"]),
            "item_id": pd.array(["1", "2", " 1", "", "2"], dtype="str"),
            "quantity": [1, 1, 1, 1, 1],
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    ).to_parquet(root / "transactions.parquet")
    pd.DataFrame({"item_id": ["1", "2"], "category": ["x", "y"]}).to_parquet(
        root / "items.parquet"
    )
    with pytest.raises(DataValidationError) as info:
        load_dataset(root, now="2025-01-01")
    assert "item_id" in str(info.value) and "missing value" in str(info.value)
    (root / "transactions.parquet").unlink()
    pd.DataFrame(
        {
            "member_id": pd.array(["a", " a", "b ", "b"], dtype="str"),
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03",
                                         "2024-01-04"]),
            "item_id": pd.array(["1", "2", " 1", "3"], dtype="str"),
            "quantity": [1, 1, 1, 1],
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    ).to_parquet(root / "transactions.parquet")
    problems = problems_of(root)
    assert any("1 item id(s) are not in the items table" in p for p in problems)
    pd.DataFrame({"item_id": ["1", "2", "3"], "category": ["x", "y", "z"]}).to_parquet(
        root / "items.parquet"
    )
    ds = load_dataset(root, now="2025-01-01")
    tx = ds.transactions
    assert tx["member_id"].astype(str).tolist() == ["a", "a", "b", "b"]
    assert sorted(tx["member_id"].cat.categories) == ["a", "b"]
    assert tx["item_id"].astype(str).tolist() == ["1", "2", "1", "3"]


def test_holdout_events_mark_a_randomised_control_group(make_data_dir):
    data = make_data_dir(
        **{
            "offer_events.csv": "member_id,offer_id,event,timestamp,campaign_id\n"
            "1,o1,sent,2024-01-01,c1\n2,o1,holdout,2024-01-01,c1\n",
        }
    )
    ds = load_dataset(data)
    assert ds.offer_events["event"].astype(str).tolist() == ["sent", "holdout"]

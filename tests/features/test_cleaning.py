"""The cleaning policy (docs/data.md): what is dropped or fixed, with counts."""

from __future__ import annotations

from features.cleaning import CleaningPolicy
from features.loading import load_dataset
from tests.conftest import TX_HEADER

DIRTY = (
    f"{TX_HEADER},discount\n"
    "1,2024-01-02,A,1,3.5,b1,0.5\n"  # kept
    "1,2024-01-03,A,-1,-3.5,b2,0\n"  # return: dropped
    "1,2024-01-04,B,0,0,b3,0\n"  # zero quantity: dropped
    "2,2024-01-05,B,2,0,b4,0\n"  # zero amount: dropped
    "2,2030-01-01,C,1,2,b5,0\n"  # future: dropped
    "2,2024-01-06,C,17000,45.2,b6,0\n"  # fuel gallons: quantity reset to 1
    "2,2024-01-07,C,1,2,b7,-0.4\n"  # negative discount: sign fixed
)


def test_cleaning_policy_drops_and_fixes_with_counts(make_data_dir):
    ds = load_dataset(make_data_dir(transactions=DIRTY), now="2025-01-01")
    tx = ds.transactions
    assert ds.cleaning.dropped["transactions"] == {
        "returns": 1,
        "zero_quantity": 1,
        "zero_amount": 1,
        "future_timestamp": 1,
    }
    assert ds.cleaning.fixed["transactions"] == {"quantity_reset": 1, "discount_sign": 1}
    assert ds.cleaning.rows_in["transactions"] == 7
    assert ds.cleaning.rows_out["transactions"] == 3
    assert tx["quantity"].tolist() == [1.0, 1.0, 1.0]
    assert tx["amount"].tolist() == [3.5, 45.2, 2.0]
    assert tx["discount"].tolist() == [0.5, 0.0, 0.4]
    assert "dropped returns: 1" in ds.cleaning.lines()[0]
    # Only the tables something was dropped or fixed in (what `offers train` prints).
    assert len(ds.cleaning.lines()) == len(ds.cleaning.rows_in) > 1
    assert ds.cleaning.lines(changed_only=True) == [ds.cleaning.lines()[0]]


def test_quantity_limit_is_a_parameter(make_data_dir):
    ds = load_dataset(
        make_data_dir(transactions=DIRTY),
        now="2025-01-01",
        policy=CleaningPolicy(max_line_quantity=20000),
    )
    assert 17000.0 in ds.transactions["quantity"].tolist()


def test_future_offer_events_and_retried_event_ids_are_dropped(make_data_dir):
    events = (
        "member_id,offer_id,event,timestamp,event_id\n"
        "1,o1,sent,2024-01-01,e1\n"
        "1,o1,sent,2024-01-01,e1\n"
        "1,o1,redeemed,2031-01-01,e2\n"
    )
    ds = load_dataset(make_data_dir(**{"offer_events.csv": events}), now="2025-01-01")
    assert ds.cleaning.dropped["offer_events"] == {"future_timestamp": 1, "duplicate_event_id": 1}
    assert ds.offer_events["event_id"].tolist() == ["e1"]


def test_nothing_left_after_cleaning_is_an_error(make_data_dir):
    import pytest

    from features.errors import DataValidationError

    data = make_data_dir(transactions=f"{TX_HEADER}\n1,2024-01-02,A,0,0,b1\n")
    with pytest.raises(DataValidationError, match="no usable lines are left after cleaning"):
        load_dataset(data, now="2025-01-01")


def test_returns_are_dropped_however_the_export_signs_them(make_data_dir):
    """Issue 13: negative-amount lines used to be rejected as "not a return"."""
    lines = (
        f"{TX_HEADER}\n"
        "1,2024-01-02,A,2,7.0,536365\n"  # the purchase: kept
        "1,2024-01-03,A,-2,-7.0,C536365\n"  # UCI style: negative quantity and amount, 'C' order
        "1,2024-01-04,B,1,-4.0,b3\n"  # refund written as a negative amount only
        "1,2024-01-05,A,1,-20.0,b4\n"  # a refund larger than the purchase
        "2,2024-01-06,C,-1,-2.0,b5\n"  # a member with only a return
        "3,2024-01-06,C,1,2.0,b6\n"
    )
    ds = load_dataset(make_data_dir(transactions=lines), now="2025-01-01")
    assert ds.cleaning.dropped["transactions"] == {"returns": 4}
    assert ds.transactions["amount"].tolist() == [7.0, 2.0]
    assert sorted(ds.transactions["member_id"].astype(str).unique()) == ["1", "3"]
    assert "dropped returns: 4" in ds.cleaning.lines()[0]

"""The optional ``offers`` table: what each offer of ``offer_events`` is (docs/data.md)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from features.errors import DataValidationError
from features.loading import load_dataset
from models.offer_response import offer_specs_from_events

EVENTS = ("member_id,offer_id,event,timestamp\n1,o1,sent,2024-01-01\n1,o2,sent,2024-01-02\n"
          "2,o3,sent,2024-01-03\n1,o1,redeemed,2024-01-04\n")


def problems_of(data_dir) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        load_dataset(data_dir, now="2025-01-01")
    return [str(p) for p in info.value.problems]


def offers_dir(make_data_dir, offers: str):
    return make_data_dir(**{"offer_events.csv": EVENTS, "offers.csv": offers})


def test_the_offers_table_loads_as_offer_specs_and_describes_the_sends(make_data_dir):
    data = offers_dir(make_data_dir, "offer_id,type,depth,category,valid_days\n"
                      "o1,percent_off,0.2,coffee,14\no2,cashback,,coffee|tea,\n")
    ds = load_dataset(data, now="2025-01-01")
    offers = ds.offers.set_index("offer_id")
    assert offers.loc["o2", "categories"] == ("coffee", "tea")
    assert offers.loc["o1", "categories"] == ("coffee",)
    assert math.isnan(offers.loc["o2", "depth"]) and offers.loc["o1", "valid_days"] == 14
    assert ds.row_counts()["offers"] == 2
    specs = offer_specs_from_events(ds).set_index("offer_id")
    assert specs.loc["o1", "type"] == "percent_off" and specs.loc["o1", "depth"] == 0.2
    assert specs.loc["o2", "categories"] == ("coffee", "tea")
    assert specs.loc["o3", "type"] == "unknown"  # sent, but not in the offers table
    assert specs.loc["o3", "categories"] == ()


def test_without_an_offers_table_the_dataset_has_none(make_data_dir):
    ds = load_dataset(make_data_dir(**{"offer_events.csv": EVENTS}), now="2025-01-01")
    assert ds.offers is None and ds.row_counts()["offers"] == 0
    assert set(offer_specs_from_events(ds)["type"]) == {"unknown"}


def test_the_offers_table_wins_over_a_campaign_side_file(make_data_dir):
    data = offers_dir(make_data_dir, "offer_id,type\no1,points_multiplier\n")
    side = pd.DataFrame({"offer_id": ["o1", "o2"], "type": ["Type A"] * 2})
    specs = offer_specs_from_events(load_dataset(data, now="2025-01-01"), side)
    assert specs.set_index("offer_id")["type"].to_dict() == {
        "o1": "points_multiplier", "o2": "unknown", "o3": "unknown"}


@pytest.mark.parametrize(("offers", "expected"), [
    ("offer_id,depth\no1,0.2\n", "missing required column(s) type"),
    ("offer_id,type\no1,cashback\no1,percent_off\n", "each offer_id must appear once"),
    ("offer_id,type\no1,\n", "column 'type': missing value in a required column"),
    ("offer_id,type,depth\no1,cashback,20\n", "write 20% as 0.2"),
    ("offer_id,type,depth\no1,cashback,lots\n", "column 'depth': not a number"),
    ("offer_id,type,valid_days\no1,cashback,0\n", "valid_days is how many days"),
    ("offer_id,type,category\no1,cashback,coffee|toys\n",
     "name a category the items table does not have"),
])
def test_a_bad_offers_table_says_what_is_wrong_and_how_to_fix_it(make_data_dir, offers,
                                                                 expected):
    found = problems_of(offers_dir(make_data_dir, offers))
    assert any("offers.csv" in p and expected in p for p in found), found

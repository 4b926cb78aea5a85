"""Any shop's data (issue 13): each shape trains end to end and serves.

One generated program per shape (``training.synth.shapes``), trained with the
small fast config and served by the Flask app: a member's offers and
recommendations answer, and a step the data cannot support is skipped with a
reason in ``metrics.json``, the manifest, the report and every decision.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from features.dataset import CleaningReport, Dataset
from models.recommenders.category import without_categories
from serving import create_app
from serving.engine import EngineConfig, OfferEngine, load_bundle, load_catalog
from training import artifacts
from training.applicability import churn_horizon, churn_reason, recommendations_reason
from training.config import load_config
from training.pipeline import train
from training.synth.generate import generate
from training.synth.shapes import ANY_ITEM, DataShape

FAST = {"recommend": {"tune": False, "factors": 16, "iterations": 5},
        "churn": {"validate_horizons": []}}  # per-horizon validation: test_horizon_step.py
KEY = "read-key-0123456789abcdef"

SHAPES = {
    # A CLV-only export: customer, date, amount (one item, no categories, no offers).
    "clv_only": (100, DataShape(n_items=1, no_categories=True, no_offers=True,
                                returns_share=0.05)),
    "no_categories": (80, DataShape(n_items=25, no_categories=True)),
    "few_dozen_members": (36, DataShape()),
    "few_weeks": (80, DataShape(weeks=5)),
    "one_time_buyers": (100, DataShape(one_time_share=0.7)),
    "returns_as_negative_lines": (80, DataShape(returns_share=0.1)),
    "no_offer_history": (80, DataShape(no_offers=True)),
    # A CRM export's members file: who each member is, as bands (35-44, 50-74K, 5+).
    "member_bands": (80, DataShape(member_bands=True)),
}
# What each shape must skip (and nothing else).
SKIPPED = {"clv_only": {"recommendations"}, "few_weeks": {"churn", "value"}}


@pytest.fixture(scope="module", params=list(SHAPES))
def shaped(request, tmp_path_factory):
    name = request.param
    n_members, shape = SHAPES[name]
    root = tmp_path_factory.mktemp(name)
    data = generate(root / "data", n_members, seed=5, shape=shape)
    config = load_config(**FAST)
    if name == "no_categories":  # each item is its own category: exclude the best seller
        tx = pd.read_parquet(data / "transactions.parquet")
        best = str(tx.groupby("item_id", observed=True)["amount"].sum().idxmax())
        config["recommend"]["exclude_categories"] = [best.upper()]  # matched ignoring case
    version, run = train(data, root / "artifacts", config=config)
    return name, root / "artifacts", version, run


def test_shape_trains_and_says_what_it_skipped(shaped):
    name, out, version, run = shaped
    expected = SKIPPED.get(name, set())
    assert set(run.metrics["skipped"]) == expected
    opened = artifacts.open_version(out)
    assert set(opened.manifest["metrics"]["skipped"]) == expected
    metrics = json.loads((out / version / "metrics.json").read_text())
    assert set(metrics["skipped"]) == expected
    report = (out / version / "report.html").read_text()
    assert ("Skipped steps" in report) == bool(expected)
    members = opened.load_frame("members")
    buyers = members[members["frequency"] > 0]
    assert len(buyers) >= 20
    if "churn" in expected:  # no churn model: risk unknown, no CLV, no churn.joblib
        assert buyers["churn_risk"].isna().all() and (buyers["clv"] == 0).all()
        assert "churn.joblib" not in opened.manifest["files"]
    else:
        assert buyers["churn_risk"].between(0, 1).all()
    if name == "member_bands":  # read as numbers and learned from, by each model that can
        assert run.dataset.members["age"].dtype == "float64"
        assert run.member_features["income"].notna().mean() > 0.8
        assert {"age", "income"} <= set(run.churn.feature_names_in_)
        assert {"age", "income"} <= set(run.offer_response.member_columns_)
        # The CLV is a mean forecast: above 0 for every buyer, one-time and lapsed ones too
        # (a median's CLV was 0 for most members of the one-time-buyer and CLV-only shapes).
        assert (buyers["clv"] > 0).all(), buyers.loc[buyers["clv"] <= 0, "recency_days"]


def test_shape_serves_offers_and_recommendations(shaped, tmp_path):
    name, out, version, run = shaped
    app = create_app({"ARTIFACTS_DIR": str(out), "EVENTS_DB": str(tmp_path / "events.sqlite3"),
                      "API_KEYS": {KEY: ["read"]}, "TESTING": True})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {KEY}"}
    member = str(run.members.loc[run.members["frequency"] > 0, "member_id"].iloc[0])

    offers = client.get(f"/v1/members/{member}/offers?channel=email", headers=headers)
    assert offers.status_code == 200, offers.get_json()
    body = offers.get_json()
    assert body["known"] and body["model_version"] == version
    assert set(body.get("skipped_models", {})) == SKIPPED.get(name, set())
    if "churn" in SKIPPED.get(name, set()):  # retention offers need the churn model
        assert body["churn_risk"] is None or math.isnan(body["churn_risk"])
        engine = OfferEngine(load_bundle(out), load_catalog(), EngineConfig(control_share=0.0))
        buyers = run.members.loc[run.members["frequency"] > 0, "member_id"]
        decisions = [engine.decide(m, "email") for m in buyers]
        assert any(d.offers for d in decisions)  # other offers are still made
        codes = {c for d in decisions for o in d.offers for c in o["reason_codes"]}
        assert "CHURN_RISK" not in codes

    profile = client.get(f"/v1/members/{member}", headers=headers)
    assert profile.status_code == 200, profile.get_json()
    assert profile.get_json()["known"]

    recs = client.get(f"/v1/members/{member}/recommendations?limit=5", headers=headers)
    assert recs.status_code == 200, recs.get_json()
    items = [r["item_id"] for r in recs.get_json()["items"]]
    assert items, "every shape serves at least one recommended item"
    if name == "clv_only":
        assert items == [ANY_ITEM]
        engine = OfferEngine(load_bundle(out), load_catalog(), EngineConfig(control_share=0.0))
        assert engine.catalog.offers and all(  # no offer on the recommender's picks
            t.target.kind != "recommended" for t in engine.catalog.offers)
        assert any(t.target.kind == "recommended" for t in load_catalog().offers)
    excluded = {e.casefold() for e in run.config["recommend"]["exclude_categories"]}
    assert not excluded & {i.casefold() for i in load_bundle(out).item_ids}
    if name == "no_categories":
        assert run.metrics["recommend"]["excluded_items"] == 1


def test_default_exclusions_keep_fuel_and_coupons_out():
    excluded = load_config()["recommend"]["exclude_categories"]
    assert {"GASOLINE-REG UNLEADED", "FUEL", "COUPON/MISC ITEMS"} <= set(excluded)
    tx = pd.DataFrame({"item_id": pd.Categorical(["milk", "gas", "bread", "gas"])})
    items = pd.DataFrame({"item_id": ["milk", "gas", "bread"],
                          "category": ["FLUID MILK", "GASOLINE-REG UNLEADED", "BREAD"],
                          "department": ["GROCERY", "Fuel", "PASTRY"]})
    kept, n = without_categories(tx, items, excluded)
    assert kept["item_id"].tolist() == ["milk", "bread"] and n == 1
    kept, n = without_categories(tx, items, ["fuel"])  # a department, any case
    assert n == 1 and "gas" not in kept["item_id"].tolist()


def test_skip_reasons_name_the_step_and_the_fix():
    days = pd.date_range("2024-01-01", periods=30, freq="D")
    tx = pd.DataFrame({"member_id": [f"m{i % 25}" for i in range(30)], "item_id": "x",
                       "timestamp": days})
    assert recommendations_reason(tx, days[-1]) == (
        "only 1 item: item recommendations need at least 2")
    assert "churn windows" in churn_reason(tx, days[-1], 14)
    two = tx.assign(item_id=["x", "y"] * 15)
    assert recommendations_reason(two, days[-1], 30).startswith("29 days of history")
    assert recommendations_reason(two, days[-1], 14) is None
    few = tx[tx["member_id"].isin(["m1", "m2"])]
    assert churn_reason(few, days[-1], 14).startswith("only 2 members")
    # eight weeks: the cadence's horizon (35 days) does not fit, two weeks do
    weekly = pd.DataFrame({"member_id": [f"m{i % 25}" for i in range(100)], "item_id": "x",
                           "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(
                               [(i // 25) * 35 % 55 + i % 3 for i in range(100)], unit="D")})
    eight = weekly.assign(timestamp=weekly["timestamp"].clip(upper="2024-02-24"))
    as_of = pd.Timestamp("2024-02-26")
    ds = Dataset(eight, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), CleaningReport(), "t")
    assert churn_horizon(ds, as_of, None) == 14 and churn_horizon(ds, as_of, 28) == 28
    assert churn_reason(eight, as_of, None) is None
    long = tx.assign(timestamp=pd.date_range("2023-01-01", periods=30, freq="14D"))
    assert churn_reason(long, pd.Timestamp("2024-02-01"), 14) is None


def test_clv_only_shape_has_one_item_returns_and_no_offers(tmp_path):
    data = generate(tmp_path / "data", 30, seed=1, shape=SHAPES["clv_only"][1])
    assert not (data / "offer_events.parquet").exists()
    tx = pd.read_parquet(data / "transactions.parquet")
    assert set(tx["item_id"].astype(str)) == {ANY_ITEM}
    assert (tx["amount"] < 0).any() and (tx.loc[tx["amount"] < 0, "quantity"] < 0).all()

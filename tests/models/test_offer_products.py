"""Coupon use and the offer's products as offer-response features (issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from features.coupon_features import COUPON_FEATURES, coupon_features
from features.loading import load_dataset
from features.member_features import build_member_features
from models.metrics import roc_auc
from models.offer_response.affinity import AFFINITY_FEATURES
from models.offer_response.export import export_model, import_model
from models.offer_response.model import OfferResponseModel
from models.offer_response.products import PRODUCT_FEATURES, ProductIndex
from models.offer_response.rows import LABEL

# Member 1: coupon on A (Jan 2) and a plain B (Jan 9); member 2: plain C, then a coupon on A
# after the cutoff (Feb 3), which must not count.
TX = ("member_id,timestamp,item_id,quantity,amount,basket_id,coupon_discount\n"
      "1,2024-01-02T10:00:00,A,1,3.5,b1,0.5\n"
      "1,2024-01-02T10:00:00,C,1,1.0,b1,0\n"
      "1,2024-01-09T10:00:00,B,2,4.0,b2,0\n"
      "1,2023-10-01T10:00:00,A,1,3.5,b0,0\n"
      "2,2024-01-03T11:00:00,C,1,2.0,b3,0\n"
      "2,2024-02-03T11:00:00,A,1,9.0,b4,1.0\n")
CUTOFF = pd.Timestamp("2024-02-01")


def _spec(offer_id, items=(), categories=("coffee",)):
    return {"offer_id": offer_id, "type": "Type A", "depth": np.nan,
            "categories": list(categories), "items": list(items)}


@pytest.fixture
def toy(make_data_dir):
    return load_dataset(make_data_dir(transactions=TX), now="2025-01-01")


def test_coupon_features_count_coupon_lines_before_the_cutoff(toy):
    found = coupon_features(toy.transactions, CUTOFF, pd.Index(["1", "2", "ghost"]))
    assert list(found.columns) == list(COUPON_FEATURES)
    np.testing.assert_allclose(found["coupon_lines"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(found["coupon_basket_share"].iloc[:2], [1 / 3, 0.0])
    assert found.loc["1", "days_since_coupon"] == pytest.approx(29 + 14 / 24)
    assert np.isnan(found.loc["2", "days_since_coupon"])  # its coupon is after the cutoff
    assert np.isnan(found.loc["ghost", "coupon_basket_share"])  # no purchases: unknown
    # After member 2's coupon line it counts.
    later = coupon_features(toy.transactions, pd.Timestamp("2024-03-01"), pd.Index(["2"]))
    assert later.loc["2", "coupon_lines"] == 1.0


def test_member_features_carry_coupon_use_only_when_the_data_have_it(toy, make_data_dir):
    with_column = build_member_features(toy, CUTOFF)
    assert with_column.loc["1", "coupon_lines"] == 1.0
    plain = load_dataset(make_data_dir(name="plain"), now="2025-01-01")
    assert not set(COUPON_FEATURES) & set(build_member_features(plain, CUTOFF).columns)


def test_product_features_of_an_offer_that_lists_items(toy):
    offers = pd.DataFrame([_spec("on-A", items=["A"]), _spec("on-B-C", items=["B", "C"]),
                           _spec("category")])
    index = ProductIndex(toy, offers)
    found = index.at_cutoffs(np.array([CUTOFF] * 4, dtype="datetime64[ns]"),
                             np.array(["1", "1", "2", "1"]),
                             np.array(["on-A", "on-B-C", "on-A", "category"]))
    # Member 1 bought A on Jan 2 (within 56 days) and Oct 1 (not recent), with a coupon once.
    np.testing.assert_allclose(found.loc[:2, "item_recent_purchases"], [1.0, 2.0, 0.0])
    np.testing.assert_allclose(found.loc[:2, "item_coupon_lines"], [1.0, 0.0, 0.0])
    assert found.loc[3].isna().all()  # an offer that lists no items: unknown
    matrix = index.matrix(CUTOFF, ["2", "1", "ghost"])
    np.testing.assert_allclose(matrix["item_recent_purchases"][:, :2], [[0, 1], [1, 2], [0, 0]])
    np.testing.assert_allclose(matrix["item_coupon_lines"][1, :2], [1.0, 0.0])


def test_product_coupon_lines_are_unknown_without_the_coupon_column(make_data_dir):
    dataset = load_dataset(make_data_dir(), now="2025-01-01")
    found = ProductIndex(dataset, pd.DataFrame([_spec("on-A", items=["A"])])).matrix(
        CUTOFF, ["1"])
    assert found["item_recent_purchases"][0, 0] == 1.0
    assert np.isnan(found["item_coupon_lines"]).all()


def _planted_rows(n: int, seed: int) -> pd.DataFrame:
    """Sends whose redemption rises with coupon use and with recent buys of the offer's items
    (and nothing else): a model reading those features must find it."""
    rng = np.random.default_rng(seed)
    coupon_lines = rng.poisson(2.0, n).astype(float)
    recent = rng.poisson(1.0, n).astype(float)
    logit = -3.0 + 0.8 * coupon_lines + 0.9 * recent
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "member_id": [str(i) for i in range(n)], "offer_id": "o",
        "sent_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) % 90, unit="D"),
        LABEL: y, "type": rng.choice(["Type A", "Type B"], n), "depth": np.nan,
        "n_categories": 3.0, "population_share": 0.1,
        "category_share": rng.random(n), "lift": rng.random(n) * 2,
        "item_purchases": rng.poisson(3.0, n).astype(float),
        "m__frequency": rng.poisson(20, n).astype(float),
        "m__coupon_lines": coupon_lines, "item_recent_purchases": recent,
        "item_coupon_lines": rng.poisson(0.5, n).astype(float),
    })


def test_a_planted_coupon_and_product_effect_is_recovered():
    train, test = _planted_rows(3000, 0), _planted_rows(2000, 1)
    y = test[LABEL].to_numpy(dtype=bool)
    with threadpool_limits(1):
        model = OfferResponseModel(estimator="logistic").fit(train)
        blind = OfferResponseModel(estimator="logistic").fit(
            train.drop(columns=["m__coupon_lines", *PRODUCT_FEATURES]))
    assert model.product_columns_ == list(PRODUCT_FEATURES)
    assert "coupon_lines" in model.member_columns_
    auc = roc_auc(y, model.predict_proba_rows(test))
    assert auc > 0.8
    assert auc > roc_auc(y, blind.predict_proba_rows(test)) + 0.2
    # More coupon use or recent buys of the items: a higher P(redeem).
    base = test.iloc[:1]
    p = [model.predict_proba_rows(base.assign(m__coupon_lines=c))[0] for c in (0.0, 4.0)]
    q = [model.predict_proba_rows(base.assign(item_recent_purchases=r))[0] for r in (0.0, 4.0)]
    assert p[1] > p[0] + 0.2 and q[1] > q[0] + 0.2


def test_the_engine_variant_is_fitted_without_item_level_features():
    rows = _planted_rows(2000, 2)
    with threadpool_limits(1):
        model = OfferResponseModel(estimator="logistic").fit(rows)
    engine = model.engine_variant()
    assert engine is model.engine_model_ and engine is not model
    assert engine.product_columns_ == [] and "item_purchases" not in engine.feature_names_
    assert engine.member_columns_ == model.member_columns_
    assert engine.engine_variant() is engine  # nothing left to drop
    # It scores rows that lack the item-level features; the full model needs them.
    bare = rows.drop(columns=list(PRODUCT_FEATURES)).assign(item_purchases=np.nan)
    assert np.isfinite(engine.predict_proba_rows(bare)).all()
    with pytest.raises(Exception, match="item_recent_purchases"):
        model.predict_proba_rows(bare)
    # Both survive the JSON export the engine loads.
    back = import_model(export_model(model))
    np.testing.assert_allclose(back.predict_proba_rows(rows), model.predict_proba_rows(rows),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(back.engine_variant().predict_proba_rows(rows),
                               engine.predict_proba_rows(rows), rtol=1e-9, atol=1e-12)


def test_an_export_without_product_columns_still_loads():
    rows = _planted_rows(1000, 3).drop(columns=list(PRODUCT_FEATURES))
    rows["item_purchases"] = np.nan
    with threadpool_limits(1):
        model = OfferResponseModel(estimator="logistic").fit(rows)
    data = export_model(model)
    assert "engine" not in data and data["product_columns"] == []
    del data["product_columns"]  # as versions trained before the product features wrote it
    back = import_model(data)
    assert back.engine_variant() is back
    assert len(back.feature_names_) == len(model.feature_names_)
    assert set(AFFINITY_FEATURES) - {"item_purchases"} <= set(back.feature_names_)


def test_no_engine_variant_when_no_offer_lists_items():
    rows = _planted_rows(1000, 4).assign(item_purchases=np.nan, item_recent_purchases=np.nan,
                                         item_coupon_lines=np.nan)
    with threadpool_limits(1):
        model = OfferResponseModel(estimator="logistic").fit(rows)
    assert model.engine_model_ is None and model.engine_variant() is model

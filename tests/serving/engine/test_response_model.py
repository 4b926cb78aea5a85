"""The engine's P(redeem) from the trained offer-response model (response_model.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_program import MEMBERS, offer

from models.offer_response import OfferAffinity, OfferResponseModel
from serving.engine import EngineConfig, OfferEngine
from serving.engine.response_model import TYPE_PRIOR_CODE, response_inputs

NOW = "2026-01-02T10:00"
IDS = [*MEMBERS["member_id"], "stranger"]


@pytest.fixture(scope="module")
def model():
    """A logistic response model on planted rows: frequent buyers and cashback redeem more."""
    rng = np.random.default_rng(3)
    n = 600
    frequency = rng.uniform(0, 25, n)
    kind = rng.choice(["percent_off", "cashback"], n)
    targeted = rng.random(n) < 0.5
    share = np.where(targeted, rng.uniform(0, 0.6, n), 1.0)
    population = np.where(targeted, 0.2, 1.0)
    logit = -3.5 + 0.08 * frequency + 0.7 * (kind == "cashback") + 1.5 * share
    rows = pd.DataFrame({
        "m__frequency": frequency, "m__recency_days": rng.uniform(0, 120, n),
        "type": kind, "depth": rng.choice([0.05, 0.1, 0.2], n),
        "n_categories": targeted.astype(float), "population_share": population,
        "category_share": share, "lift": share / population, "item_purchases": np.nan,
        "sent_at": pd.Timestamp("2025-06-01") + pd.to_timedelta(rng.integers(0, 150, n), "D"),
        "redeemed": rng.random(n) < 1 / (1 + np.exp(-logit)),
    })
    return OfferResponseModel(estimator="logistic").fit(rows)


@pytest.fixture(scope="module")
def engine(tiny_bundle, catalog, model):
    bundle = tiny_bundle()
    features = MEMBERS[["member_id", "frequency", "recency_days"]].iloc[:3]  # newbie: none
    bundle.response = response_inputs(model, features, bundle.members.ids)
    cat = catalog(
        offer("basket", value={"kind": "percent_off", "amount": 10}),
        offer("coffee", "cashback", target={"kind": "category", "category": "coffee"},
              value={"kind": "cashback_percent", "amount": 5}),
        offer("points", "points_multiplier", value={"kind": "points_multiplier", "amount": 2}),
    )
    return OfferEngine(bundle, cat, EngineConfig(min_expected_value=-1e9))


def test_engine_p_redeem_equals_the_models_for_the_same_member_and_offer_features(engine, model):
    bundle = engine.bundle
    rows = np.array([bundle.row(m) for m in IDS])
    assert engine.scoring.static is not None  # precomputed at load, read by decide
    p = engine.score(rows, now=NOW, channel="app").p
    coffee = int(np.searchsorted(bundle.categories, "coffee"))
    bought = bundle.affinity.has_purchases(rows)
    share = np.where(bought, bundle.affinity.dense(rows)[:, coffee], np.nan)
    population = float(bundle.affinity.population[coffee])
    whole = np.where(bought, 1.0, np.nan)
    offers = pd.DataFrame({"offer_id": ["basket", "coffee"], "type": ["percent_off", "cashback"],
                           "depth": [0.10, 0.05], "categories": [[], ["coffee"]]})
    affinity = OfferAffinity(
        member_ids=np.array(IDS), offer_ids=offers["offer_id"].to_numpy(dtype=str),
        category_share=np.column_stack([whole, share]),
        lift=np.column_stack([whole, share / population]),
        item_purchases=np.full((len(IDS), 2), np.nan),
        population_share=np.array([1.0, population]))
    features = MEMBERS.set_index("member_id")[["frequency", "recency_days"]].reindex(IDS)
    features.loc["newbie"] = np.nan  # not in the response features file
    expected = model.predict_proba(features, offers, affinity)
    np.testing.assert_allclose(p[:, :2], expected, rtol=1e-6)
    assert p[0, 1] > p[3, 1]  # the planted effect of frequency survives the engine


def test_a_type_the_model_never_saw_takes_the_types_prior_and_says_so(engine, tiny_bundle,
                                                                      catalog):
    rows = np.array([engine.bundle.row(m) for m in IDS])
    p = engine.score(rows, now=NOW, channel="app").p
    cat = catalog(offer("points", "points_multiplier",
                        value={"kind": "points_multiplier", "amount": 2}))
    prior_only = OfferEngine(tiny_bundle(), cat, EngineConfig(min_expected_value=-1e9))
    np.testing.assert_allclose(p[:, 2], prior_only.score(rows, now=NOW, channel="app").p[:, 0],
                               rtol=1e-6)
    assert list(engine.scoring.response.learned) == [True, True, False]
    offers = {o["offer_id"]: o for o in engine.decide("loyal", "app", limit=3, now=NOW).offers}
    assert TYPE_PRIOR_CODE in offers["points"]["reason_codes"]
    assert TYPE_PRIOR_CODE not in offers["basket"]["reason_codes"]


def test_a_trained_version_feeds_its_learned_model_to_the_engine(trained_artifacts):
    from serving.engine import load_bundle, load_catalog

    artifacts_dir, version = trained_artifacts
    bundle = load_bundle(artifacts_dir, version)
    assert isinstance(bundle.response.model, OfferResponseModel)
    assert bundle.response.members.shape == (len(bundle.members),
                                             len(bundle.response.model.member_columns_))
    assert np.isfinite(bundle.response.members).any(axis=0).all()
    engine = OfferEngine(bundle, load_catalog())
    # The synthetic data's offers table types its sends with names the catalog resolves, so
    # the catalog's templates of those types are scored by the model, the rest by priors.
    assert sorted(bundle.response.model.types_) == ["cashback", "percent_off",
                                                    "points_multiplier"]
    learned = {t.type for t, ok in zip(engine.catalog.offers, engine.scoring.response.learned)
               if ok}
    assert learned == {"personalised_discount", "cashback", "points_multiplier"}
    decided = [o for m in bundle.members.ids[:40]
               for o in engine.decide(m, "email", limit=10).offers]
    by_id = {t.id: t.type for t in engine.catalog.offers}
    of_learned = [o for o in decided if by_id[o["offer_id"]] in learned]
    assert of_learned and not any(TYPE_PRIOR_CODE in o["reason_codes"] for o in of_learned)
    assert any(TYPE_PRIOR_CODE in o["reason_codes"] for o in decided if o not in of_learned)
    p = engine.scoring.static.p
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= engine.config.p_max).all()


def test_a_template_that_states_its_p_redeem_keeps_it(engine, catalog):
    cat = catalog(offer("basket", value={"kind": "percent_off", "amount": 10}, p_redeem=0.3))
    stated = OfferEngine(engine.bundle, cat, EngineConfig(min_expected_value=-1e9))
    assert list(stated.scoring.response.learned) == [False]
    assert stated.score(np.array([-1]), now=NOW, channel="app").p[0, 0] == pytest.approx(0.3)


def test_the_exported_model_predicts_what_the_fitted_one_does(model):
    import json

    from models.offer_response.export import export_model, import_model

    rebuilt = import_model(json.loads(json.dumps(export_model(model))))
    rng = np.random.default_rng(5)
    features = pd.DataFrame({"frequency": rng.uniform(0, 30, 50),
                             "recency_days": np.where(rng.random(50) < 0.2, np.nan, 5.0)})
    offers = pd.DataFrame({"offer_id": ["a", "b"], "type": ["cashback", "new_type"],
                           "depth": [0.1, np.nan], "categories": [[], ["coffee"]]})
    share = rng.random((50, 2))
    np.testing.assert_allclose(rebuilt.predict_proba(features, offers, share),
                               model.predict_proba(features, offers, share), rtol=1e-12)
    assert export_model(OfferResponseModel(estimator="hgb")) is None  # unfitted / not logistic


def test_a_template_names_the_datas_offer_type_it_is_scored_as(engine, catalog):
    """``response_type``: a catalog type the data never used takes the learned P of another."""
    cat = catalog(
        offer("basket", value={"kind": "percent_off", "amount": 10}),
        offer("as-cashback", "seasonal", response_type="cashback",
              value={"kind": "percent_off", "amount": 10}),
        offer("seasonal", "seasonal", value={"kind": "percent_off", "amount": 10}))
    named = OfferEngine(engine.bundle, cat, EngineConfig(min_expected_value=-1e9))
    assert list(named.scoring.response.learned) == [True, True, False]
    p = named.score(np.array([0, 1]), now=NOW, channel="app").p
    assert (p[:, 1] > p[:, 0]).all()  # scored as cashback, which the planted model favours


def test_a_blank_response_type_is_refused_with_what_to_write(catalog):
    from features.errors import ConfigError

    with pytest.raises(ConfigError, match="response_type.*offer type of the data"):
        catalog(offer("x", response_type=" "))


def test_a_model_with_item_level_features_feeds_the_engine_its_engine_variant(
        tiny_bundle, catalog, model):
    # The same planted rows, plus item counts and product features (which a template has not).
    rng = np.random.default_rng(5)
    model_rows = pd.DataFrame({
        "m__frequency": rng.uniform(0, 25, 600), "m__recency_days": rng.uniform(0, 120, 600),
        "type": rng.choice(["percent_off", "cashback"], 600), "depth": 0.1,
        "n_categories": 1.0, "population_share": 0.2, "category_share": rng.random(600),
        "lift": rng.random(600) * 5, "item_purchases": rng.poisson(2, 600).astype(float),
        "item_recent_purchases": rng.poisson(1, 600).astype(float),
        "item_coupon_lines": rng.poisson(1, 600).astype(float),
        "sent_at": pd.Timestamp("2025-06-01") + pd.to_timedelta(rng.integers(0, 150, 600), "D"),
    })
    logit = -3 + 0.1 * model_rows["m__frequency"] + 0.8 * model_rows["item_recent_purchases"]
    model_rows["redeemed"] = rng.random(600) < 1 / (1 + np.exp(-logit))
    full = OfferResponseModel(estimator="logistic").fit(model_rows)
    assert full.engine_model_ is not None
    bundle = tiny_bundle()
    features = MEMBERS[["member_id", "frequency", "recency_days"]].iloc[:3]
    bundle.response = response_inputs(full, features, bundle.members.ids)
    cat = catalog(offer("basket", value={"kind": "percent_off", "amount": 10}))
    engine = OfferEngine(bundle, cat, EngineConfig(min_expected_value=-1e9))
    rows_ = np.array([bundle.row(m) for m in IDS])
    p = engine.score(rows_, now=NOW, channel="app").p[:, 0]
    whole = np.where(bundle.affinity.has_purchases(rows_), 1.0, np.nan)
    offers = pd.DataFrame({"offer_id": ["basket"], "type": ["percent_off"], "depth": [0.10],
                           "categories": [[]]})
    affinity = OfferAffinity(np.array(IDS), np.array(["basket"]), whole[:, None], whole[:, None],
                             np.full((len(IDS), 1), np.nan), np.array([1.0]))
    members = MEMBERS.set_index("member_id")[["frequency", "recency_days"]].reindex(IDS)
    members.loc["newbie"] = np.nan
    expected = full.engine_variant().predict_proba(members, offers, affinity)[:, 0]
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    # Not the full model fed unknowns (its imputed item features would shift every P).
    assert not np.allclose(p, full.predict_proba(members, offers, affinity)[:, 0], rtol=1e-3)

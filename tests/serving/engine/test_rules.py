"""The offer engine on a tiny bundle whose answers are known (tiny_program.py, conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_program import MEMBERS, offer

from features.errors import ConfigError
from serving.engine import EngineConfig, InMemoryHistory, OfferEngine, control_score, in_control

NOW = "2026-01-02T10:00"


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return tiny_bundle()


def offered(bundle, cat, member, channel="app", now=NOW, history=None, limit=5):
    engine = OfferEngine(bundle, cat, EngineConfig(min_expected_value=-1e9))
    decision = engine.decide(member, channel, limit=limit, now=now, history=history)
    return [o["offer_id"] for o in decision.offers]


def eligible_members(catalog, bundle, template, channel="app", now=NOW):
    """Which of the four members (and an unknown one) may get ``template`` (EV aside)."""
    engine = OfferEngine(bundle, catalog(template), EngineConfig(min_expected_value=-1e9))
    rows = np.array([bundle.row(m) for m in [*MEMBERS["member_id"], "stranger"]])
    scored = engine.score(rows, now=now, channel=channel)
    return [m for m, ok in zip([*MEMBERS["member_id"], "stranger"], scored.eligible[:, 0]) if ok]


def test_personalised_discount_targets_the_recommended_category_never_an_excluded_one(catalog,
                                                                                      bundle):
    engine = OfferEngine(bundle, catalog(offer("d", target={"kind": "recommended"})),
                         EngineConfig(min_expected_value=-1e9))
    coffee = engine.decide("loyal", "app", now=NOW).offers[0]
    assert coffee["target"] == {"kind": "category", "category": "coffee"}
    assert "FAVOURITE_CATEGORY" in coffee["reason_codes"]
    assert "You buy coffee often" in coffee["reason"]
    # risky_rich's first recommended category is wine, excluded: coffee instead.
    assert engine.decide("risky_rich", "app", now=NOW).offers[0]["target"]["category"] == "coffee"
    item = OfferEngine(bundle, catalog(offer("i", target={"kind": "recommended", "level": "item"},
                                             value={"kind": "amount_off", "amount": 1})),
                       EngineConfig(min_expected_value=-1e9))
    assert item.decide("loyal", "app", now=NOW).offers[0]["target"]["item_id"] == "C1"


@pytest.mark.parametrize("template, expected", [
    (offer("pm", "points_multiplier", value={"kind": "points_multiplier", "amount": 2},
           eligibility={"frequency": {"min": 4}}), ["loyal", "risky_rich", "risky_poor"]),
    (offer("cb", "cashback", value={"kind": "cashback_percent", "amount": 5},
           eligibility={"segments": ["Lost", "New"]}), ["risky_poor", "newbie"]),
    (offer("fi", "free_item", target={"kind": "recommended", "level": "item"},
           value={"kind": "free_item", "points_price": 500},
           eligibility={"points_balance": {"min": 500}}), ["loyal"]),
    # Tiers from annual spend (no tier recorded): loyal 1150 -> silver, risky_rich 1369 -> gold.
    (offer("vip", "tier_perk", eligibility={"tiers": ["gold", "platinum"]}), ["risky_rich"]),
    (offer("up", "tier_upgrade", value={"kind": "bonus_points", "amount": 100},
           eligibility={"next_tier_gap": {"max": 200}}), ["loyal"]),
    (offer("ref", "referral", value={"kind": "amount_off", "amount": 10},
           eligibility={"segments": ["Champions"], "tenure_days": {"min": 90}}), ["loyal"]),
    (offer("bd", "birthday", value={"kind": "amount_off", "amount": 5},
           eligibility={"birthday_within_days": 7}), ["loyal"]),
    (offer("an", "anniversary", value={"kind": "bonus_points", "amount": 100},
           eligibility={"anniversary_within_days": 40}), ["loyal"]),
    (offer("sub", "subscriber_perk", eligibility={"plan_status": ["active"]}), ["loyal"]),
    # Unknown plan counts as "none": risky_rich and newbie may try the plan; loyal has it.
    (offer("trial", "free_trial", value={"kind": "free_trial", "amount": 30},
           cost={"fixed": 2}, eligibility={"plan_status": ["none", "cancelled"]}),
     ["risky_rich", "risky_poor", "newbie"]),
    (offer("don", "donation", value={"kind": "points_donation", "amount": 100}),
     ["loyal", "risky_rich", "risky_poor", "newbie"]),
    (offer("wb", "win_back", eligibility={"churn_risk": {"min": 0.5}}),
     ["risky_rich", "risky_poor"]),
    (offer("wel", "welcome", value={"kind": "amount_off", "amount": 5},
           eligibility={"audience": "unknown"}), ["stranger"]),
    (offer("cl", eligibility={"clusters": ["lapsed"]}), ["risky_rich", "risky_poor"]),
])
def test_each_offer_type_is_eligible_for_exactly_the_right_members(catalog, bundle, template,
                                                                   expected):
    assert eligible_members(catalog, bundle, template) == expected


def test_birthday_window_moves_with_now(catalog, bundle):
    template = offer("bd", "birthday", value={"kind": "amount_off", "amount": 5},
                     eligibility={"birthday_within_days": 7})
    assert eligible_members(catalog, bundle, template, now="2026-01-02") == ["loyal"]
    assert eligible_members(catalog, bundle, template, now="2026-01-10") == []  # birthday was Jan 4


def test_seasons_and_dates(catalog, bundle):
    holiday = offer("h", "seasonal", eligibility={"season": {"from": "12-15", "to": "01-05"}})
    assert "loyal" in eligible_members(catalog, bundle, holiday, now="2026-01-02")  # wraps the year
    assert eligible_members(catalog, bundle, holiday, now="2026-03-01") == []
    dated = offer("d", "seasonal", eligibility={"dates": {"start": "2026-02-01",
                                                         "end": "2026-02-14"}})
    assert eligible_members(catalog, bundle, dated, now="2026-01-31") == []
    assert "loyal" in eligible_members(catalog, bundle, dated, now="2026-02-14T09:00")


def test_consent_explicit_opt_out_always_wins(catalog, bundle):
    template = offer("any")
    # risky_rich opted out of email, risky_poor of sms; newbie's consent is unknown.
    assert eligible_members(catalog, bundle, template, channel="email") == [
        "loyal", "risky_poor", "newbie"]
    assert eligible_members(catalog, bundle, template, channel="sms") == [
        "loyal", "risky_rich", "newbie"]
    strict = OfferEngine(bundle, catalog(template, consent={"unknown": "deny"}),
                         EngineConfig(min_expected_value=-1e9))
    rows = np.array([bundle.row(m) for m in MEMBERS["member_id"]])
    assert strict.score(rows, NOW, "email").eligible[:, 0].tolist() == [True, False, True, False]
    # The app shows offers in the app: no marketing consent needed by default.
    assert len(eligible_members(catalog, bundle, template, channel="app")) == 4


def test_unknown_channel_and_bad_limit_are_config_errors(catalog, bundle):
    engine = OfferEngine(bundle, catalog(offer("x")))
    with pytest.raises(ConfigError, match="unknown channel 'fax'; use one of app, email, sms"):
        engine.decide("loyal", "fax")
    with pytest.raises(ConfigError, match="limit=0 should be an integer from 1 to 10"):
        engine.decide("loyal", "app", limit=0)


def test_high_risk_high_clv_gets_a_retention_offer_tiny_clv_no_deep_one(catalog, bundle):
    cat = catalog(
        offer("deep", "win_back", value={"kind": "percent_off", "depths": [5, 10, 20, 30]},
              eligibility={"churn_risk": {"min": 0.5}}),
        offer("nudge", "win_back", value={"kind": "bonus_points", "amount": 20},
              eligibility={"churn_risk": {"min": 0.5}}),
    )
    engine = OfferEngine(bundle, cat)
    rich = engine.decide("risky_rich", "app", now=NOW).offers
    assert [o["offer_id"] for o in rich] == ["deep"]  # one retention offer only
    # Saved value 0.8 x 0.3 x 2000 x 0.3 x d/(d+10) minus d% of a 300 basket peaks at 10%.
    assert rich[0]["value"]["amount"] == 10
    assert rich[0]["cost"] == pytest.approx(30.0)
    assert rich[0]["reason"].startswith("At risk of lapsing (80% churn risk)")
    assert "RECENCY_HIGH" in rich[0]["reason_codes"]
    poor = engine.decide("risky_poor", "app", now=NOW).offers
    assert [o["offer_id"] for o in poor] == ["nudge"]  # CLV 20 caps the cost at 1.00
    assert poor[0]["cost"] <= 0.05 * 20


def test_no_two_offers_on_one_category_and_best_value_first(catalog, bundle):
    cat = catalog(offer("a", target={"kind": "category", "category": "coffee"},
                        value={"kind": "percent_off", "amount": 5}),
                  offer("b", target={"kind": "category", "category": "coffee"},
                        value={"kind": "percent_off", "amount": 5}, p_redeem=0.5),
                  offer("c", target={"kind": "category", "category": "bread"},
                        value={"kind": "percent_off", "amount": 5}))
    engine = OfferEngine(bundle, cat, EngineConfig(min_expected_value=-1e9))
    offers = engine.decide("loyal", "app", now=NOW).offers
    assert [o["offer_id"] for o in offers] == ["b", "c"]
    assert offers[0]["score"] >= offers[1]["score"]


def test_an_item_offer_counts_as_its_items_category(catalog, bundle):
    # "$1 off espresso beans" and "5% off coffee" are offers on the same category.
    cat = catalog(offer("beans", target={"kind": "item", "item_id": "C1"},
                        value={"kind": "amount_off", "amount": 1}, p_redeem=0.5),
                  offer("coffee", target={"kind": "category", "category": "coffee"},
                        value={"kind": "percent_off", "amount": 5}),
                  offer("bread", target={"kind": "category", "category": "bread"},
                        value={"kind": "percent_off", "amount": 5}))
    chosen = offered(bundle, cat, "loyal")
    assert len({"beans", "coffee"} & set(chosen)) == 1 and "bread" in chosen


def test_caps_and_cooldown_are_counted_from_history(catalog, bundle):
    cat = catalog(offer("d", caps={"per_member": {"max": 2, "days": 30}, "cooldown_days": 3}),
                  contact_policy={"max_offers": 3, "days": 7})
    history = InMemoryHistory()
    assert offered(bundle, cat, "loyal", history=history) == ["d"]
    history.add("loyal", "d", "sent", "2026-01-01T09:00", "email")
    assert offered(bundle, cat, "loyal", history=history) == []  # cooldown: 3 days
    assert offered(bundle, cat, "loyal", now="2026-01-05", history=history) == ["d"]
    history.add("loyal", "d", "sent", "2025-12-20", "app")
    assert offered(bundle, cat, "loyal", now="2026-01-05", history=history) == []  # 2 in 30 d
    assert offered(bundle, cat, "loyal", now="2026-01-25", history=history) == ["d"]


def test_contact_policy_spans_every_channel(catalog, bundle):
    cat = catalog(offer("d"), offer("e", target={"kind": "category", "category": "bread"}),
                  contact_policy={"max_offers": 2, "days": 7})
    history = InMemoryHistory()
    history.add("loyal", "other-offer", "sent", "2026-01-01", "email")
    engine = OfferEngine(bundle, cat, EngineConfig(min_expected_value=-1e9))
    assert len(engine.decide("loyal", "sms", now=NOW, history=history).offers) == 1
    history.add("loyal", "other-offer-2", "sent", "2026-01-02T08:00", "app")
    decision = engine.decide("loyal", "sms", now=NOW, history=history)
    assert decision.offers == [] and decision.suppressed == "contact_policy"


def test_total_budget_and_redemption_limit(catalog, bundle):
    cat = catalog(offer("b", caps={"budget": 100.0}), offer("r", caps={"redemptions": 2},
                                                           target={"kind": "recommended"}))
    engine = OfferEngine(bundle, cat, EngineConfig(min_expected_value=-1e9))
    history = InMemoryHistory()
    assert {o["offer_id"] for o in engine.decide("loyal", "app", now=NOW,
                                                 history=history).offers} == {"b", "r"}
    history.add("x", "b", "redeemed", "2025-12-01", cost=99.0)  # not room for one more
    history.add("y", "r", "redeemed", "2025-12-01")
    history.add("z", "r", "redeemed", "2025-12-02")
    assert engine.decide("loyal", "app", now=NOW, history=history).offers == []


def test_unknown_member_gets_cold_start_offers(catalog, bundle):
    cat = catalog(offer("known-only"),
                  offer("welcome", "welcome", value={"kind": "amount_off", "amount": 2},
                        business_value=5.0, eligibility={"audience": "unknown"}),
                  offer("popular", target={"kind": "recommended"},
                        eligibility={"audience": "all"}))
    decision = OfferEngine(bundle, cat, EngineConfig(min_expected_value=-1e9)).decide(
        "stranger", "app", now=NOW).to_dict()
    assert decision["known"] is False and decision["segment"] is None
    assert {o["offer_id"] for o in decision["offers"]} == {"welcome", "popular"}
    popular = next(o for o in decision["offers"] if o["offer_id"] == "popular")
    assert "POPULAR_CHOICE" in popular["reason_codes"]


def test_control_group_is_deterministic_and_about_the_configured_share(catalog, bundle):
    ids = [f"m{i}" for i in range(20_000)]
    held = [in_control(m, "spring", 0.05) for m in ids]
    assert held == [in_control(m, "spring", 0.05) for m in ids]
    assert 0.045 < np.mean(held) < 0.055
    other = [in_control(m, "autumn", 0.05) for m in ids]
    assert np.mean(np.array(held) & np.array(other)) < 0.005  # independent across campaigns
    assert control_score("m1", "spring") == pytest.approx(control_score("m1", "spring"))
    member = next(m for m in MEMBERS["member_id"] if in_control(m, "c1", 0.5))
    decision = OfferEngine(bundle, catalog(offer("x"), campaign="c1",
                                           control_group={"share": 0.5})).decide(
        member, "app", now=NOW)
    assert decision.control_group and decision.offers == []
    assert decision.to_dict()["campaign_id"] == "c1" and decision.suppressed == "control_group"


def test_decision_is_json_ready_with_every_field(catalog, bundle):
    import json

    decision = OfferEngine(bundle, catalog(offer(
        "d", title="{percent}% off {category}", target={"kind": "recommended"},
        message={"app": "Save {percent}% on {category} until {expiry}", "email": "e",
                 "sms": "s"})), EngineConfig(min_expected_value=-1e9)).decide(
        "loyal", "app", now=NOW).to_dict()
    assert json.loads(json.dumps(decision)) == decision
    o = decision["offers"][0]
    assert o["title"] == "10% off coffee"
    assert o["message"] == "Save 10% on coffee until 2026-01-16"
    assert o["expiry"] == "2026-01-16" and o["value"] == {"kind": "percent_off", "amount": 10.0}
    assert set(o) >= {"offer_id", "type", "target", "score", "p_redeem", "cost", "reason",
                      "reason_codes", "code"}
    assert decision["model_version"] == "test-v1" and decision["known"] is True


def test_profile_has_tier_progress(catalog, bundle):
    engine = OfferEngine(bundle, catalog(offer("x")))
    profile = engine.profile("loyal")
    assert profile["tier"] == "silver" and profile["next_tier"] == "gold"
    assert profile["to_next_tier"] == pytest.approx(1200 - 1150)
    assert profile["top_categories"] == ["coffee", "bread"]
    assert engine.profile("stranger") is None


def _random_members(n: int, seed: int) -> pd.DataFrame:
    """``n`` members like :data:`MEMBERS` with random birthdays, tenures and consents."""
    rng = np.random.default_rng(seed)
    frame = MEMBERS.iloc[rng.integers(0, len(MEMBERS), n)].reset_index(drop=True)
    frame["member_id"] = [f"m{i}" for i in range(n)]
    frame["days_to_next_birthday"] = np.where(rng.random(n) < 0.2, np.nan,
                                              rng.integers(0, 365, n).astype(float))
    frame["tenure_days"] = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 1500, n))
    for column in ("email_opt_in", "sms_opt_in", "push_opt_in"):
        frame[column] = pd.Series(rng.choice([True, False, None], n), dtype=object)
    return frame


def test_one_member_moment_mask_agrees_with_the_vectorised_rules(catalog, tiny_bundle):
    from serving.engine.scoring import moment_mask, moment_mask_one

    bundle = tiny_bundle(_random_members(80, seed=3))
    templates = [
        offer("plain"),
        offer("bd0", "birthday", eligibility={"birthday_within_days": 0}),
        offer("bd7", "birthday", eligibility={"birthday_within_days": 7}),
        offer("bd30", "birthday", eligibility={"birthday_within_days": 30}),
        offer("an3", "anniversary", eligibility={"anniversary_within_days": 3}),
        offer("an20", "anniversary", eligibility={"anniversary_within_days": 20}),
        offer("wrap", "seasonal", eligibility={"season": {"from": "12-15", "to": "01-05"}}),
        offer("summer", "seasonal", eligibility={"season": {"from": "06-01", "to": "08-31"}}),
        offer("dated", "seasonal", eligibility={"dates": {"start": "2026-02-01",
                                                         "end": "2026-02-14"}}),
    ]
    rng = np.random.default_rng(4)
    rows = np.append(np.arange(len(bundle.members)), -1)
    seconds = rng.integers(0, 3 * 365 * 86_400, 40)
    checked = 0
    for unknown in ("allow", "deny"):
        engine = OfferEngine(bundle, catalog(*templates, consent={"unknown": unknown}))
        for second in seconds:
            now = np.datetime64("2025-06-01T00:00:00", "s") + np.timedelta64(int(second), "s")
            for channel in ("app", "email", "sms"):
                together = moment_mask(engine.scoring, rows, now, channel)
                one = np.array([moment_mask_one(engine.scoring, int(r), now, channel)
                                for r in rows])
                np.testing.assert_array_equal(one, together)
                checked += together.sum()
    assert checked > 0  # some templates are open to some members at some moments
    assert 0 < checked < 2 * 40 * 3 * len(rows) * len(templates)


def test_decide_renders_each_offer_as_render_does(catalog, bundle):
    engine = OfferEngine(bundle, catalog(
        offer("d", target={"kind": "recommended"}),
        offer("r", "win_back", value={"kind": "amount_off", "amount": 5}),
        offer("b", "birthday", value={"kind": "amount_off", "amount": 5},
              eligibility={"birthday_within_days": 7})), EngineConfig(min_expected_value=-1e9))
    now = np.datetime64(NOW, "s")
    rendered = {}
    for member in [*MEMBERS["member_id"], "stranger"]:
        decision = engine.decide(member, "app", limit=3, now=now)
        row = bundle.row(member)
        scored = engine.score(np.array([row]), now, "app")
        by_id = {t.id: i for i, t in enumerate(engine.catalog.offers)}
        expected = [engine.render(member, row, scored, 0, by_id[o["offer_id"]], now, "app")
                    for o in decision.offers]
        assert decision.offers == expected
        rendered[member] = len(expected)
    assert rendered["loyal"] >= 2 and sum(rendered.values()) > rendered["loyal"]


def test_placeholders_for_the_names_a_template_uses_are_those_of_placeholders(catalog):
    from serving.engine.catalog.fields import PLACEHOLDERS
    from serving.engine.messages import (
        OfferFacts,
        placeholder_names,
        placeholders,
        placeholders_for,
    )

    cat = catalog(offer("p", title="{percent}% off {category}", reason="Since {recency_days} d",
                        target={"kind": "recommended"},
                        message={"app": "Until {expiry}", "email": "{money} {category}",
                                 "sms": "{points_balance} pts"}))
    template = cat.offers[0]
    names = placeholder_names(template)
    assert names == ("category", "percent", "money", "points_balance", "expiry",
                     "recency_days")
    facts = OfferFacts(amount=15.0, category="BAKED BREAD", expiry="2026-01-09",
                       points_balance=1234.0, recency_days=3.4)
    every = placeholders(template, facts, "$")
    assert set(every) == PLACEHOLDERS
    assert placeholders_for(template, facts, "$", names) == {n: every[n] for n in names}
    assert every["money"] == "$15.00" and every["recency_days"] == "3"

"""Budgeted campaign allocation and lift measurement, on cases whose answers are known."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from tiny_program import offer

from features.errors import ConfigError
from features.lift import campaign_lift
from features.loading import load_dataset
from serving.engine import EngineConfig, InMemoryHistory, OfferEngine, allocate_campaign
from serving.engine.campaign.allocation import Candidates, greedy_allocate
from serving.engine.campaign.campaign import OFFER_COLUMNS
from serving.engine.catalog.loading import load_catalog

NOW = "2026-01-02T10:00"


def _caps(n_templates: int) -> dict:
    return dict(template_budget=np.full(n_templates, np.inf),
                template_redemptions=np.full(n_templates, np.inf),
                retention=np.zeros(n_templates, dtype=bool))


def _candidates(rows) -> Candidates:
    member, template, charge, ev = (np.array(c) for c in zip(*rows))
    return Candidates(member, template, ev.astype(float), charge.astype(float),
                      np.full(len(rows), 0.1), np.full(len(rows), -1))


def _optimum(c: Candidates, n_members: int, budget: float) -> float:
    """Brute force: every member takes none or one of its candidates."""
    choices = [[None] + list(np.flatnonzero(c.member == m)) for m in range(n_members)]
    best = 0.0
    for pick in itertools.product(*choices):
        taken = [k for k in pick if k is not None]
        if c.charge[taken].sum() <= budget + 1e-9:
            best = max(best, float(c.ev[taken].sum()))
    return best


def test_greedy_finds_the_known_optimum_where_a_plain_ratio_sort_does_not():
    # (member, template, charge, EV). The optimum within 4.0: member 0's dearer offer (5.0)
    # and member 1's cheap one (2.0) = 7.0. Sorting by EV/charge alone gives 3 + 2 + 1 = 6.
    c = _candidates([(0, 0, 1, 3.0), (0, 1, 3, 5.0), (1, 0, 1, 2.0), (1, 1, 2, 2.5),
                     (2, 0, 2, 1.0)])
    kept = greedy_allocate(c, 3, 4.0, per_member=1, **_caps(2))
    assert kept.tolist() == [1, 2]
    assert c.ev[kept].sum() == _optimum(c, 3, 4.0) == 7.0


def test_greedy_respects_the_budget_and_stays_near_the_optimum_on_random_cases():
    rng = np.random.default_rng(5)
    for _ in range(40):
        rows = [(m, t, rng.uniform(0.1, 3), rng.uniform(0.1, 5))
                for m in range(4) for t in range(3) if rng.random() < 0.8]
        c = _candidates(rows)
        budget = float(rng.uniform(0.5, 8))
        kept = greedy_allocate(c, 4, budget, per_member=1, **_caps(3))
        assert c.charge[kept].sum() <= budget + 1e-9
        assert len(set(c.member[kept])) == len(kept)
        # The multiple-choice knapsack greedy loses at most one offer's value.
        assert c.ev[kept].sum() >= _optimum(c, 4, budget) - c.ev.max() - 1e-9


def test_template_budget_redemption_limit_and_categories():
    c = _candidates([(m, 0, 1, 2.0) for m in range(5)])
    caps = _caps(1) | {"template_budget": np.array([3.0])}
    assert len(greedy_allocate(c, 5, 100.0, per_member=1, **caps)) == 3
    caps = _caps(1) | {"template_redemptions": np.array([0.25])}  # p = 0.1 each
    assert len(greedy_allocate(c, 5, 100.0, per_member=1, **caps)) == 2
    two = Candidates(np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([3.0, 2.0, 1.0]),
                     np.ones(3), np.full(3, 0.1), np.array([7, 7, 8]))
    kept = greedy_allocate(two, 1, 10.0, per_member=3, **_caps(3))
    assert kept.tolist() == [0, 2]  # never two offers on category 7


@pytest.fixture(scope="module")
def engine(tiny_bundle):
    return OfferEngine(tiny_bundle(), load_catalog(), EngineConfig(control_share=0.0))


def test_campaign_with_ample_budget_gives_each_member_its_best_offer(engine):
    result = allocate_campaign(engine, budget=1e6, channel="app", now=NOW, campaign="t")
    assert list(result.offers.columns) == list(OFFER_COLUMNS)
    for member, row in result.offers.set_index("member_id").iterrows():
        best = engine.decide(member, "app", limit=1, now=NOW).offers[0]
        assert row["offer_id"] == best["offer_id"]
        assert row["expected_value"] == pytest.approx(best["score"], abs=1e-3)
        assert row["title"] == best["title"] and row["code"].count("-") == 1
    assert result.summary["offers"] == 4 and result.holdouts.empty


def test_campaign_budget_segment_and_history(engine):
    tight = allocate_campaign(engine, budget=1.0, channel="app", now=NOW)
    assert tight.summary["expected_cost"] <= 1.0
    # risky_rich's deep retention offer is charged in full (30.00): the nudge fits instead.
    offers = tight.offers.set_index("member_id")["offer_id"]
    assert offers["risky_rich"] == "win-back-nudge"
    assert tight.summary["expected_value"] < allocate_campaign(
        engine, budget=1e6, channel="app", now=NOW).summary["expected_value"]
    lost = allocate_campaign(engine, budget=1e6, segment="Lost", channel="email", now=NOW)
    assert lost.offers["member_id"].tolist() == ["risky_poor"]
    with pytest.raises(ConfigError, match="segment 'Nope' is not a segment"):
        allocate_campaign(engine, budget=1, segment="Nope")
    history = InMemoryHistory()
    for day in ("2025-12-30", "2025-12-31", "2026-01-01"):  # the contact policy: 3 in 7 days
        history.add("loyal", f"old-{day}", "sent", day)
    result = allocate_campaign(engine, ["loyal", "newbie"], budget=1e6, channel="app",
                               now=NOW, history=history)
    assert result.offers["member_id"].tolist() == ["newbie"]


def test_campaign_holds_out_the_control_group(catalog, tiny_bundle, tmp_path):
    template = offer("x", business_value=10.0, eligibility={"audience": "all"})
    engine = OfferEngine(tiny_bundle(), catalog(template), EngineConfig(control_share=0.5))
    ids = ["loyal", "risky_rich", "risky_poor", "newbie"] + [f"new{i}" for i in range(40)]
    result = allocate_campaign(engine, ids, budget=1e6, channel="app", now=NOW,
                               campaign="spring")
    sent, held = set(result.offers["member_id"]), set(result.holdouts["member_id"])
    assert not sent & held and sent | held <= set(ids)
    assert 10 < len(held) < 34 and (result.holdouts["campaign_id"] == "spring").all()
    again = allocate_campaign(engine, ids, budget=1e6, channel="app", now=NOW,
                              campaign="spring")
    assert set(again.holdouts["member_id"]) == held


def _lift_data(tmp_path):
    """40 members; 20 sent campaign C1 on March 1st (5 redeem), 20 held out.
    Weekly baskets of 10 (+/- 1) for everyone; the treated spend 20 a week after the send."""
    rows, events = [], []
    for m in range(40):
        for week in range(-8, 8):
            day = pd.Timestamp("2026-03-01") + pd.Timedelta(days=7 * week + 1)
            amount = (20.0 if m < 20 and week >= 0 else 10.0) + (m % 3 - 1)
            rows.append((f"m{m}", day, "A", 1, amount, f"b{m}-{week}"))
        if m < 20:
            events.append((f"m{m}", "o1", "sent", "2026-03-01T09:00", "C1"))
            if m < 5:
                events.append((f"m{m}", "o1", "redeemed", "2026-03-03T09:00", "C1"))
    tx = pd.DataFrame(rows, columns=["member_id", "timestamp", "item_id", "quantity", "amount",
                                     "basket_id"])
    tx.to_csv(tmp_path / "transactions.csv", index=False)
    (tmp_path / "items.csv").write_text("item_id,category\nA,coffee\n")
    pd.DataFrame(events, columns=["member_id", "offer_id", "event", "timestamp",
                                  "campaign_id"]).to_csv(tmp_path / "offer_events.csv",
                                                         index=False)
    holdouts = pd.DataFrame({"member_id": [f"m{m}" for m in range(20, 40)],
                             "campaign_id": "C1"})
    return load_dataset(tmp_path, now="2026-06-01"), holdouts


def test_lift_measures_a_planted_effect_with_intervals(tmp_path):
    dataset, holdouts = _lift_data(tmp_path)
    table = campaign_lift(dataset, holdouts, window_days=28)
    row = table.iloc[0]
    assert row["campaign_id"] == "C1" and row["comparison"] == "randomised holdout"
    assert (row["treated"], row["control"]) == (20, 20)
    assert row["redemption_rate"] == pytest.approx(0.25)
    assert row["redemption_ci_low"] < 0.25 < row["redemption_ci_high"]
    # 4 weekly baskets in the 28 days after the send: +10 each.
    assert row["spend_lift"] == pytest.approx(40.0, abs=1.0)
    assert row["spend_lift_ci_low"] > 30 and row["spend_lift_ci_high"] < 50
    assert row["spend_change_lift"] == pytest.approx(40.0, abs=1.0)
    assert row["retention_lift"] == pytest.approx(0.0)
    unmatched = campaign_lift(dataset, None)
    assert unmatched.iloc[0]["comparison"].startswith("not sent")
    assert unmatched.iloc[0]["control"] == 20

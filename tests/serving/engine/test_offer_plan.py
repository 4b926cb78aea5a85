"""One-member decisions from per-member plans equal the array path's, record included."""

from __future__ import annotations

import dataclasses
import json
import random

import pandas as pd
import pytest

from serving.engine import load_bundle, load_catalog
from serving.engine.engine import EngineConfig, OfferEngine
from serving.engine.history import InMemoryHistory

MOMENTS = ["2026-01-01T00:00:00", "2026-03-15T12:30:00", "2026-07-04T08:00:00",
           "2026-11-20T23:59:59"]


def _masked(decision) -> dict:
    return {**decision.to_dict(), "decision_id": "-"}


def _history(engine, members, now: str, seed: int = 0) -> InMemoryHistory:
    """Sends, views and redemptions of every catalog offer, some recent enough for caps,
    cooldowns and the contact policy to bite."""
    rng = random.Random(seed)
    offers = [t.id for t in engine.catalog.offers]
    rows = []
    for member in members:
        for _ in range(rng.choice([0, 0, 1, 2, 4])):
            rows.append({"member_id": member, "offer_id": rng.choice(offers),
                         "event": rng.choice(["sent", "sent", "viewed", "redeemed"]),
                         "timestamp": pd.Timestamp(now) - pd.Timedelta(hours=rng.uniform(1, 900)),
                         "cost": rng.uniform(0, 30)})
    return InMemoryHistory(pd.DataFrame(rows))


def _engines(bundle, catalog, **config):
    planned = OfferEngine(bundle, catalog, EngineConfig(**config))
    arrays = OfferEngine(bundle, catalog, EngineConfig(**config))
    arrays._plans = None  # the array path (score_members, choose, render_offers)
    assert planned._plans is not None
    return planned, arrays


@pytest.fixture(scope="module")
def bundle(trained_artifacts):
    return load_bundle(trained_artifacts[0])


def _compare(planned, arrays, members, channels, limits, history_for) -> int:
    shown = 0
    for now in MOMENTS:
        history = history_for(now)
        for member in members:
            for channel in channels:
                for limit in limits:
                    args = dict(limit=limit, now=now, history=history)
                    mine, my_record = planned.decide_with_record(member, channel, **args)
                    ref, ref_record = arrays.decide_with_record(member, channel, **args)
                    assert _masked(mine) == _masked(ref), (member, channel, now, limit)
                    assert dataclasses.replace(my_record, decision_id="-") == \
                        dataclasses.replace(ref_record, decision_id="-"), (member, channel, now)
                    assert _masked(planned.decide(member, channel, **args)) == _masked(ref)
                    # The decision log's row (JSON text of the candidates and offers shown).
                    rows = [engine.decide_pending(member, channel, **args)[1].to_row()
                            for engine in (planned, arrays)]
                    assert [{**row, "decision_id": "-"} for row in rows[:1]] == \
                        [{**row, "decision_id": "-"} for row in rows[1:]]
                    assert json.loads(rows[0]["candidates"]) == ref_record.candidates
                    shown += len(mine.offers)
    return shown


def test_planned_decisions_equal_the_array_path(bundle):
    catalog = load_catalog()
    planned, arrays = _engines(bundle, catalog)
    members = [*bundle.members.ids.tolist()[::3], "nobody", "stranger-2"]
    shown = _compare(planned, arrays, members, ("app", "email", "sms"), (1, 3, 10),
                     lambda now: _history(planned, members, now))
    assert shown > len(members)  # offers were made: the comparison is not of empty answers


def test_planned_decisions_with_budget_caps_and_redemption_limits(bundle):
    catalog = load_catalog()
    offers = tuple(dataclasses.replace(t, caps=dataclasses.replace(
        t.caps, budget=40.0 if i % 2 else None, redemptions=2 if i % 3 == 0 else None))
        for i, t in enumerate(catalog.offers))
    catalog = dataclasses.replace(catalog, offers=offers)
    planned, arrays = _engines(bundle, catalog, min_expected_value=-1.0)
    members = bundle.members.ids.tolist()[::7]
    history = _history(planned, members, MOMENTS[0], seed=3)
    assert any(v["redeemed"] >= 2 for v in history.offer_totals().values())
    _compare(planned, arrays, members, ("app", "email"), (3,), lambda now: history)


def test_a_rendered_answer_is_the_callers_own(bundle):
    planned, _ = _engines(bundle, load_catalog())
    member = next(m for m in bundle.members.ids.tolist()
                  if planned.decide(m, "app", now=MOMENTS[1]).offers)
    first = planned.decide(member, "app", now=MOMENTS[1])
    offer = first.offers[0]
    offer["target"]["kind"], offer["reason_codes"][:] = "changed", ["X"]
    offer["value"]["amount"] = -1
    again = planned.decide(member, "app", now=MOMENTS[1]).offers[0]
    assert again["target"]["kind"] != "changed" and again["reason_codes"] != ["X"]
    assert again["value"]["amount"] != -1


def test_unknown_members_share_a_plan_not_their_codes(bundle):
    planned, arrays = _engines(bundle, load_catalog())
    a = planned.decide("walk-in-1", "app", now=MOMENTS[0])
    b = planned.decide("walk-in-2", "app", now=MOMENTS[0])
    assert a.offers and [o["offer_id"] for o in a.offers] == [o["offer_id"] for o in b.offers]
    assert [o["code"] for o in a.offers] != [o["code"] for o in b.offers]
    assert _masked(b) == _masked(arrays.decide("walk-in-2", "app", now=MOMENTS[0]))


def test_exploration_and_large_programs_keep_the_array_path(bundle):
    catalog = load_catalog()
    assert OfferEngine(bundle, catalog, EngineConfig(epsilon=0.1))._plans is None
    assert OfferEngine(bundle, catalog, EngineConfig(precompute_cells=1))._plans is None


def test_the_plan_cache_is_bounded(bundle):
    planned, _ = _engines(bundle, load_catalog())
    planned._plans.size = 5
    for member in bundle.members.ids.tolist()[:40]:
        planned.decide(member, "app", now=MOMENTS[0])
    assert 0 < len(planned._plans.plans) <= 5
    plan = next(iter(planned._plans.plans.values()))
    assert not plan.ev_row.flags.writeable  # shared by requests: read-only

"""The decision-log record built in the writer's thread (issue 14) is the record of the decision.

``OfferEngine.decide_pending`` hands the writer a :class:`PendingRecord` (arrays the decision
already has) instead of a built :class:`DecisionRecord`. These tests build the expected
record independently, from the engine's scores, and compare.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from keys import READ

from serving import create_app
from serving.engine import EngineConfig, OfferEngine, load_bundle, load_catalog
from serving.engine.engine import to_datetime64

NOW = "2026-12-01T10:00"


@pytest.fixture(scope="module")
def engine(trained_artifacts):
    bundle = load_bundle(trained_artifacts[0], trained_artifacts[1])
    # Exploration on and a control group: explored, greedy and suppressed decisions all occur.
    return OfferEngine(bundle, load_catalog(), EngineConfig(epsilon=0.3, control_share=0.2))


def expected_candidates(engine, member_id: str, channel: str) -> list[dict]:
    """Every eligible offer best first (score, then priority, then catalog order), rounded."""
    scored = engine.score(np.array([engine.bundle.row(member_id)]), NOW, channel)
    ev, p = scored.ev[0], scored.p[0]
    eligible = [t for t in range(len(ev)) if np.isfinite(ev[t])]
    eligible.sort(key=lambda t: (-ev[t], -engine.templates.priority[t], t))
    return [{"offer_id": engine.catalog.offers[t].id, "score": float(np.round(ev[t], 4)),
             "p_redeem": float(np.round(p[t], 4))} for t in eligible]


def test_pending_record_is_the_decisions_record(engine):
    members = [*map(str, engine.bundle.members.ids[:150]), "unknown-1", "unknown-2"]
    kinds = set()
    for m in members:
        decision, pending = engine.decide_pending(m, "email", limit=2, now=NOW)
        rec = pending.record()
        assert (rec.decision_id, rec.decided_at, rec.member_id, rec.channel) == (
            decision.decision_id, decision.decided_at, m, "email")
        assert (rec.campaign_id, rec.model_version, rec.epsilon, rec.suppressed, rec.arm) == (
            engine.campaign, engine.bundle.version, 0.3, decision.suppressed, None)
        assert [s["offer_id"] for s in rec.shown] == [o["offer_id"] for o in decision.offers]
        assert all(s["propensity"] == 1.0 for s in rec.shown[1:])
        if decision.suppressed is not None:
            kinds.add("suppressed")
            assert rec.candidates == [] and rec.shown == []
            continue
        assert rec.candidates == expected_candidates(engine, m, "email")
        if rec.shown:
            n = len(rec.candidates)
            greedy = rec.shown[0]["offer_id"] == rec.candidates[0]["offer_id"]
            kinds.add("greedy" if greedy else "explored")
            assert rec.shown[0]["propensity"] == pytest.approx(0.3 / n + 0.7 * greedy, abs=1e-6)
        row = pending.to_row()
        assert row == rec.to_row() and json.loads(row["candidates"]) == rec.candidates
    assert kinds == {"suppressed", "greedy", "explored"}


def test_decide_with_record_and_the_arm(engine):
    decision, rec = engine.decide_with_record("unknown-7", "app", limit=3,
                                              now=to_datetime64(NOW))
    assert rec.candidates == expected_candidates(engine, "unknown-7", "app")
    _, pending = engine.decide_pending("unknown-7", "app", limit=3, now=NOW)
    assert pending.with_arm("b") is pending and pending.record().arm == "b"
    assert pending.to_row()["arm"] == "b"


def test_the_api_logs_the_record_built_in_the_writer(trained_artifacts, make_config, tmp_path,
                                                     auth):
    app = create_app(make_config(trained_artifacts[0], tmp_path))
    engine = app.extensions["offers_model"].served.engine
    client = app.test_client()
    members = [str(m) for m in engine.bundle.members.ids[:20]]
    answers = {}
    for m in members:
        got = client.get(f"/v1/members/{m}/offers?channel=email&limit=2", headers=auth(READ))
        assert got.status_code == 200
        answers[got.json["decision_id"]] = got.json
    writer = app.extensions["offers_decisions"]
    assert writer.flush() and writer.written == len(members) and writer.dropped == 0
    from serving.store.decisions import COLUMNS, DecisionLog

    rows = [dict(zip(COLUMNS, r)) for r in DecisionLog(app.extensions["offers_store"]).iter_rows()]
    assert sorted(r["decision_id"] for r in rows) == sorted(answers)
    for row in rows:
        answer = answers[row["decision_id"]]
        shown = json.loads(row["shown"])
        assert [s["offer_id"] for s in shown] == [o["offer_id"] for o in answer["offers"]]
        if answer["suppressed"] is None:
            candidates = json.loads(row["candidates"])
            assert {c["offer_id"] for c in candidates} >= {s["offer_id"] for s in shown}
            scores = [c["score"] for c in candidates]
            assert scores == sorted(scores, reverse=True)
        assert (row["member_id"], row["decided_at"]) == (answer["member_id"],
                                                        answer["decided_at"])
    app.extensions["offers_store"].close()

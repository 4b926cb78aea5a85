"""Decision logs with propensities (issue 15 part 4): exploration, both stores, export."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from keys import READ

from features.errors import ConfigError, DataError
from serving import create_app
from serving.engine import EngineConfig, OfferEngine, load_bundle, load_catalog
from serving.engine.engine import new_id
from serving.engine.exploration import DecisionRecord, check_epsilon, draw, explore_first
from serving.store import open_store
from serving.store.decisions import (
    CHUNK,
    COLUMNS,
    DecisionLog,
    DecisionWriter,
    export_decisions,
    read_decisions,
)


@pytest.fixture(scope="module")
def engine_factory(trained_artifacts):
    bundle = load_bundle(trained_artifacts[0], trained_artifacts[1])
    catalog = load_catalog()

    def make(**options):
        return OfferEngine(bundle, catalog, EngineConfig(**options))

    return make


def record(i: int, **kw) -> DecisionRecord:
    return DecisionRecord(
        decision_id=f"d{i:04d}", decided_at=f"2026-12-01T10:{i % 60:02d}:00Z", member_id=str(i),
        channel="email", campaign_id="c", model_version="v1", epsilon=0.1,
        candidates=[{"offer_id": "a", "score": 1.5, "p_redeem": 0.2},
                    {"offer_id": "b", "score": 0.5, "p_redeem": 0.1}],
        shown=[{"offer_id": "a", "propensity": 0.95}], **kw)


def test_draws_are_fixed_by_decision_id_and_seed():
    assert draw("abc", 0) == draw("abc", 0)
    assert draw("abc", 0) != draw("abc", 1) and draw("abc", 0) != draw("abd", 0)
    eligible = [4, 7, 9]
    assert explore_first([7], eligible, 0.0, "x", 0) == (7, 1.0)
    assert explore_first([], eligible, 0.5, "x", 0) == (None, 1.0)
    firsts = [explore_first([7], eligible, 0.3, f"id{i}", 0) for i in range(3000)]
    explored = sum(f != 7 for f, _ in firsts) / len(firsts)
    assert 0.3 * 2 / 3 - 0.03 < explored < 0.3 * 2 / 3 + 0.03  # 2 of 3 draws leave the greedy
    for first, propensity in firsts:
        assert propensity == pytest.approx(0.7 + 0.1 if first == 7 else 0.1)


def test_ids_sort_by_time_and_stay_unique():
    """Decision ids grow with time (the log's primary key is appended to, not scattered)."""
    import time

    first = [new_id() for _ in range(20_000)]
    time.sleep(0.003)
    later = new_id()
    assert len(set(first)) == len(first)
    assert all(len(i) == 32 and int(i, 16) >= 0 and i == i.lower() for i in first[:100])
    assert later > max(first)
    assert int(later[:12], 16) == pytest.approx(time.time() * 1000, abs=5_000)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "lots", None])
def test_epsilon_out_of_range_is_a_clear_error(bad, engine_factory):
    with pytest.raises(ConfigError, match="epsilon=.*from 0 to 1"):
        check_epsilon(bad)
    with pytest.raises(ConfigError, match="epsilon"):
        engine_factory(epsilon=bad)


def test_engine_records_candidates_and_propensities(engine_factory, trained_artifacts):
    engine = engine_factory(epsilon=0.5, control_share=0.0)
    members = list(engine.bundle.members.ids[:200])
    explored = n = 0
    for m in members:
        decision, rec = engine.decide_with_record(m, "email", limit=2, now="2026-12-01")
        assert rec.decision_id == decision.decision_id and rec.epsilon == 0.5
        assert [o["offer_id"] for o in decision.offers] == [s["offer_id"] for s in rec.shown]
        if not rec.shown:
            continue
        n += 1
        ids = [c["offer_id"] for c in rec.candidates]
        assert rec.shown[0]["offer_id"] in ids
        best = rec.candidates[0]["offer_id"]
        expected = 0.5 / len(ids) + (0.5 if rec.shown[0]["offer_id"] == best else 0.0)
        assert rec.shown[0]["propensity"] == pytest.approx(expected, abs=1e-6)
        explored += rec.shown[0]["offer_id"] != best
    assert n > 50 and explored > 0
    # Without exploration the first offer is the greedy one, shown with certainty.
    plain = engine_factory(control_share=0.0)
    for m in members[:50]:
        decision, rec = plain.decide_with_record(m, "email", limit=2, now="2026-12-01")
        assert decision.offers == [] or rec.shown[0]["propensity"] == 1.0
        assert plain.decide(m, "email", limit=2, now="2026-12-01").offers == decision.offers


def _roundtrip(store):
    log = DecisionLog(store)
    n = 2 * CHUNK + 3  # three INSERT statements in one transaction
    assert log.write([record(i) for i in range(n)]) == n
    log.write([record(0)])  # a known id is skipped, not an error
    assert log.count() == n
    # known ids and one repeated within a multi-row INSERT are skipped, the others written
    assert log.write([record(n), record(1), record(n), record(n + 1)]) == 4
    assert log.count() == n + 2
    rows = list(log.iter_rows(batch=7))
    assert [r[0] for r in rows] == [f"d{i:04d}" for i in range(n + 2)]
    assert json.loads(rows[0][-1]) == [{"offer_id": "a", "propensity": 0.95}]
    middle = record(CHUNK + 1).to_row()  # a row of the second INSERT, every column in place
    assert rows[CHUNK + 1] == tuple(middle[c] for c in COLUMNS)


def test_decision_log_in_sqlite(tmp_path):
    store = open_store(tmp_path / "events.sqlite3")
    try:
        _roundtrip(store)
    finally:
        store.close()


def test_decision_log_in_postgres(postgres_url):
    store = open_store(postgres_url)
    try:
        _roundtrip(store)
    finally:
        store.close()


def test_writer_batches_in_the_background_and_export_reads_back(tmp_path):
    store = open_store(tmp_path / "events.sqlite3")
    writer = DecisionWriter(store, batch=7)
    for i in range(30):
        writer.submit(record(i, arm="B" if i % 2 else None))
    assert writer.flush()
    assert writer.written == 30 and writer.dropped == 0
    for suffix in ("csv", "jsonl", "parquet"):
        path, n = export_decisions(store, tmp_path / f"log.{suffix}")
        frame = read_decisions(path)
        assert n == 30 and len(frame) == 30
        assert frame["shown"][3] == [{"offer_id": "a", "propensity": 0.95}]
        assert frame["candidates"][3][1]["offer_id"] == "b"
    with pytest.raises(DataError, match="exists; pass --overwrite"):
        export_decisions(store, tmp_path / "log.csv")
    writer.close()
    store.close()


def test_a_file_without_propensity_columns_is_refused(tmp_path):
    (tmp_path / "events.csv").write_text("member_id,offer_id,event\n1,a,sent\n")
    with pytest.raises(DataError, match="not a decision log: column"):
        read_decisions(tmp_path / "events.csv")
    with pytest.raises(DataError, match="does not exist"):
        read_decisions(tmp_path / "missing.csv")


def test_api_decisions_are_logged_and_exported(trained_artifacts, make_config, tmp_path, auth):
    from offers.cli import main

    app = create_app(make_config(trained_artifacts[0], tmp_path))
    client = app.test_client()
    bundle = app.extensions["offers_model"].served.bundle
    members = ["unknown-1", *map(str, bundle.members.ids[:3])]
    for m in members:
        assert client.get(f"/v1/members/{m}/offers", headers=auth(READ)).status_code == 200
    writer = app.extensions["offers_decisions"]
    assert writer.flush()
    assert writer.written == len(members)
    out = tmp_path / "decisions.jsonl"
    result = CliRunner().invoke(main, ["events", "export", "--db", str(tmp_path / "events.sqlite3"),
                                       "--out", str(out), "--decisions"])
    assert result.exit_code == 0, result.output
    assert f"wrote {len(members)} decisions" in result.output
    assert sorted(read_decisions(out)["member_id"]) == sorted(members)


def test_decision_log_can_be_turned_off(trained_artifacts, make_config, tmp_path, auth):
    app = create_app(make_config(trained_artifacts[0], tmp_path, DECISION_LOG=False))
    assert "offers_decisions" not in app.extensions
    assert app.test_client().get("/v1/members/x/offers", headers=auth(READ)).status_code == 200


def test_campaign_decisions_are_logged(trained_artifacts, make_config, tmp_path, auth):
    app = create_app(make_config(trained_artifacts[0], tmp_path, CAMPAIGN_JOBS_INLINE=True))
    client = app.test_client()
    bundle = app.extensions["offers_model"].served.bundle
    members = list(map(str, bundle.members.ids[:40]))
    response = client.post("/v1/campaigns", json={"member_ids": members, "budget": 50},
                           headers=auth(READ))
    assert response.status_code in (200, 201, 202), response.get_data(as_text=True)
    frame = read_decisions(export_decisions(app.extensions["offers_store"],
                                            tmp_path / "d.csv")[0])
    logged = frame[frame["source"] == "campaign"]
    assert set(logged["member_id"]) <= set(members) and len(logged) > 0
    job_id = response.get_json().get("job_id") or response.get_json()["id"]
    assert all(d.startswith(f"{job_id}:") for d in logged["decision_id"])
    offered = logged[logged["suppressed"].isna()]
    assert all(s[0]["propensity"] == 1.0 for s in offered["shown"])


def test_cli_decide_and_campaign_log_when_asked(trained_artifacts, tmp_path):
    from offers.cli import main

    db = tmp_path / "log.sqlite3"
    artifacts = str(trained_artifacts[0])
    bundle = load_bundle(trained_artifacts[0], trained_artifacts[1])
    member = str(bundle.members.ids[0])
    runner = CliRunner()
    result = runner.invoke(main, ["decide", artifacts, member, "--now", "2026-12-01",
                                  "--log-db", str(db)])
    assert result.exit_code == 0, result.output
    decision_id = json.loads(result.output)["decision_id"]
    result = runner.invoke(main, ["campaign", artifacts, "--budget", "20", "--now",
                                  "2026-12-01T10:00", "--out", str(tmp_path / "c.csv"),
                                  "--log-db", str(db)])
    assert result.exit_code == 0, result.output
    store = open_store(db)
    frame = read_decisions(export_decisions(store, tmp_path / "d.csv")[0])
    store.close()
    assert decision_id in set(frame["decision_id"])
    campaign = frame[frame["source"] == "campaign"]
    assert len(campaign) > 1 and (campaign["decided_at"] == "2026-12-01T10:00:00Z").all()

"""Policy replay on logs simulated from the engine with known reward probabilities."""

from __future__ import annotations

import hashlib
from collections import Counter
from itertools import count
from unittest import mock

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from features.errors import DataError
from serving.engine import DEFAULT_CATALOG, EngineConfig, OfferEngine, load_bundle, load_catalog
from serving.replay import replay
from serving.store.decisions import read_decisions

NOW = "2026-12-01T10:00:00"


def truth(member_id: str, offer_id: str) -> float:
    """The known P(redeem) of an offer for a member (the simulation's ground truth)."""
    h = hashlib.sha256(f"{member_id}|{offer_id}".encode()).digest()
    return 0.05 + 0.5 * h[0] / 255


@pytest.fixture(scope="module")
def setting(trained_artifacts, tmp_path_factory):
    """Logs of an exploring engine with simulated rewards, and a new catalog without the
    offer the old policy shows most."""
    bundle = load_bundle(trained_artifacts[0], trained_artifacts[1])
    old = OfferEngine(bundle, load_catalog(), EngineConfig(epsilon=0.5, control_share=0.0))
    rng = np.random.default_rng(7)
    rows = []
    # Exploration draws hash the decision id: fixed ids make the simulated logs (and so the
    # estimates) the same on every run, instead of a fresh 95% interval each time.
    ids = (hashlib.sha256(f"decision-{n}".encode()).hexdigest()[:32] for n in count())
    with mock.patch("serving.engine.engine.new_id", side_effect=lambda: next(ids)):
        decisions = [(m, channel, *old.decide_with_record(m, channel, limit=1, now=NOW))
                     for m in map(str, bundle.members.ids) for channel in ("email", "app")]
    for m, _, _, rec in decisions:
        if rec.shown:
            row = rec.to_row()
            row["candidates"], row["shown"] = rec.candidates, rec.shown
            row["reward"] = float(rng.random() < truth(m, rec.shown[0]["offer_id"]))
            rows.append(row)
    import pandas as pd

    logs = pd.DataFrame(rows)
    top = Counter(s[0]["offer_id"] for s in logs["shown"]).most_common(1)[0][0]
    spec = yaml.safe_load(DEFAULT_CATALOG.read_text())
    spec["offers"] = [o for o in spec["offers"] if o["id"] != top]
    path = tmp_path_factory.mktemp("replay") / "new.yaml"
    path.write_text(yaml.safe_dump(spec))
    new = OfferEngine(bundle, load_catalog(path), EngineConfig(control_share=0.0))
    true_value = np.mean([
        truth(str(r.member_id), d.offers[0]["offer_id"]) if d.offers else 0.0
        for r in logs.itertuples()
        for d in [new.decide(str(r.member_id), r.channel, limit=1, now=NOW)]])
    return logs, new, path, float(true_value), bundle


def test_replay_interval_covers_the_true_value_of_the_new_catalog(setting):
    logs, new, _, true_value, _ = setting
    result = replay(new, logs)
    assert result.n_used == len(logs) > 500 and result.unsupported == 0
    assert 0.05 < result.agreement < 0.95  # the new catalog changes many choices
    for e in result.estimates:
        assert e.low <= true_value <= e.high, (e, true_value)
        assert e.high - e.low < 0.25


def test_logs_without_exploration_cannot_support_a_different_policy(setting):
    logs, new, *_ = setting
    greedy = logs.copy()
    greedy["epsilon"] = 0.0  # as if logged without exploration: only candidates[0] was possible
    with pytest.raises(DataError, match="cannot support this estimate \\(no overlap\\)"):
        replay(new, greedy)


def test_logs_without_propensities_or_rewards_are_refused(setting):
    logs, new, *_ = setting
    bare = logs.copy()
    bare["shown"] = [[{"offer_id": s[0]["offer_id"]}] for s in logs["shown"]]
    with pytest.raises(DataError, match="have no propensity for the offer shown"):
        replay(new, bare)
    with pytest.raises(DataError, match="no rewards: pass --events"):
        replay(new, logs.drop(columns=["reward"]))


def test_rewards_from_offer_events(setting):
    import pandas as pd

    logs, new, *_ = setting
    hits = logs[logs["reward"] > 0]
    events = pd.DataFrame({"member_id": hits["member_id"],
                           "offer_id": [s[0]["offer_id"] for s in hits["shown"]],
                           "event": "redeemed", "timestamp": "2026-12-03T09:00:00"})
    late = events.assign(timestamp="2027-02-01T09:00:00")
    redeemed = set(zip(events["member_id"], events["offer_id"]))
    expected = [float((m, s[0]["offer_id"]) in redeemed)  # either channel's decision counts
                for m, s in zip(logs["member_id"], logs["shown"])]
    assert sum(expected) >= logs["reward"].sum() > 0
    from_events = replay(new, logs.drop(columns=["reward"]), events=events)
    assert from_events.estimates == replay(new, logs.assign(reward=expected)).estimates
    assert replay(new, logs.drop(columns=["reward"]), events=late).logged_value == 0.0


def test_offers_replay_command(setting, trained_artifacts, tmp_path):
    from offers.cli import main

    logs, _, catalog, *_ = setting
    path = tmp_path / "logs.jsonl"
    logs.to_json(path, orient="records", lines=True)
    assert len(read_decisions(path)) == len(logs)
    args = ["replay", str(trained_artifacts[0]), "--logs", str(path)]
    result = CliRunner().invoke(main, [*args, "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    for method in ("ips", "snips", "dr"):
        assert method in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("offers: [{id: x}]\n")
    result = CliRunner().invoke(main, [*args, "--catalog", str(bad)])
    assert result.exit_code == 1 and result.output.startswith("error:"), result.output
    events = tmp_path / "events.csv"
    events.write_text("member_id,offer_id\n1,a\n")
    result = CliRunner().invoke(main, [*args, "--events", str(events)])
    assert result.exit_code == 1 and "not an offer_events table" in result.output

"""A/B tests of versions or catalogs (issue 15 part 6): stable arms, clear config errors."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml
from keys import READ

from features.errors import ConfigError
from serving import create_app
from serving.engine import DEFAULT_CATALOG
from serving.engine.arms import parse_ab_test
from serving.store.decisions import export_decisions, read_decisions

SPLIT = {"name": "dec", "arms": [{"name": "A", "share": 0.3}, {"name": "B", "share": 0.7}]}


def test_arms_are_stable_per_member_and_follow_the_shares():
    split = parse_ab_test(SPLIT)
    members = [f"m{i}" for i in range(20_000)]
    first = [split.assign(m).name for m in members]
    assert first == [parse_ab_test(SPLIT).assign(m).name for m in members]  # stable
    counts = Counter(first)
    assert abs(counts["A"] / len(members) - 0.3) < 0.015
    other = parse_ab_test({**SPLIT, "name": "jan"})  # a new test reshuffles members
    assert sum(a != other.assign(m).name for a, m in zip(first, members)) > 5000


@pytest.mark.parametrize("spec, message", [
    ({"name": "t", "arms": [{"name": "A", "share": 0.5}, {"name": "B", "share": 0.4}]},
     "shares sum to 0.9; they must sum to 1"),
    ({"name": "t", "arms": [{"name": "A", "share": 1.0}]}, "at least two"),
    ({"arms": SPLIT["arms"]}, "needs a name"),
    ({"name": "t", "arms": [{"name": "A", "share": 0.5}, {"name": "A", "share": 0.5}]},
     "must differ"),
    ({"name": "t", "arms": [{"name": "A", "share": 0.5}, {"name": "B", "share": "half"}]},
     "share='half' should be a number"),
    ({"name": "t", "arms": [{"name": "A", "share": 0.5, "model": "x"},
                            {"name": "B", "share": 0.5}]}, "unknown key"),
])
def test_bad_splits_are_clear_errors(spec, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_ab_test(spec)


def test_each_decision_records_its_arm(trained_artifacts, make_config, tmp_path, auth):
    spec = yaml.safe_load(DEFAULT_CATALOG.read_text())
    spec["offers"] = [o for o in spec["offers"] if o["type"] != "win_back"]
    catalog = tmp_path / "b.yaml"
    catalog.write_text(yaml.safe_dump(spec))
    split = {"name": "dec", "arms": [{"name": "A", "share": 0.5},
                                     {"name": "B", "share": 0.5, "catalog": str(catalog)}]}
    app = create_app(make_config(trained_artifacts[0], tmp_path, AB_TEST=split))
    client = app.test_client()
    members = list(map(str, app.extensions["offers_model"].served.bundle.members.ids[:80]))
    win_back = Counter()
    for m in members:
        body = client.get(f"/v1/members/{m}/offers?channel=email", headers=auth(READ)).get_json()
        arm = parse_ab_test(split).assign(m).name
        win_back[arm] += sum(o["type"] == "win_back" for o in body["offers"])
    assert win_back["A"] > 0 and win_back["B"] == 0  # arm B serves its own catalog
    assert app.extensions["offers_decisions"].flush()
    frame = read_decisions(export_decisions(app.extensions["offers_store"],
                                            tmp_path / "d.csv")[0])
    expected = {m: parse_ab_test(split).assign(m).name for m in members}
    assert dict(zip(frame["member_id"], frame["arm"])) == expected
    assert set(frame["arm"]) == {"A", "B"}
    # Arm B runs its catalog on the served bundle: the same model as arm A, after reloads too.
    arms = app.extensions["offers_arms"]
    served = app.extensions["offers_model"].served.engine
    b_member = next(m for m in members if expected[m] == "B")
    assert arms.route(b_member, served)[1].bundle is served.bundle


def test_an_arm_with_a_bad_catalog_stops_the_server(trained_artifacts, make_config, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("offers: [{id: x}]\n")
    split = {"name": "d", "arms": [{"name": "A", "share": 0.5},
                                   {"name": "B", "share": 0.5, "catalog": str(bad)}]}
    with pytest.raises(ConfigError):
        create_app(make_config(trained_artifacts[0], tmp_path, AB_TEST=split))

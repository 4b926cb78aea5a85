"""The engine on a version trained by the real pipeline (small synthetic program), and its CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from features.errors import ArtifactError, DataError
from serving.cli.offers import campaign, decide
from serving.engine import OfferEngine, allocate_campaign, load_bundle, load_catalog
from serving.engine.bundle import _category_codes
from serving.engine.member_table import MemberTable
from training import artifacts
from training.artifacts import schema
from training.cli.lift import lift


@pytest.fixture(scope="module")
def trained(synth_data, trained_artifacts):
    """The serving tests' shared program and version (600 members; read only)."""
    return synth_data, trained_artifacts[0]


@pytest.fixture(scope="module")
def engine(trained):
    return OfferEngine(load_bundle(trained[1]), load_catalog())


def test_bundle_answers_profiles_and_recommendations(engine, trained):
    bundle = engine.bundle
    members = pd.read_parquet(trained[0] / "members.parquet")
    member = str(members["member_id"].iloc[0])
    assert bundle.has_member(member) and not bundle.has_member("nobody")
    assert np.isfinite(bundle.members.numeric["p_redeem_base"]).mean() > 0.9
    profile = engine.profile(member)
    assert profile["tier"] == str(members["tier"].iloc[0])  # the recorded tier wins
    assert set(profile) >= {"segment", "churn_risk", "churn_drivers", "clv", "next_tier",
                            "to_next_tier", "top_categories", "points_balance"}
    json.dumps(profile)
    recs = bundle.recommend(member, k=5)
    assert len(recs) == 5 and set(recs[0]) == {"item_id", "name", "category", "score"}
    category = recs[0]["category"]
    assert {r["category"] for r in bundle.recommend(member, k=3, category=category)} == {category}
    assert len(bundle.recommend("nobody", k=4)) == 4  # popular items
    assert len(bundle.recommend_categories(member, k=2)) == 2
    bundle.smoke_check()


def test_smoke_check_refuses_a_broken_bundle(trained):
    bundle = load_bundle(trained[1])
    bundle.recommender = None
    with pytest.raises(DataError, match="failed its smoke check"):
        bundle.smoke_check()


def test_decisions_honour_opt_outs_and_birthdays(engine, trained):
    bundle = engine.bundle
    members = pd.read_parquet(trained[0] / "members.parquet").astype({"member_id": str})
    now = bundle.as_of
    opted_out = members.loc[members["email_opt_in"] == False, "member_id"]  # noqa: E712
    for member in opted_out.head(20):
        decision = engine.decide(member, "email", now=now)
        assert decision.known and decision.offers == []
    opted_in = members.loc[members["email_opt_in"] == True, "member_id"]  # noqa: E712
    assert any(engine.decide(m, "email", now=now).offers for m in opted_in.head(20))
    days = bundle.members.numeric["days_to_next_birthday"]
    soon = np.flatnonzero(days <= 3)
    assert len(soon)
    t = engine.catalog.ids.index("birthday-treat")
    scored = engine.score(soon, now=now, channel="app")
    later = engine.score(soon, now=now + pd.Timedelta(days=20), channel="app")
    assert scored.eligible[:, t].any() and not later.eligible[:, t].any()


def test_campaign_on_trained_version_respects_budget_and_consent(engine):
    result = allocate_campaign(engine, budget=20.0, channel="email", now=engine.bundle.as_of)
    assert 0 < result.summary["expected_cost"] <= 20.0
    consent = engine.bundle.members.consent["email_opt_in"]
    rows = [engine.bundle.row(m) for m in result.offers["member_id"]]
    assert (consent[rows] != 0).all()
    assert result.offers["offer_id"].isin(engine.catalog.ids).all()


def test_cli_decide_campaign_and_lift(trained, tmp_path):
    data, out = trained
    runner = CliRunner()
    members = pd.read_parquet(data / "members.parquet")
    member = str(members["member_id"].iloc[3])
    result = runner.invoke(decide, [str(out), member, "--channel", "app", "--now", "2026-01-02"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["member_id"] == member
    offers = tmp_path / "offers.csv"
    result = runner.invoke(campaign, [str(out), "--segment", "Champions", "--budget", "50",
                                      "--out", str(offers), "--campaign", "c1",
                                      "--history", str(data), "--now", "2026-01-02"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(offers)
    assert {"member_id", "offer_id", "title", "message", "code", "value_amount", "expiry",
            "reason"} <= set(written.columns)
    assert (tmp_path / "offers.holdouts.csv").is_file()
    result = runner.invoke(lift, [str(data), "--window-days", "14",
                                  "--out", str(tmp_path / "lift.csv")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "lift.csv")
    assert len(table) > 5 and (table["treated"] > 0).all()


def test_recommend_with_categories_is_recommend_and_recommend_categories(engine, trained):
    bundle = engine.bundle
    members = [str(m) for m in bundle.members.ids[:5]] + ["nobody", "nobody-else"]
    category = bundle.recommend(members[0], k=1)[0]["category"]
    for member in members:
        for kwargs in ({}, {"exclude_purchased": True}, {"category": category},
                       {"category": "no such category"}):
            items, top = bundle.recommend_with_categories(member, k=7, n_categories=4, **kwargs)
            assert items == bundle.recommend(member, k=7, **kwargs)
            assert top == bundle.recommend_categories(member, k=4)
            assert len(top) == 4 and (len(items) == 7 or "category" in kwargs)
        assert bundle.recommend_with_categories(member, k=3, n_categories=0)[1] == []
    with pytest.raises(DataError, match="n_categories"):
        bundle.recommend_with_categories("nobody", k=3, n_categories=1001)


def test_cold_start_answer_is_kept_and_equals_a_fresh_one(engine):
    bundle = engine.bundle
    first = bundle.recommend_with_categories("cold-1", k=5, n_categories=3)
    first[0][0]["score"] = -1.0  # a caller changing its answer must not change the next one
    first[1].clear()
    again = bundle.recommend_with_categories("cold-2", k=5, n_categories=3)
    fresh = bundle._recommend_with_categories(-1, 5, False, None, 3)
    assert again == fresh and again[0][0]["score"] != -1.0 and len(again[1]) == 3
    assert (5, False, None, 3) in bundle._cold_answers


def test_trained_lists_reach_the_profile_as_lists(engine, trained):
    bundle = engine.bundle
    members = artifacts.read_members(artifacts.open_version(trained[1]))
    row = int(np.flatnonzero(members["churn_reason_codes"].map(len).to_numpy() >= 2)[0])
    profile = bundle.profile(str(members["member_id"].iloc[row]))
    assert [d["code"] for d in profile["churn_drivers"]] == list(
        members["churn_reason_codes"].iloc[row])
    assert [d["text"] for d in profile["churn_drivers"]] == list(members["churn_reasons"].iloc[row])
    assert profile["top_categories"] == list(members["top_categories"].iloc[row])


def test_category_names_with_separators_map_to_codes():
    categories = np.array(["bread", "fruit; veg", "wine, beer", "wine"])
    categories.sort()
    lists = schema.list_column([("wine, beer", "bread", "fruit; veg", "wine"), (), ("nope", "wine"),
                                None])
    codes = _category_codes(lists, categories)
    names = [[str(categories[c]) for c in row if c >= 0] for row in codes]
    assert names == [["wine, beer", "bread", "fruit; veg"], [], ["wine"], []]
    assert codes.dtype == np.int32 and codes.shape == (4, 3)


def test_a_member_table_lacking_a_column_is_refused_not_filled_with_nan(tmp_path):
    frame = schema.conform_members(pd.DataFrame({
        "member_id": ["a"], "segment": ["New"], "churn_risk": [0.5]}), partial=True)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['churn_risk'\]"):
        MemberTable.from_frame(frame.drop(columns="churn_risk"))
    with pytest.raises(DataError, match="'top_categories' holds text"):
        MemberTable.from_frame(frame.assign(top_categories=["a, b"]))
    assert MemberTable.from_frame(frame).numeric["churn_risk"].tolist() == [0.5]
    raw = frame.drop(columns="churn_risk").assign(
        **{name: [[]] for name in schema.columns_of("list")})
    writer = artifacts.start_version(tmp_path)
    writer.save_frame(schema.MEMBERS, raw)  # around the schema, as an old or foreign writer
    writer.commit({})
    with pytest.raises(ArtifactError, match=f"version {writer.version}.*'churn_risk'.*retrain"):
        load_bundle(tmp_path)

"""The planted treatment effects of the synthetic generator and its randomised holdouts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.loading import load_dataset
from models.uplift.rows import window_outcomes
from training.synth import spec
from training.synth.activity import make_offer_events
from training.synth.catalog import build_calendar, build_campaigns, build_catalog, rng_for
from training.synth.generate import generate
from training.synth.members import make_members

N = 1200


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth_uplift") / "data", N, seed=5, chunk_size=500)


@pytest.fixture(scope="module")
def truth(synth_dir):
    return pd.read_parquet(synth_dir / "truth" / "uplift.parquet").astype(
        {"member_id": str, "offer_type": str, "group": str})


@pytest.fixture(scope="module")
def chosen(synth_dir, truth):
    """Every send and holdout with its offer type, the member's group and window outcomes."""
    ds = load_dataset(synth_dir, now="2026-06-01")
    events = ds.offer_events.astype({"member_id": str, "offer_id": str, "event": str,
                                     "campaign_id": str})
    offers = pd.read_parquet(synth_dir / "truth" / "offers.parquet").set_index("offer_id")
    rows = events[events["event"].isin(["sent", "holdout"])].reset_index(drop=True)
    rows = rows.assign(offer_type=rows["offer_id"].map(offers["type"]))
    rows = rows.merge(truth, on=["member_id", "offer_type"], validate="many_to_one")
    spend, lines = window_outcomes(ds.transactions, rows["member_id"].to_numpy(),
                                   rows["timestamp"].to_numpy(), spec.UPLIFT_WINDOW_DAYS,
                                   pd.Timestamp("2026-01-01"))
    return rows.assign(spend=spend, retained=lines > 0)


def test_truth_has_one_row_per_member_and_offer_type(truth, synth_dir):
    assert len(truth) == N * len(spec.OFFER_TYPES)
    assert set(truth["offer_type"]) == set(spec.OFFER_TYPES)
    assert set(truth["group"]) == set(spec.UPLIFT_GROUPS)
    by_group = truth.groupby("group")[["true_effect_spend", "true_effect_retention"]]
    assert (by_group.min().loc["persuadable"] > 0).all()
    assert (by_group.max().loc["sleeping_dog"] <= 0).all()  # <= : members who never bought
    assert (by_group.mean().loc["sleeping_dog"] < 0).all()
    assert (by_group.agg(lambda s: s.abs().max()).loc[["sure_thing", "lost_cause"]] == 0).all(
        axis=None)
    planted = json.loads((synth_dir / "truth" / "segments.json").read_text())["uplift"]
    assert planted["holdout_share"] == spec.HOLDOUT_SHARE


def test_groups_follow_the_segment_probabilities(truth, synth_dir):
    members = pd.read_parquet(synth_dir / "truth" / "members.parquet")
    seg = truth.merge(members[["member_id", "segment"]].astype({"member_id": str}))
    for t, probabilities in spec.UPLIFT_GROUP_PROBABILITY.items():
        share = seg[seg["offer_type"] == t].groupby("segment")["group"].apply(
            lambda g: (g == "persuadable").mean())
        planted = np.array([p for p, _ in probabilities])[share.index]
        assert np.abs(share.to_numpy() - planted).max() < 0.15, t


def test_holdouts_are_a_random_half_of_each_campaign(chosen):
    per = chosen.groupby("campaign_id")["event"].apply(lambda e: (e == "holdout").mean())
    assert per.between(0.35, 0.65).all()
    assert abs(per.mean() - spec.HOLDOUT_SHARE) < 0.05
    # Nobody is both sent and held out of one campaign.
    assert not chosen.duplicated(["member_id", "campaign_id"]).any()
    # Randomised: the groups are alike in who they are.
    share = chosen.groupby("event")["group"].apply(lambda g: (g == "persuadable").mean())
    assert abs(share["sent"] - share["holdout"]) < 0.03


def test_planted_effects_show_between_sent_and_held_out(chosen):
    mean = chosen.groupby(["group", "event"])[["spend", "retained"]].mean()
    effect = mean.xs("sent", level="event") - mean.xs("holdout", level="event")
    truth = chosen.groupby("group")[["true_effect_spend", "true_effect_retention"]].mean()
    assert effect.loc["persuadable", "spend"] > 0.5 * truth.loc["persuadable",
                                                                "true_effect_spend"]
    assert effect.loc["sleeping_dog", "spend"] < 0.5 * truth.loc["sleeping_dog",
                                                                 "true_effect_spend"]
    assert effect.loc["persuadable", "retained"] > 0.05
    assert effect.loc["sleeping_dog", "retained"] < -0.2
    for group in ("sure_thing", "lost_cause"):  # no effect: only noise
        assert abs(effect.loc[group, "retained"]) < 0.05, group


def test_planting_leaves_the_earlier_random_streams_alone(synth_dir):
    # The first chunk's offer events, drawn as before the uplift planting existed,
    # are exactly the non-holdout events of the written file.
    calendar = build_calendar(spec.DEFAULT_START, 365)
    catalog, campaigns = build_catalog(5), build_campaigns(5, calendar)
    members = make_members(rng_for(5, 1, 0), 1, 500, catalog, calendar)
    before = make_offer_events(rng_for(5, 2, 0), members, campaigns, calendar)
    events = pd.read_parquet(synth_dir / "offer_events.parquet")
    events = events[(events["event"] != "holdout")
                    & (events["member_id"].astype(str) <= "M0000500")]
    assert events["event_id"].tolist() == [f"E{n}" for n in before.event_number]

"""The campaign's template-by-template rendering gives exactly the engine's per-offer strings,
and splitting the campaign between processes changes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.bench_campaign import synthetic_bundle
from serving.engine import EngineConfig, OfferEngine, allocate_campaign, load_catalog
from serving.engine.campaign.campaign import OFFER_COLUMNS
from serving.engine.campaign.render import render_columns, to_frame
from serving.engine.engine import offer_code, to_datetime64
from serving.engine.scoring import score_members

NOW = "2026-12-01T10:00"


@pytest.fixture(scope="module")
def engine():
    # Precomputing on (float32 scores) and off (float64) both reach the renderer.
    return OfferEngine(synthetic_bundle(3_000, seed=4), load_catalog(),
                       EngineConfig(control_share=0.1, precompute_cells=0))


def _one_by_one(engine, member_ids, rows, scored, i, t, stamp, channel, campaign):
    """The campaign file's rows as the engine renders offers one at a time."""
    records = []
    for member_id, row, k, tt in zip(member_ids, rows, i, t):
        offer = engine.render(str(member_id), int(row), scored, int(k), int(tt), stamp, channel)
        target = offer["target"]
        records.append({
            "member_id": str(member_id), "campaign_id": campaign, "channel": channel,
            "offer_id": offer["offer_id"], "type": offer["type"], "title": offer["title"],
            "message": offer["message"],
            "code": offer_code(str(member_id), offer["offer_id"], campaign),
            "value_kind": offer["value"]["kind"], "value_amount": offer["value"]["amount"],
            "target": target.get("item_id") or target.get("category") or "basket",
            "expiry": offer["expiry"], "reason": offer["reason"],
            "reason_codes": ",".join(offer["reason_codes"]), "p_redeem": offer["p_redeem"],
            "cost": offer["cost"], "expected_value": round(float(scored.ev[k, tt]), 4),
        })
    return pd.DataFrame.from_records(records, columns=list(OFFER_COLUMNS))


@pytest.mark.parametrize("channel", ["email", "sms", "app"])
def test_every_template_renders_as_the_engine_renders_it(engine, channel):
    # 400 members (and 3 the version does not know) x every template, eligible now or not.
    rows = np.r_[np.arange(0, 3_000, 7)[:400], [-1, -1, -1]]
    member_ids = np.r_[engine.bundle.members.ids[rows[:-3]], ["x1", "x2", "x3"]]
    stamp = to_datetime64(NOW)
    scored = score_members(engine.scoring, rows, stamp, channel, -np.inf)
    n, T = scored.p.shape
    i, t = np.repeat(np.arange(n), T), np.tile(np.arange(T), n)
    assert np.isfinite(scored.ev[i, t]).sum() > 500  # many are offers the engine makes
    expected = _one_by_one(engine, member_ids[i], rows[i], scored, i, t, stamp, channel, "c1")
    offers = {"template": t, "category": scored.category[i, t], "item": scored.item[i, t],
              "amount": scored.amount[i, t], "share": scored.share[i, t], "p": scored.p[i, t],
              "cost": scored.cost[i, t], "ev": scored.ev[i, t]}
    columns = render_columns(engine, member_ids[i], rows[i], offers, stamp, channel, "c1")
    got = to_frame([columns], len(i), list(OFFER_COLUMNS))
    pd.testing.assert_frame_equal(got, expected)
    assert got["reason_codes"].str.contains("FAVOURITE_CATEGORY").any()
    assert (got["member_id"] == "x1").any()


def _same(a, b):
    pd.testing.assert_frame_equal(a.offers, b.offers)
    pd.testing.assert_frame_equal(a.holdouts, b.holdouts)
    assert {k: v for k, v in a.summary.items() if k != "seconds"} == \
        {k: v for k, v in b.summary.items() if k != "seconds"}


@pytest.mark.parametrize("budget", [150.0, 1e9])
def test_the_campaign_split_between_processes_equals_the_serial_one(engine, budget):
    serial = allocate_campaign(engine, budget=budget, channel="email", now=NOW, n_jobs=1)
    forked = allocate_campaign(engine, budget=budget, channel="email", now=NOW, n_jobs=2)
    _same(serial, forked)
    assert serial.summary["offers"] > 100 and serial.summary["expected_cost"] <= budget


def test_campaign_offers_are_the_engines_rendering_of_the_allocated_pairs(engine):
    result = allocate_campaign(engine, budget=1e9, channel="email", now=NOW, campaign="c2",
                               n_jobs=1)
    offers = result.offers
    rows = np.array([engine.bundle.row(m) for m in offers["member_id"]])
    stamp = to_datetime64(NOW)
    scored = score_members(engine.scoring, rows, stamp, "email", -np.inf)
    t = np.array([engine.templates.ids.index(o) for o in offers["offer_id"]])
    expected = _one_by_one(engine, offers["member_id"].to_numpy(), rows, scored,
                           np.arange(len(rows)), t, stamp, "email", "c2")
    pd.testing.assert_frame_equal(offers, expected)
    assert len(set(offers["offer_id"])) > 5


def test_n_jobs_is_checked(engine):
    from features.errors import ConfigError

    with pytest.raises(ConfigError, match="n_jobs=0 should be"):
        allocate_campaign(engine, budget=1.0, n_jobs=0)

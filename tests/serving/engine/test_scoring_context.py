"""Scoring reads a frozen ScoringContext: it works without an engine and writes no engine state."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bench.bench_campaign import synthetic_bundle
from serving.engine import EngineConfig, OfferEngine, allocate_campaign, load_catalog
from serving.engine.member_context import build_member_context
from serving.engine.scoring import (
    channel_dates,
    moment_mask_one,
    score_members,
    with_static_scores,
)
from serving.engine.scoring_context import (
    SCORED_FIELDS,
    LastAnswer,
    ScoringContext,
    build_scoring_context,
)
from serving.engine.template_arrays import build_template_arrays
from serving.engine.tiers import TierLadder

NOW = np.datetime64("2026-12-01T10:00", "s")
N_MEMBERS = 600


@pytest.fixture(scope="module")
def shop_bundle():
    return synthetic_bundle(N_MEMBERS, seed=7)


@pytest.fixture(scope="module")
def shop_catalog():
    return load_catalog()


def context_without_engine(bundle, catalog, p_max=0.95, lift_cap=4.0) -> ScoringContext:
    """The pieces OfferEngine builds, put together by hand (no OfferEngine instance)."""
    ladder = TierLadder(catalog.tiers, catalog.tier_basis) if catalog.tiers else None
    members = build_member_context(bundle, ladder, catalog.exclude_categories,
                                   catalog.economics.default_basket)
    templates = build_template_arrays(catalog, bundle, members.cluster_ids, members.n_tiers)
    return build_scoring_context(bundle, catalog, members, templates, p_max=p_max,
                                 lift_cap=lift_cap)


def _rows():
    return np.r_[np.arange(N_MEMBERS), [-1, -1]]


@pytest.mark.parametrize("precompute", [False, True])
def test_scoring_works_from_a_context_built_without_an_engine(shop_bundle, shop_catalog,
                                                              precompute):
    ctx = context_without_engine(shop_bundle, shop_catalog)
    if precompute:
        ctx = with_static_scores(ctx)
        assert ctx.static is not None and len(ctx.static.p) == N_MEMBERS + 1
    engine = OfferEngine(shop_bundle, shop_catalog,
                         EngineConfig(precompute_cells=10**9 if precompute else 0))
    assert (engine.scoring.static is not None) == precompute
    for channel in ("app", "email", "sms"):
        got = score_members(ctx, _rows(), NOW, channel)
        expected = engine.score(_rows(), NOW, channel)
        for name in SCORED_FIELDS:
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name),
                                          err_msg=f"{name} on {channel}")
        assert got.eligible.sum() > N_MEMBERS  # offers are open to members: not all masked
    # The one-member path (a request) gives the batch's row.
    one = score_members(ctx, np.array([5]), NOW, "email")
    batch = score_members(ctx, _rows(), NOW, "email")
    np.testing.assert_array_equal(one.ev[0], batch.ev[5])


def test_the_context_reads_the_clips_it_was_given(shop_bundle, shop_catalog):
    loose = context_without_engine(shop_bundle, shop_catalog)
    tight = context_without_engine(shop_bundle, shop_catalog, p_max=0.01)
    loose, tight = (score_members(c, _rows(), NOW, "email") for c in (loose, tight))
    assert loose.p.max() > 0.01
    assert tight.p.max() <= 0.01


def test_the_context_is_frozen_and_its_arrays_read_only(shop_bundle, shop_catalog):
    ctx = with_static_scores(context_without_engine(shop_bundle, shop_catalog))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.p_max = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.static = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.templates.prior = ctx.templates.prior * 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.member_context.basket = None
    for values in (ctx.options, ctx.option_valid, ctx.upgrade_types, ctx.static.ev,
                   ctx.static.eligible, channel_dates(ctx, NOW, "app"), ctx.templates.prior,
                   ctx.templates.segment_mask, ctx.member_context.basket,
                   ctx.member_context.targets):
        with pytest.raises(ValueError, match="read-only"):
            values[0] = values[0]


def _snapshot(engine) -> dict:
    """Each attribute of the engine and of its scoring context, by identity."""
    state = {name: id(value) for name, value in vars(engine).items()}
    state |= {f"scoring.{f.name}": id(getattr(engine.scoring, f.name))
              for f in dataclasses.fields(engine.scoring)}
    return state


def test_deciding_scoring_and_campaigns_leave_the_engine_unchanged(shop_bundle, shop_catalog):
    engine = OfferEngine(shop_bundle, shop_catalog)
    before = _snapshot(engine)
    for now in ("2026-12-01T10:00", "2026-12-24T08:00"):
        for channel in ("app", "email", "sms"):
            for member in [*shop_bundle.members.ids[:20].tolist(), "stranger"]:
                engine.decide(member, channel, limit=3, now=now)
            engine.score(_rows(), now, channel)
    result = allocate_campaign(engine, budget=1e9, channel="email", now=NOW, n_jobs=1)
    assert result.summary["offers"] > 0
    assert _snapshot(engine) == before


def test_channel_dates_are_kept_per_context_for_the_last_moment_and_channel(shop_bundle,
                                                                           shop_catalog):
    ctx = context_without_engine(shop_bundle, shop_catalog)
    other = context_without_engine(shop_bundle, shop_catalog)
    first = channel_dates(ctx, NOW, "app")
    assert channel_dates(ctx, NOW, "app") is first  # memoised
    sms = channel_dates(ctx, NOW, "sms")
    assert sms is not first
    assert channel_dates(ctx, NOW, "app") is not first  # only the last answer is kept
    np.testing.assert_array_equal(channel_dates(ctx, NOW, "app"), first)
    assert channel_dates(other, NOW, "app") is not first  # each context owns its memo
    np.testing.assert_array_equal(channel_dates(other, NOW, "app"), first)


def test_last_answer_returns_a_value_only_for_the_last_key():
    memo = LastAnswer()
    assert memo.get("a") is None
    memo.put("a", 1)
    memo.put("b", 2)
    assert (memo.get("a"), memo.get("b")) == (None, 2)


def test_threads_sharing_a_context_get_the_serial_answers(shop_bundle, shop_catalog):
    ctx = with_static_scores(context_without_engine(shop_bundle, shop_catalog))
    rng = np.random.default_rng(0)
    tasks = [(int(row), NOW + np.timedelta64(int(s), "s"), ("app", "email", "sms")[c])
             for row, s, c in zip(rng.integers(-1, N_MEMBERS, 600),
                                  rng.integers(0, 3, 600) * 86_400 * 40,
                                  rng.integers(0, 3, 600))]
    alone = context_without_engine(shop_bundle, shop_catalog)  # a memo of its own
    serial = [moment_mask_one(alone, *t) for t in tasks]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda t: moment_mask_one(ctx, *t), tasks))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)
    assert len({a.tobytes() for a in serial}) > 1  # moments and channels differ in answer

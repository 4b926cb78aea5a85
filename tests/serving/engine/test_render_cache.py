"""Offer texts taken from the render cache are the texts rendering gives."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from serving.engine import OfferEngine, load_bundle, load_catalog
from serving.engine.render_cache import RenderCache


class NoCache(RenderCache):
    def get(self, key):
        return None


@pytest.fixture(scope="module")
def engines(trained_artifacts):
    """(an engine with its render cache, the same engine rendering every time)."""
    engine = OfferEngine(load_bundle(trained_artifacts[0]), load_catalog())
    # The render cache serves the array path (programs too large to precompute, exploration);
    # one-member plans keep their own rendered offers (tests/serving/engine/test_offer_plan.py).
    engine._plans = None
    fresh = copy.copy(engine)
    fresh._rendered = NoCache()
    return engine, fresh


def offers_of(decision):
    return decision.offers, decision.suppressed


def test_cached_texts_equal_rendered_ones(engines):
    engine, fresh = engines
    members = engine.bundle.members.ids[:120].tolist() + ["nobody-1", "nobody-2"]
    days = [engine.bundle.as_of + np.timedelta64(d, "D") for d in (1, 2, 40)]
    for now in days:
        for channel in ("app", "email", "sms"):
            for member in members:
                first = engine.decide(member, channel, limit=5, now=now)
                again = engine.decide(member, channel, limit=5, now=now)
                live = fresh.decide(member, channel, limit=5, now=now)
                assert offers_of(first) == offers_of(again) == offers_of(live), (member, now)
    assert engine._rendered.hits > 0 and len(engine._rendered) > 0
    assert len(fresh._rendered) > 0 and fresh._rendered.hits == 0


def test_the_cache_is_bounded():
    cache = RenderCache(size=3)
    for i in range(10):
        cache.put((i,), "t", "m", "r", ["C"])
    assert len(cache) <= 3 and cache.get((9,)) == ("t", "m", "r", ("C",))
    assert cache.get((0,)) is None

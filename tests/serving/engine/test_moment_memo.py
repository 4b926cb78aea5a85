"""The engine's texts kept per moment (issue 14): expiry days and ``decided_at`` as computed."""

from __future__ import annotations

import copy

import numpy as np

from serving.engine import OfferEngine, load_bundle, load_catalog


class Forgetful(dict):
    """A memo that never remembers: every text computed afresh."""

    def get(self, key, default=None):
        return default


def test_kept_texts_equal_fresh_ones(trained_artifacts):
    engine = OfferEngine(load_bundle(trained_artifacts[0]), load_catalog())
    fresh = copy.copy(engine)
    fresh._expiries, fresh._stamps = Forgetful(), Forgetful()
    members = engine.bundle.members.ids[:40].tolist() + ["nobody-1"]
    start = np.datetime64(engine.bundle.as_of.to_datetime64(), "s")
    # Seconds apart, across midnight, and days later: the expiry day moves with the moment.
    moments = [start + np.timedelta64(s, "s") for s in (0, 1, 86_399, 86_400, 40 * 86_400 + 7)]
    seen = set()
    for now in moments * 2:  # the second round reads what the first kept
        for m in members:
            ours = engine.decide(m, "email", limit=3, now=now)
            theirs = fresh.decide(m, "email", limit=3, now=now)
            assert ours.decided_at == theirs.decided_at == str(now) + "Z"
            assert [o["expiry"] for o in ours.offers] == [o["expiry"] for o in theirs.offers]
            seen.update(o["expiry"] for o in ours.offers)
    assert len(seen) >= 3 and len(engine._expiries) > 0


def test_the_memo_is_bounded(trained_artifacts, monkeypatch):
    from serving.engine import engine as engine_module

    monkeypatch.setattr(engine_module, "_MEMO_SIZE", 3)
    engine = OfferEngine(load_bundle(trained_artifacts[0]), load_catalog())
    start = np.datetime64(engine.bundle.as_of.to_datetime64(), "s")
    for s in range(10):
        now = start + np.timedelta64(s * 3_600, "s")
        assert engine._decided_at(now) == str(now) + "Z"
        days = np.timedelta64(int(round(engine.catalog.offers[0].expiry_days * 86_400)), "s")
        expected = str((now + days).astype("datetime64[D]"))
        if engine.catalog.offers[0].eligibility.end is None:
            assert engine._expiry(0, now) == expected
        assert len(engine._stamps) <= 3 and len(engine._expiries) <= 3

"""Recommendations precomputed at training answer exactly as live scoring would."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest

from serving.engine import load_bundle
from training.artifacts import precomputed


@pytest.fixture(scope="module")
def bundles(trained_artifacts):
    """(bundle answering from its precomputed lists, the same bundle scoring live)."""
    bundle = load_bundle(trained_artifacts[0])
    live = copy.copy(bundle)
    live.precomputed = None
    return bundle, live


def test_the_lists_are_memory_mapped_and_deep_enough(bundles):
    pre = bundles[0].precomputed
    assert pre is not None
    assert isinstance(pre.items, np.memmap) and isinstance(pre.categories, np.memmap)
    n = len(bundles[0].recommender.member_ids_)
    assert pre.items.shape == pre.new_items.shape == (n, precomputed.ITEM_DEPTH)
    assert pre.categories.shape == (n, precomputed.CATEGORY_DEPTH)


def test_precomputed_answers_equal_live_scoring(bundles, caplog):
    bundle, live = bundles
    members = [m for m in bundle.members.ids.tolist() if bundle.table_to_rec[bundle.row(m)] >= 0]
    categories = [str(c) for c in bundle.categories[:3]]
    before = bundle.live_scored
    asked = 0
    with caplog.at_level(logging.INFO, logger="serving.engine.bundle"):
        for member in members[::15]:
            own = [r["category"] for r in bundle.recommend(member, k=2)]
            for k, exclude, category, n_cat in [
                (10, False, None, 3), (100, False, None, 20), (1, True, None, 0),
                (100, True, None, 5), (1, False, own[0], 3), (2, True, own[-1], 0),
                (5, False, categories[0], 3), (50, True, categories[1], 20),
                (3, False, "no such category", 2),
            ]:
                args = dict(k=k, exclude_purchased=exclude, category=category,
                            n_categories=n_cat)
                assert bundle.recommend_with_categories(member, **args) == \
                    live.recommend_with_categories(member, **args), (member, args)
                asked += 1
    fell_back = bundle.live_scored - before
    assert 0 < fell_back < asked / 3  # most come from the lists; deep category asks do not
    assert sum("scored live" in r.getMessage() for r in caplog.records) == fell_back
    assert live.live_scored == 0  # no lists: no fallback to report


def test_answers_without_a_history_are_computed_once(bundles):
    bundle = bundles[0]
    first = bundle.recommend_with_categories("nobody", k=4)
    bundle.recommender = None  # a second computation would now fail
    try:
        again = bundle.recommend_with_categories("someone else", k=4)
    finally:
        bundle.recommender = bundles[1].recommender
    assert again == first and len(first[0]) == 4


def test_a_version_without_lists_is_scored_live(trained_artifacts, tmp_path, monkeypatch):
    from training.artifacts import open_version, start_version

    opened = open_version(trained_artifacts[0])
    bundle = load_bundle(trained_artifacts[0])
    monkeypatch.setattr(precomputed, "MAX_CELLS", 0)
    writer = start_version(tmp_path / "big")
    precomputed.save_precomputed(writer, bundle.recommender, opened.load_array(
        "rec_item_category", mmap=False))
    assert not list(writer.path.glob("pre_*"))  # too big: nothing written

"""The "new to you" list's category-aware popularity, served through the artifact contract
(issue 13), and a version written before it still loading and serving."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from features.loading import load_dataset
from models.recommenders import (
    BlendRecommender,
    build_interactions,
    item_categories,
    make_recommender,
    recommender_from_arrays,
)
from models.recommenders.category import without_categories
from serving.engine import load_bundle
from training.artifacts import open_version, precomputed, start_version
from training.artifacts.schema import RECOMMENDER_PREFIX as PREFIX
from training.artifacts.store import MANIFEST

CATEGORY = "category_popularity"


def _rewritten_version(trained_artifacts, root, arrays: dict):
    """The trained version with the recommender ``arrays`` (and lists precomputed from
    them) in place of its own; returns the artifacts directory and the recommender."""
    opened = open_version(trained_artifacts[0])
    model = recommender_from_arrays(arrays)
    writer = start_version(root)
    for name in opened.manifest["files"]:
        if not name.startswith((PREFIX, "pre_")) and name != MANIFEST:
            writer.file(name).write_bytes((opened.path / name).read_bytes())
    for key, array in arrays.items():
        writer.save_array(f"{PREFIX}{key}", array)
    precomputed.save_precomputed(writer, model, opened.load_array("rec_item_category",
                                                                  mmap=False))
    writer.commit({k: v for k, v in opened.manifest.items()
                   if k not in ("format", "version", "created_at", "libraries", "files")})
    return root, model


def _trained_recommender(trained_artifacts):
    opened = open_version(trained_artifacts[0])
    names = [f[len(PREFIX):-len(".npy")] for f in opened.manifest["files"]
             if f.startswith(PREFIX) and f.endswith(".npy")]
    return recommender_from_arrays(
        {n: opened.load_array(f"{PREFIX}{n}", mmap=False) for n in names})


@pytest.fixture(scope="module")
def category_version(trained_artifacts, synth_data, tmp_path_factory):
    """The trained version with the new-to-you list weighing category popularity 0.25
    (the synthetic program's validation need not choose it), fitted as training fits it."""
    trained = _trained_recommender(trained_artifacts)
    manifest = open_version(trained_artifacts[0]).manifest
    ds = load_dataset(synth_data)
    tx, _ = without_categories(ds.transactions, ds.items,
                               manifest["config"]["recommend"]["exclude_categories"])
    im = build_interactions(tx, pd.Timestamp(manifest["as_of"]))
    components = {n: c for n, c in trained.components_.items() if n != CATEGORY}
    components[CATEGORY] = make_recommender(CATEGORY).fit(im, item_categories(im, ds.items))
    blend = BlendRecommender.from_fitted(
        components, trained.weights, new_weights={**trained.new_weights, CATEGORY: 0.25})
    return _rewritten_version(trained_artifacts, tmp_path_factory.mktemp("cat") / "a",
                              blend.to_arrays())


def test_a_version_weighing_category_popularity_serves_it(category_version):
    bundle = load_bundle(category_version[0])
    blend = bundle.recommender
    assert blend.new_weights[CATEGORY] == 0.25 and CATEGORY in blend.components_
    without = BlendRecommender.from_fitted(
        blend.components_, blend.weights, new_weights={**blend.new_weights, CATEGORY: 0.0})
    rows = np.arange(0, blend.n_members, 7)
    # all items: exactly the list without the category component; new to you: another one
    np.testing.assert_array_equal(blend.score(rows), without.score(rows))
    new, new_without = (m.recommend(rows, k=10, exclude_purchased=True)[0]
                        for m in (blend, without))
    assert (new != new_without).any(axis=1).mean() > 0.1
    # the precomputed lists answer as live scoring does
    live = copy.copy(bundle)
    live.precomputed = None
    for row in rows[:20]:
        member = str(blend.member_ids_[row])
        for exclude in (False, True):
            args = dict(k=10, exclude_purchased=exclude, n_categories=3)
            assert (bundle.recommend_with_categories(member, **args)
                    == live.recommend_with_categories(member, **args))
    assert bundle.live_scored == 0
    items, _ = bundle.recommend_with_categories(str(blend.member_ids_[rows[1]]), k=10,
                                                exclude_purchased=True)
    assert [r["item_id"] for r in items] == blend.item_ids_[new[1][new[1] >= 0]].tolist()


def _old_format_arrays(arrays: dict) -> dict:
    """``arrays`` as the blend wrote them before category popularity: no component
    arrays, no ``category_popularity`` parameter, three new weights."""
    old = {n: a for n, a in arrays.items() if not n.startswith(f"{CATEGORY}__")}
    params = json.loads(str(old["model_params"]))
    params.pop(CATEGORY, None)
    params["new_weights"] = {k: v for k, v in params["new_weights"].items() if k != CATEGORY}
    old["model_params"] = np.array(json.dumps(params, sort_keys=True))
    return old


def test_a_version_written_before_category_popularity_loads_and_serves(
        trained_artifacts, category_version, tmp_path):
    written = category_version[1]
    arrays = _old_format_arrays(written.to_arrays())
    assert not any(CATEGORY in key for key in arrays)
    root, _ = _rewritten_version(trained_artifacts, tmp_path / "old", arrays)
    bundle = load_bundle(root)
    blend = bundle.recommender
    assert CATEGORY not in blend.components_
    # it ranks as the same components did before: the first three new weights only
    before = BlendRecommender.from_fitted(
        {n: c for n, c in written.components_.items() if n != CATEGORY}, written.weights,
        new_weights={k: v for k, v in written.new_weights.items() if k != CATEGORY})
    rows = np.arange(0, blend.n_members, 11)
    for exclude in (False, True):
        np.testing.assert_array_equal(
            blend.recommend(rows, k=10, exclude_purchased=exclude)[0],
            before.recommend(rows, k=10, exclude_purchased=exclude)[0])
    member = str(blend.member_ids_[rows[2]])
    items, _ = bundle.recommend_with_categories(member, k=5, exclude_purchased=True)
    want = before.recommend(rows[2:3], k=5, exclude_purchased=True)[0][0]
    assert [r["item_id"] for r in items] == before.item_ids_[want[want >= 0]].tolist()

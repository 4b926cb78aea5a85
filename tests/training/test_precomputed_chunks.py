"""Precomputed lists scored in chunks equal one-member scoring bit for bit (issue 11).

Training ranks every member's lists a chunk of members at a time
(:func:`training.artifacts.precomputed.compute_precomputed`); a request scores
one member. The lists must be the request's answer exactly, so each member's
ALS product is computed alone (a batched matrix product rounds differently in
the last bits) and the rest is element-wise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from models.recommenders import BlendRecommender, build_interactions
from models.recommenders.base import top_k
from training.artifacts import precomputed

AS_OF = pd.Timestamp("2024-06-01")


@pytest.fixture(scope="module")
def blend():
    """A blend with both lists' weights (category popularity in the new list only), fitted
    on random baskets: 150 members, 1,500 items, 32 ALS factors, wide enough for BLAS's
    batched and one-row products to round differently."""
    rng = np.random.default_rng(7)
    n = 6000
    tx = pd.DataFrame({
        "member_id": pd.Categorical([f"m{i:03d}" for i in rng.integers(0, 150, n)]),
        "item_id": pd.Categorical([f"i{j:04d}" for j in rng.zipf(1.3, n) % 1500]),
        "timestamp": AS_OF - pd.to_timedelta(rng.integers(1, 150, n), unit="D"),
        "quantity": 1.0,
        "amount": 1.0,
    })
    im = build_interactions(tx, AS_OF)
    model = BlendRecommender(
        weights={"buy_again": 1.0, "als": 0.35, "popularity": 0.05},
        new_weights={"als": 0.5, "first_purchase_popularity": 1.0, "category_popularity": 0.25},
        als={"factors": 32, "iterations": 3, "num_threads": 1},
        first_purchase_popularity={"half_life_days": 30.0},
        category_popularity={"beta": 0.5},
    )
    categories = np.array([f"c{j % 17}" for j in range(im.n_items)])
    with threadpool_limits(1, "blas"):
        return model.fit(im, categories), categories


def one_by_one(model, categories):
    """The lists as requests compute them: each member scored alone."""
    ranker = precomputed.CategoryRanker(categories)
    out = {"items": [], "new": [], "cats": []}
    with threadpool_limits(1, "blas"):
        for row in range(model.n_members):
            dense = model.score(np.array([row]))
            out["items"].append(top_k(dense, precomputed.ITEM_DEPTH))
            out["cats"].append(top_k(ranker.best(dense), precomputed.CATEGORY_DEPTH))
            out["new"].append(top_k(model.score(np.array([row]), exclude_purchased=True),
                                    precomputed.ITEM_DEPTH))
    return {k: tuple(np.concatenate(part) for part in zip(*v)) for k, v in out.items()}


def test_chunked_lists_equal_one_member_scoring(blend, monkeypatch):
    model, categories = blend
    monkeypatch.setattr(precomputed, "CHUNK_CELLS", 40 * model.n_items)  # 4 chunks, last short
    found = precomputed.compute_precomputed(model, categories)
    want = one_by_one(model, categories)
    for got, (items, scores) in ((found.items, found.item_scores), want["items"]), (
            (found.new_items, found.new_item_scores), want["new"]), (
            (found.categories, found.category_scores), want["cats"]):
        np.testing.assert_array_equal(got[0], items)
        np.testing.assert_array_equal(got[1], scores)
    assert (found.new_items >= 0).sum() > 0.9 * found.new_items.size  # full lists compared


def test_score_lists_are_both_scores_of_one_member_rows(blend):
    model, _ = blend
    rows = np.array([0, 5, 17, 149])
    with threadpool_limits(1, "blas"):
        both, new = model.score_lists(rows, one_row=True)
        for i, row in enumerate(rows):
            np.testing.assert_array_equal(both[i], model.score(np.array([row]))[0])
            np.testing.assert_array_equal(
                new[i], model.score(np.array([row]), exclude_purchased=True)[0])
    assert np.isneginf(new).sum() > np.isneginf(both).sum()  # purchases left out of the new list


def test_member_table_categories_are_the_served_lists_first(trained_artifacts):
    """The training computes the lists once, in step "recommendations", and takes each
    member's top categories from them: the member table and the endpoint agree."""
    from training.artifacts import load_recommender, open_version, read_members, schema
    from training.pipeline import TOP_CATEGORIES

    version = open_version(trained_artifacts[0])
    pre = precomputed.load_precomputed(version)
    recommender = load_recommender(version)
    names = np.unique(version.load_array(schema.ITEM_CATEGORY).astype(str))
    members = read_members(version).set_index("member_id")
    rows = recommender.member_rows(members.index.to_numpy())
    assert (rows >= 0).mean() > 0.9
    for member_id, row in zip(members.index[rows >= 0], rows[rows >= 0]):
        codes = pre.categories[row, :TOP_CATEGORIES]
        assert list(members.at[member_id, "top_categories"]) == names[codes[codes >= 0]].tolist()

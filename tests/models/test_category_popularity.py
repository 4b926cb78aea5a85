"""Category-aware popularity and its place in the blend's "new to you" list (issue 13)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from features.errors import ConfigError, DataError
from models.recommenders import (
    BlendRecommender,
    CategoryPopularityRecommender,
    build_interactions,
    item_categories,
    recommender_from_arrays,
)
from models.recommenders.tuning import fit_tuned, tune_recommenders
from tests.models import test_recommenders as base
from tests.models.test_recommenders import (  # noqa: F401  (board is a fixture)
    AS_OF,
    N,
    RecommenderContract,
    _three_groups,
    board,
    fit,
    tx_frame,
)


def board_categories(n_items: int = N) -> np.ndarray:
    """Item column j of the checkerboard is in category ``c{j // 5}`` (4 categories)."""
    return np.array([f"c{j // 5}" for j in range(n_items)])


class TestCategoryPopularity(RecommenderContract):
    def make(self):
        return CategoryPopularityRecommender(half_life_days=30.0, beta=0.5)

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, board):  # noqa: F811
        return cls().make().fit(board, board_categories())

    def test_fit_returns_self(self, board):  # noqa: F811
        model = self.make()
        assert model.fit(board, board_categories()) is model
        with pytest.raises(ConfigError, match="needs the category of every item"):
            self.make().fit(board)


def test_scores_are_share_to_the_beta_plus_floor_times_popularity():
    """The formula of bench/bench_new_to_you.py, recomputed from the lines by pandas."""
    tx = tx_frame([
        ("a", "milk", "2024-02-28"), ("a", "milk", "2024-01-10"), ("a", "apple", "2024-02-20"),
        ("b", "apple", "2024-02-01"), ("b", "pear", "2024-02-25"), ("c", "cheese", "2024-01-05"),
        ("c", "milk", "2024-02-27"), ("c", "pear", "2024-02-27"),
    ])
    category = {"milk": "dairy", "cheese": "dairy", "apple": "fruit", "pear": "fruit"}
    im = build_interactions(tx, AS_OF)
    cats = item_categories(im, pd.DataFrame({"item_id": list(category),
                                             "category": list(category.values())}))
    model = CategoryPopularityRecommender(half_life_days=20.0, popularity_half_life_days=10.0,
                                          beta=0.5, floor=0.05).fit(im, cats)
    age = (AS_OF - tx["timestamp"]).dt.total_seconds() / 86400
    lines = tx.assign(category=tx["item_id"].astype(str).map(category),
                      share_w=0.5 ** (age / 20.0), pop_w=0.5 ** (age / 10.0))
    per_cat = lines.groupby(["member_id", "category"], observed=True)["share_w"].sum()
    share = (per_cat / per_cat.groupby(level=0).transform("sum")).unstack(fill_value=0.0)
    pop = (lines.groupby(["member_id", "item_id"], observed=True)["pop_w"].sum().clip(upper=1.0)
           .groupby(level=1, observed=True).sum())
    pop = pop / pop.max()
    items = list(im.item_ids)
    expect = np.array([[(share.loc[m, category[i]] ** 0.5 + 0.05) * pop[i] for i in items]
                       for m in im.member_ids])
    np.testing.assert_allclose(model.score(np.arange(3)), expect, rtol=1e-5)
    # a member's own categories first: "a" (dairy, fruit) never bought cheese or pear
    top, _ = model.recommend(model.member_rows(["a", "nobody"]), k=4, exclude_purchased=True)
    assert model.item_ids_[top[0, :2]].tolist() == ["pear", "cheese"]
    assert (top[0, 2:] == -1).all()
    # an unknown member: popularity times the floor
    np.testing.assert_allclose(model.score([-1])[0], 0.05 * pop[items].to_numpy(), rtol=1e-5)


def test_bad_categories_and_parameters_are_clear_errors(board):  # noqa: F811
    with pytest.raises(DataError, match=r"item_category has shape \(3,\); the interactions "
                                        r"have 20 items"):
        CategoryPopularityRecommender().fit(board, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="beta=0 should be finite and > 0"):
        CategoryPopularityRecommender(beta=0).fit(board, board_categories())
    with pytest.raises(ConfigError, match="floor=-1 should be finite and >= 0"):
        CategoryPopularityRecommender(floor=-1).fit(board, board_categories())
    with pytest.raises(ConfigError, match="half_life_days=0 should be > 0 or None"):
        CategoryPopularityRecommender(half_life_days=0).fit(board, board_categories())


# --------------------------------------------------------------------------- in the blend
NEW = {"als": 0.5, "first_purchase_popularity": 1.0, "category_popularity": 0.25}


def category_blend() -> BlendRecommender:
    params = base.TestBlendNewToYou().make().get_params()
    params["new_weights"] = NEW
    params["category_popularity"] = {"beta": 0.5}
    return BlendRecommender(**params)


class TestBlendWithCategoryPopularity(RecommenderContract):
    """The blend whose "new to you" list weighs category-aware popularity."""

    def make(self):
        return category_blend()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, board):  # noqa: F811
        with threadpool_limits(1, "blas"):
            return cls().make().fit(board, board_categories())

    def test_fit_returns_self(self, board):  # noqa: F811
        model = self.make()
        with threadpool_limits(1, "blas"):
            assert model.fit(board, board_categories()) is model
        with pytest.raises(ConfigError, match="no item_category was given"):
            self.make().fit(board)


def test_category_weight_changes_only_the_new_to_you_list(board):  # noqa: F811
    with threadpool_limits(1, "blas"):
        blend = category_blend().fit(board, board_categories())
    comps = blend.components_
    assert set(comps) == {"buy_again", "als", "popularity", "first_purchase_popularity",
                          "category_popularity"}
    without = BlendRecommender.from_fitted(
        comps, blend.weights, new_weights={**NEW, "category_popularity": 0.0})
    rows = np.array([0, 3, -1, 7, 12])
    # the all-items list: bit for bit what it was without the category component
    np.testing.assert_array_equal(blend.score(rows), without.score(rows))
    np.testing.assert_array_equal(blend.recommend(rows, k=8)[0], without.recommend(rows, k=8)[0])
    # the new-to-you list: plus 0.25 x category popularity divided by the member's best
    cat = comps["category_popularity"].score(rows)
    cat /= cat.max(axis=1, keepdims=True)
    got = blend.score(rows, exclude_purchased=True)
    base = without.score(rows, exclude_purchased=True)
    known = (rows >= 0)[:, None] & np.isfinite(base)
    np.testing.assert_allclose(got[known], (base + 0.25 * cat)[known], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[2], base[2])  # unknown member: popularity, as before
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(base))


def test_a_blend_saved_before_category_popularity_loads_and_serves(board):  # noqa: F811
    """Arrays written by the blend before this component (no category_popularity key in
    its params, three new weights) load and rank as a blend without it does."""
    old = fit(base.TestBlendNewToYou().make(), board)
    arrays = old.to_arrays()
    params = json.loads(str(arrays["model_params"]))
    del params["category_popularity"]  # the constructor before this change
    params["new_weights"] = {"als": 0.5, "first_purchase_popularity": 1.0}
    arrays["model_params"] = np.array(json.dumps(params, sort_keys=True))
    assert not any(key.startswith("category_popularity__") for key in arrays)
    loaded = recommender_from_arrays(arrays)
    assert "category_popularity" not in loaded.components_
    rows = np.r_[np.arange(N), -1]
    for exclude in (False, True):
        np.testing.assert_array_equal(loaded.recommend(rows, k=6, exclude_purchased=exclude)[0],
                                      old.recommend(rows, k=6, exclude_purchased=exclude)[0])


# --------------------------------------------------------------------------- tuning
ITEMS = pd.DataFrame({"item_id": [f"i{j:02d}" for j in range(60)],
                      "category": [f"g{j // 20}-{(j % 20) // 10}" for j in range(60)]})
GRID = {
    "popularity": [{"half_life_days": 14.0}],
    "buy_again": [{"half_life_days": None}],
    "als_common": {"factors": 4, "iterations": 5, "min_item_buyers": 1, "random_state": 0},
    "als": [{"weighting": "log1p", "alpha": 1.0, "regularization": 0.1}],
    "blend_als": [0.5],
    "blend_popularity": [0.1],
    "first_purchase_popularity": [{"half_life_days": 30.0}],
    "new_als": [0.5],
    "new_popularity": [0.0, 0.1],
    "new_first_purchase": [1.0],
    "category_popularity": [{"beta": 0.5}, {"beta": 1.0}],
    "new_category_popularity": [0.0, 0.5],
}


def test_tuning_searches_the_category_weight_given_the_items():
    tx = _three_groups()
    with threadpool_limits(1, "blas"):
        result = tune_recommenders(tx, "2024-03-01", holdout_days=14, k=3, grid=GRID,
                                   num_threads=1, items=ITEMS)
        plain = tune_recommenders(tx, "2024-03-01", holdout_days=14, k=3,
                                  grid={**GRID, "new_category_popularity": [0.0]},
                                  num_threads=1)
    blend = result.params["blend"]
    assert set(blend["new_weights"]) == {"als", "popularity", "first_purchase_popularity",
                                         "category_popularity"}
    assert blend["category_popularity"] in GRID["category_popularity"]
    trials = result.trials
    assert (trials["model"] == "category_popularity").sum() == 2  # both betas measured
    new = trials[trials["model"] == "blend_new"]
    assert len(new) == 4 + 1  # (popularity x category) weights, and the all-items pair
    assert new["params"].str.contains("'category_popularity': 0.5").sum() == 2
    chosen = new.set_index("params").loc[repr(blend["new_weights"])]
    assert chosen["precision@3"] == new["precision@3"].max()
    # without the items table: no category candidate, its weight 0
    assert plain.params["blend"]["new_weights"]["category_popularity"] == 0.0
    assert "category_popularity" not in plain.params["blend"]
    assert not (plain.trials["model"] == "category_popularity").any()
    with pytest.raises(ConfigError, match="no items table was given"):
        tune_recommenders(tx, "2024-03-01", grid=GRID)


def test_final_fit_weighs_categories_only_with_the_items():
    tx = _three_groups()
    with threadpool_limits(1, "blas"):
        result = tune_recommenders(tx, "2024-03-01", holdout_days=14, k=3,
                                   grid={**GRID, "category_popularity": [{"beta": 0.5}]},
                                   num_threads=1, items=ITEMS)
        params = result.params
        params["blend"]["new_weights"] = {"als": 0.5, "popularity": 0.0,
                                          "first_purchase_popularity": 1.0,
                                          "category_popularity": 0.5}
        fitted = fit_tuned(tx, "2024-03-01", params, items=ITEMS)
        with pytest.raises(ConfigError, match="no items table was given"):
            fit_tuned(tx, "2024-03-01", params)
    cat = fitted["category_popularity"]
    assert cat.get_params()["beta"] == 0.5
    # the categories are those of the final interactions' item columns
    np.testing.assert_array_equal(cat.categories_[cat.item_codes_],
                                  item_categories(fitted["interactions"], ITEMS))
    assert "category_popularity" in fitted["blend"].components_

"""Recommenders on toy data whose answers are known.

``RecommenderContract`` is the contract every recommender passes (after
implicit's ``tests/recommender_base_test.py``); the model tests below check
each model's own known answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from features.errors import ConfigError, DataError, NotFittedError
from models.recommenders import (
    ALSRecommender,
    BlendRecommender,
    BuyAgainRecommender,
    FirstPurchasePopularityRecommender,
    InteractionMatrix,
    PopularityRecommender,
    build_interactions,
    category_interactions,
    item_categories,
    make_recommender,
    recommend_categories,
    recommender_from_arrays,
)
from models.recommenders.base import top_k
from models.recommenders.blend import COMPONENTS
from models.recommenders.category import aggregate_item_scores, category_lists
from models.recommenders.interactions import apply_weighting
from models.recommenders.metrics import evaluate
from models.recommenders.tuning import fit_tuned, tune_recommenders, validation_split

AS_OF = pd.Timestamp("2024-03-01")
N = 20  # members and items of the checkerboard


def tx_frame(rows) -> pd.DataFrame:
    """Canonical transactions from (member, item, timestamp) triples."""
    member, item, ts = zip(*rows)
    return pd.DataFrame({
        "member_id": pd.Categorical(member),
        "item_id": pd.Categorical(item),
        "timestamp": pd.to_datetime(list(ts)),
        "quantity": 1.0,
        "amount": 1.0,
    })


def checkerboard() -> pd.DataFrame:
    """Member i bought every item j of its parity (i % 2 == j % 2) except item i.

    Ids are zero-padded so that sorted ids keep numeric order: row i is
    member ``m{i:02d}``, column j is item ``i{j:02d}``.
    """
    rows = []
    for i in range(N):
        for j in range(N):
            if i % 2 == j % 2 and i != j:
                day = 1 + (i + j) % 20
                rows.append((f"m{i:02d}", f"i{j:02d}", f"2024-02-{day:02d}"))
    return tx_frame(rows)


@pytest.fixture(scope="module")
def board() -> InteractionMatrix:
    return build_interactions(checkerboard(), AS_OF)


def fit(model, interactions):
    """Fit with BLAS limited to one thread (as the pipeline does)."""
    with threadpool_limits(1, "blas"):
        return model.fit(interactions)


# --------------------------------------------------------------------------- interactions
def test_interactions_use_lines_strictly_before_as_of():
    tx = tx_frame([
        ("b", "x", "2024-01-01"),
        ("a", "y", "2024-01-02"),
        ("a", "x", "2024-01-10"),  # exactly at as_of: left out
        ("c", "z", "2024-01-11"),
    ])
    im = build_interactions(tx, "2024-01-10")
    assert im.member_ids.tolist() == ["a", "b"]
    assert im.item_ids.tolist() == ["x", "y"]
    assert im.decayed_counts().toarray().tolist() == [[0, 1], [1, 0]]
    assert im.matrix.format == "csr" and im.matrix.dtype == np.float32
    assert im.member_rows(["b", "c"]).tolist() == [1, -1]
    assert im.item_columns(["y", "z"]).tolist() == [1, -1]


def test_interactions_decay_and_weightings():
    tx = tx_frame([
        ("a", "x", "2024-01-01"),
        ("a", "x", "2024-01-21"),
        ("b", "x", "2024-01-21"),
        ("b", "y", "2024-01-21"),
    ])
    im = build_interactions(tx, "2024-01-31")
    # ages 30 and 10 days; half-life 10 days: 0.125 + 0.5
    decayed = im.decayed_counts(10.0).toarray()
    np.testing.assert_allclose(decayed, [[0.625, 0.0], [0.5, 0.5]], rtol=1e-6)
    counts = im.decayed_counts()
    np.testing.assert_allclose(im.weighted("log1p").toarray(), np.log1p(counts.toarray()))
    assert im.weighted("binary").toarray().tolist() == [[1, 0], [1, 1]]
    # idf: x is bought by both members, y by one, so y weighs more for b
    bm25 = im.weighted("bm25").toarray()
    assert bm25[1, 1] > bm25[1, 0] > 0
    tfidf = apply_weighting(counts, "tfidf").toarray()
    assert tfidf[1, 1] > tfidf[1, 0] > 0
    with pytest.raises(ConfigError, match="weighting='nope'"):
        im.weighted("nope")


def test_row_weighting_gives_each_row_its_value_in_the_whole_matrix(board):
    """Rows weighed a block at a time equal the whole matrix's rows, bit for bit, for
    every weighting (the whole-matrix statistics of bm25 and tfidf come from all rows)."""
    from models.recommenders.interactions import WEIGHTINGS

    rows = np.array([7, 0, 19, 3, 3])
    for weighting in WEIGHTINGS:
        for half_life in (None, 14.0):
            rw = board.row_weighting(weighting, half_life, k1=50.0, b=0.6)
            whole = board.weighted(weighting, half_life, k1=50.0, b=0.6)
            for picked in (rows, slice(4, 11), slice(0, N)):
                got = rw.rows(picked)
                want = whole[picked]
                want.sort_indices()
                assert got.dtype == np.float32 and got.has_sorted_indices
                np.testing.assert_array_equal(got.indptr, want.indptr)
                np.testing.assert_array_equal(got.indices, want.indices)
                np.testing.assert_array_equal(got.data, want.data, err_msg=weighting)
    # a block's own statistics are not the matrix's: bm25 of a block alone differs
    alone = apply_weighting(board.decayed_counts()[rows], "bm25", k1=50.0, b=0.6)
    assert not np.array_equal(alone.data, board.row_weighting("bm25", k1=50.0, b=0.6)
                              .rows(rows).data)


def test_interactions_extra_members_and_errors():
    tx = tx_frame([("b", "x", "2024-01-01")])
    im = build_interactions(tx, "2024-02-01", members=["a", "b", "c"])
    assert im.member_ids.tolist() == ["a", "b", "c"]
    assert im.decayed_counts().toarray().tolist() == [[0], [1], [0]]
    with pytest.raises(DataError, match="no transaction is before"):
        build_interactions(tx, "2023-01-01")
    with pytest.raises(DataError, match="lack the column"):
        build_interactions(tx.drop(columns="item_id"), "2024-02-01")


def test_roll_up_to_categories():
    tx = tx_frame([("a", "x", "2024-01-01"), ("a", "y", "2024-01-02"), ("b", "z", "2024-01-03")])
    im = build_interactions(tx, "2024-02-01")
    items = pd.DataFrame({"item_id": ["x", "y", "z"], "category": ["fruit", "fruit", "dairy"]})
    cat = category_interactions(im, items)
    assert cat.item_ids.tolist() == ["dairy", "fruit"]
    assert cat.decayed_counts().toarray().tolist() == [[0, 2], [1, 0]]


# --------------------------------------------------------------------------- contract
class RecommenderContract:
    """Tests every recommender passes; subclasses define :meth:`make`."""

    def make(self):
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, board):
        return fit(cls().make(), board)

    def test_not_fitted(self):
        model = self.make()
        message = r"This \w+ instance is not fitted yet. Call 'fit'"
        with pytest.raises(NotFittedError, match=message):
            model.recommend([0], k=3)
        with pytest.raises(NotFittedError):
            model.to_arrays()

    def test_fit_returns_self(self, board):
        model = self.make()
        assert fit(model, board) is model

    def test_recommend_shapes_and_order(self, fitted):
        items, scores = fitted.recommend(np.arange(N), k=5)
        assert items.shape == scores.shape == (N, 5)
        assert items.dtype == np.int64 and scores.dtype == np.float32
        assert np.all(np.diff(scores, axis=1) <= 0)
        for row in items:
            shown = row[row >= 0]
            assert len(set(shown.tolist())) == len(shown)
            assert shown.max(initial=0) < N

    def test_exclude_purchased(self, fitted, board):
        items, _ = fitted.recommend(np.arange(N), k=N, exclude_purchased=True)
        bought = board.purchased().toarray() > 0
        for i, row in enumerate(items):
            shown = row[row >= 0]
            assert not bought[i, shown].any()

    def test_round_trip_arrays(self, fitted, tmp_path):
        arrays = fitted.to_arrays()
        for key, value in arrays.items():
            assert value.dtype != object, key
            np.save(tmp_path / f"{key}.npy", value, allow_pickle=False)
        loaded = {
            p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in tmp_path.glob("*.npy")
        }
        again = recommender_from_arrays(loaded)
        assert type(again) is type(fitted)
        assert again.get_params() == fitted.get_params()
        for exclude in (False, True):
            a = fitted.recommend(np.arange(N), k=6, exclude_purchased=exclude)
            b = again.recommend(np.arange(N), k=6, exclude_purchased=exclude)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])

    def test_fast_path_equals_dense_scores(self, fitted):
        rows = np.r_[np.arange(N), -1]
        for exclude in (False, True):
            fast = fitted.recommend(rows, k=7, exclude_purchased=exclude)
            dense = top_k(fitted.score(rows, exclude_purchased=exclude), 7)
            np.testing.assert_array_equal(fast[0], dense[0])
            np.testing.assert_allclose(fast[1], dense[1], rtol=1e-6)

    def test_rows_are_checked(self, fitted):
        with pytest.raises(DataError, match="out of range"):
            fitted.recommend([N], k=3)
        with pytest.raises(DataError, match="k=0"):
            fitted.recommend([0], k=0)
        items, scores = fitted.recommend([-1], k=3)  # unknown member: no error
        assert items.shape == (1, 3)

    def test_member_ids_lookup(self, fitted):
        assert fitted.member_rows(["m03", "nobody"]).tolist() == [3, -1]

    def test_made_by_factory(self):
        model = self.make()
        again = make_recommender(model.name, **model.get_params())
        assert type(again) is type(model) and again.get_params() == model.get_params()


class TestPopularity(RecommenderContract):
    def make(self):
        return PopularityRecommender(half_life_days=None)


class TestFirstPurchasePopularity(RecommenderContract):
    def make(self):
        return FirstPurchasePopularityRecommender(half_life_days=14.0)


class TestBuyAgain(RecommenderContract):
    def make(self):
        return BuyAgainRecommender(half_life_days=30.0)


class TestALS(RecommenderContract):
    def make(self):
        return ALSRecommender(
            factors=4, regularization=0.01, alpha=5.0, iterations=20, weighting="count",
            min_item_buyers=1, num_threads=1, random_state=0,
        )


class TestBlend(RecommenderContract):
    def make(self):
        return BlendRecommender(
            weights={"buy_again": 1.0, "als": 0.5, "popularity": 0.1},
            als={"factors": 4, "regularization": 0.01, "alpha": 5.0, "iterations": 20,
                 "weighting": "count", "min_item_buyers": 1, "num_threads": 1},
            buy_again={"half_life_days": 30.0},
            popularity={"half_life_days": None},
        )


class TestBlendNewToYou(RecommenderContract):
    """The blend with weights of its own for the "new to you" list."""

    def make(self):
        params = TestBlend().make().get_params()
        params["new_weights"] = {"als": 0.5, "first_purchase_popularity": 1.0}
        params["first_purchase_popularity"] = {"half_life_days": 14.0}
        return BlendRecommender(**params)


def test_blend_new_weights_change_only_the_new_to_you_list(board):
    comps = fit(TestBlendNewToYou().make(), board).components_
    assert set(comps) == {"buy_again", "als", "popularity", "first_purchase_popularity"}
    weights = {"buy_again": 1.0, "als": 0.5, "popularity": 0.1}
    new = {"als": 0.3, "popularity": 0.2, "first_purchase_popularity": 1.0}
    plain = BlendRecommender.from_fitted(comps, weights)
    blend = BlendRecommender.from_fitted(comps, weights, new_weights=new)
    rows = np.array([0, 3, -1, 7])
    np.testing.assert_array_equal(blend.score(rows), plain.score(rows))  # all items: as before
    als = comps["als"].score(rows)
    als = np.where(np.isfinite(als), als, 0.0)
    als /= np.abs(als).max(axis=1, keepdims=True).clip(min=1e-30)
    pop = comps["popularity"].item_scores_ / comps["popularity"].item_scores_.max()
    first = comps["first_purchase_popularity"].item_scores_
    first = first / first.max()
    expect = 0.3 * als + 0.2 * pop + 1.0 * first
    expect[2] = pop  # the unknown member gets popularity
    bought = board.purchased()[np.maximum(rows, 0)].toarray() > 0
    bought[2] = False
    expect[bought] = -np.inf
    got = blend.score(rows, exclude_purchased=True)
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.nan_to_num(got, neginf=0),
                           np.nan_to_num(plain.score(rows, exclude_purchased=True), neginf=0))
    with pytest.raises(ConfigError, match="buy again scores only purchased"):
        BlendRecommender.from_fitted(comps, weights, new_weights={"buy_again": 1.0})
    with pytest.raises(ConfigError, match="not given"):
        BlendRecommender.from_fitted({n: comps[n] for n in COMPONENTS}, weights, new_weights=new)
    with pytest.raises(ConfigError, match="every blend new_weight is 0"):
        BlendRecommender.from_fitted(comps, weights, new_weights={"als": 0.0})


def test_als_limits_blas_threads_itself(board, monkeypatch):
    """implicit warns once per process when BLAS has a thread pool; fit must prevent it."""
    import implicit.utils
    from implicit.cpu.als import AlternatingLeastSquares

    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with threadpool_limits(2, "blas"):
        ALSRecommender(factors=2, iterations=1, min_item_buyers=1, num_threads=1).fit(board)
        monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
        with pytest.warns(RuntimeWarning, match="threads"):  # the control: unguarded, it warns
            AlternatingLeastSquares(factors=2)


def test_top_k_breaks_ties_by_column_and_leaves_empty_slots():
    scores = np.array([[1.0, 2.0, 2.0, 2.0, -np.inf], [-np.inf] * 5], dtype=np.float32)
    items, top = top_k(scores, 2)
    assert items.tolist() == [[1, 2], [-1, -1]]
    items, top = top_k(scores, 6)
    assert items[0].tolist() == [1, 2, 3, 0, -1, -1]
    assert top[0, 4] == -np.inf


# --------------------------------------------------------------------------- known answers
def test_als_recommends_the_missing_item_of_the_own_block(board):
    model = fit(TestALS().make(), board)
    items, _ = model.recommend(np.arange(N), k=1, exclude_purchased=True)
    assert items[:, 0].tolist() == list(range(N))
    # without exclusion the whole top 10 is the member's own parity block
    items, _ = model.recommend(np.arange(N), k=N // 2)
    assert np.all(items % 2 == (np.arange(N) % 2)[:, None])


def test_als_leaves_out_items_with_too_few_buyers():
    tx = pd.concat([checkerboard(), tx_frame([("m00", "i99", "2024-02-10")])])
    im = build_interactions(tx, AS_OF)
    model = fit(TestALS().make(), im)
    model.min_item_buyers = 2
    model = fit(model, im)
    rare = im.item_columns(["i99"])[0]
    assert rare not in model.item_columns_ and len(model.item_columns_) == N
    rows = np.arange(N)
    items, scores = model.recommend(rows, k=N + 1)
    assert not (items == rare).any() and (items[:, -1] == -1).all()
    dense = top_k(model.score(rows, exclude_purchased=True), 5)
    np.testing.assert_array_equal(model.recommend(rows, k=5, exclude_purchased=True)[0], dense[0])


def test_buy_again_frequency_and_decay_order():
    tx = tx_frame([
        ("a", "old3", "2023-03-01"), ("a", "old3", "2023-03-02"), ("a", "old3", "2023-03-03"),
        ("a", "new1", "2024-02-29"),
        ("a", "mid2", "2024-02-20"), ("a", "mid2", "2024-02-25"),
        ("b", "other", "2024-02-01"),
    ])
    im = build_interactions(tx, AS_OF)
    decayed = fit(BuyAgainRecommender(half_life_days=30.0), im)
    items, scores = decayed.recommend(decayed.member_rows(["a"]), k=4)
    assert decayed.item_ids_[items[0, :3]].tolist() == ["mid2", "new1", "old3"]
    assert items[0, 3] == -1 and scores[0, 3] == -np.inf  # only bought items are candidates
    ages = np.array([10.0, 5.0])  # mid2 bought 10 and 5 days before as_of (leap year)
    np.testing.assert_allclose(scores[0, 0], np.sum(0.5 ** (ages / 30.0)), rtol=1e-5)
    plain = fit(BuyAgainRecommender(half_life_days=None), im)
    items, scores = plain.recommend(plain.member_rows(["a"]), k=3)
    assert plain.item_ids_[items[0]].tolist() == ["old3", "mid2", "new1"]
    assert scores[0].tolist() == [3.0, 2.0, 1.0]
    assert fit(BuyAgainRecommender(), im).recommend([0], k=2, exclude_purchased=True)[0].tolist() \
        == [[-1, -1]]


def test_popularity_order_counts_buyers_and_prefers_recent():
    tx = tx_frame([
        ("a", "x", "2023-06-01"), ("b", "x", "2023-06-01"), ("c", "x", "2023-06-01"),
        ("a", "y", "2024-02-28"), ("b", "y", "2024-02-28"),
        ("a", "z", "2024-02-28"), ("a", "z", "2024-02-27"), ("a", "z", "2024-02-26"),
    ])
    im = build_interactions(tx, AS_OF)
    plain = fit(PopularityRecommender(half_life_days=None), im)
    assert plain.item_scores_.tolist() == [3.0, 2.0, 1.0]  # buyers, not lines
    items, _ = plain.recommend([0, -1], k=3)
    assert plain.item_ids_[items].tolist() == [["x", "y", "z"]] * 2
    recent = fit(PopularityRecommender(half_life_days=14.0), im)
    items, _ = recent.recommend([-1], k=3)
    assert recent.item_ids_[items[0]].tolist() == ["y", "z", "x"]


def test_first_purchase_popularity_counts_first_purchases_only():
    tx = tx_frame([
        # x: three buyers, all long ago, bought again recently (staple)
        ("a", "x", "2023-06-01"), ("b", "x", "2023-06-01"), ("c", "x", "2023-06-01"),
        ("a", "x", "2024-02-28"), ("b", "x", "2024-02-28"), ("c", "x", "2024-02-28"),
        # y: two members tried it this month; z: one member, 28 days before AS_OF
        ("a", "y", "2024-02-27"), ("b", "y", "2024-02-26"), ("c", "z", "2024-02-02"),
    ])
    im = build_interactions(tx, AS_OF)
    plain = fit(FirstPurchasePopularityRecommender(half_life_days=None), im)
    assert plain.item_scores_.tolist() == [3.0, 2.0, 1.0]  # first purchases, not lines
    model = fit(FirstPurchasePopularityRecommender(half_life_days=28.0), im)
    age = np.array([(AS_OF - pd.Timestamp(d)).days for d in
                    ("2023-06-01", "2024-02-27", "2024-02-26", "2024-02-02")])
    w = 0.5 ** (age / 28.0)
    np.testing.assert_allclose(model.item_scores_, [3 * w[0], w[1] + w[2], w[3]], rtol=1e-5)
    items, _ = model.recommend([-1, 2], k=3, exclude_purchased=True)
    assert model.item_ids_[items[0]].tolist() == ["y", "z", "x"]
    assert items[1].tolist() == [1, -1, -1]  # c bought x and z: only y is new to c
    # plain popularity with the same half-life puts the staple first
    pop = fit(PopularityRecommender(half_life_days=28.0), im)
    assert pop.item_ids_[pop.recommend([-1], k=1)[0][0]].tolist() == ["x"]
    with pytest.raises(ConfigError, match="half_life_days"):
        fit(FirstPurchasePopularityRecommender(half_life_days=0), im)


def test_first_purchase_popularity_in_chunks_equals_at_once(board, monkeypatch):
    """The pairs are weighed in chunks (memory); the scores are the one-pass sums."""
    from models.recommenders import first_purchase

    _, cols, ages = board.first_purchase_ages()
    want = np.bincount(cols, weights=np.exp2(-ages / 9.0), minlength=board.n_items)
    monkeypatch.setattr(first_purchase, "_CHUNK_PAIRS", 3)
    got = fit(FirstPurchasePopularityRecommender(half_life_days=9.0), board).item_scores_
    assert len(cols) > 3 * 4  # several chunks
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-6)


def test_blend_puts_own_items_first_then_als_and_serves_new_members(board):
    blend = fit(TestBlend().make(), board)
    items, scores = blend.recommend(np.arange(N), k=N // 2)
    bought = board.purchased().toarray() > 0
    # 9 own items (normalised buy-again up to 1) come first, then the missing block item
    assert all(bought[i, items[i, :9]].all() for i in range(N))
    assert items[:, 9].tolist() == list(range(N))
    pop = fit(PopularityRecommender(half_life_days=None), board)
    np.testing.assert_array_equal(blend.recommend([-1], k=5)[0], pop.recommend([-1], k=5)[0])


def test_blend_saves_shared_arrays_once(board):
    arrays = fit(TestBlend().make(), board).to_arrays()
    assert "purchased_indices_" in arrays and "als__user_factors_" in arrays
    assert not [k for k in arrays if "__" in k and k.endswith(("purchased_indices_", "ids_"))]


def test_blend_from_fitted_matches_fit(board):
    blend = fit(TestBlend().make(), board)
    again = BlendRecommender.from_fitted(blend.components_, blend.weights)
    np.testing.assert_array_equal(
        blend.recommend(np.arange(N), k=5)[0], again.recommend(np.arange(N), k=5)[0]
    )
    with pytest.raises(ConfigError, match="popularity"):
        BlendRecommender.from_fitted({"als": blend.components_["als"]})
    with pytest.raises(ConfigError, match="not components"):
        fit(BlendRecommender(weights={"knn": 1.0}), board)


def test_factory_and_loading_errors(board):
    with pytest.raises(ConfigError, match="'knn' is not one of"):
        make_recommender("knn")
    with pytest.raises(ConfigError, match="factorz"):
        make_recommender("als", factorz=3)
    arrays = fit(PopularityRecommender(), board).to_arrays()
    with pytest.raises(DataError, match="format_version=99"):
        recommender_from_arrays({**arrays, "format_version": np.array(99)})
    with pytest.raises(DataError, match="not 'als'"):
        ALSRecommender.from_arrays(arrays)
    with pytest.raises(ConfigError, match="factors=0"):
        fit(ALSRecommender(factors=0), board)


# --------------------------------------------------------------------------- categories
def test_aggregate_item_scores_max_and_sum():
    scores = np.array([[1.0, 3.0, 2.0, -np.inf]], dtype=np.float32)
    groups = np.array([0, 1, 0, 2])
    assert aggregate_item_scores(scores, groups, 3).tolist() == [[2.0, 3.0, -np.inf]]
    assert aggregate_item_scores(scores, groups, 3, how="sum").tolist() == [[3.0, 3.0, -np.inf]]


def test_recommend_categories_from_items_and_category_level_model(board):
    items = pd.DataFrame({
        "item_id": [f"i{j:02d}" for j in range(N)],
        "category": ["even" if j % 2 == 0 else "odd" for j in range(N)],
    })
    cats = item_categories(board, items)
    model = fit(BuyAgainRecommender(half_life_days=None), board)
    top, _ = recommend_categories(model, [0, 1], cats, k=2)
    assert np.unique(cats)[top[:, 0]].tolist() == ["even", "odd"]
    assert top[:, 1].tolist() == [-1, -1]  # buy again never scores the other parity
    cat_model = fit(BuyAgainRecommender(half_life_days=None), category_interactions(board, items))
    top, scores = cat_model.recommend([0, 1], k=1)
    assert cat_model.item_ids_[top[:, 0]].tolist() == ["even", "odd"]
    assert scores[:, 0].tolist() == [9.0, 9.0]


def test_category_lists_are_each_rows_names_in_order_without_the_empty_codes():
    codes = np.array([[2, 0, -1], [-1, -1, -1], [1, 2, 0]])
    lists = category_lists(codes, np.array(["bread", "fruit; veg", "wine, beer"]))
    assert lists.to_pylist() == [["wine, beer", "bread"], [],
                                 ["fruit; veg", "wine, beer", "bread"]]
    assert category_lists(codes[:0], np.array(["bread"])).to_pylist() == []


# --------------------------------------------------------------------------- tuning
def test_tuning_on_a_tiny_split_returns_params_and_table():
    # three groups of members, each buying a skewed (Zipf) choice of its group's 20 items
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        for day in range(1, 60, 2):
            j = (i % 3) * 20 + int(rng.zipf(1.5) % 20)
            ts = pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)
            rows.append((f"m{i:02d}", f"i{j:02d}", ts))
    tx = tx_frame(rows)
    grid = {
        "popularity": [{"half_life_days": 14.0}],
        "buy_again": [{"half_life_days": 14.0}, {"half_life_days": None}],
        "als_common": {"factors": 4, "iterations": 5, "min_item_buyers": 1, "random_state": 0},
        "als": [{"weighting": "log1p", "alpha": 1.0, "regularization": 0.1}],
        "blend_als": [0.0, 0.5, 2.0],
        "blend_popularity": [0.0, 0.1, 1.0],
    }
    with threadpool_limits(1, "blas"):
        result = tune_recommenders(tx, "2024-03-01", holdout_days=14, k=3, grid=grid,
                                   num_threads=1)
        fitted = fit_tuned(tx, "2024-03-01", result.params)
    assert set(result.table["model"]) == {"popularity", "buy_again", "top_frequency", "als",
                                          "blend"}
    assert set(result.table["mode"]) == {"all", "never_bought"}
    assert "top_frequency" not in result.models  # a baseline, measured only
    assert set(result.params["blend"]["weights"]) == {"buy_again", "als", "popularity"}
    new_trials = result.trials["model"].isin(["first_purchase_popularity", "blend_new"])
    assert (~new_trials).sum() == 1 + 2 + 1 + 9 * 2
    # new to you: 3 first-purchase half-lives, 4 * 4 * 3 - 1 weight triples (+ the
    # all-items pair when it is not among them)
    n_current = 0 if result.params["blend"]["weights"]["als"] in (0.0, 0.25, 0.5, 1.0) else 1
    assert new_trials.sum() == 3 + 47 + n_current
    # the weight searches score candidates only; with every item a candidate they are exact
    w = result.params["blend"]["weights"]
    chosen = repr({"als": w["als"], "popularity": w["popularity"]})
    trials = result.trials.set_index(["model", "params", "mode"])
    table = result.table.set_index(["model", "mode"])
    assert trials.loc[("blend", chosen, "all"), "ndcg@3"] == pytest.approx(
        table.loc[("blend", "all"), "ndcg@3"]
    )
    # the never-bought list is the new-to-you weights' (chosen by precision, then NDCG)
    new = result.params["blend"]["new_weights"]
    new_rows = result.trials[result.trials["model"] == "blend_new"]
    best = new_rows.sort_values(["precision@3", "ndcg@3"], ascending=False).iloc[0]
    for metric in ("precision@3", "ndcg@3"):
        assert trials.loc[("blend_new", repr(new), "never_bought"), metric] == pytest.approx(
            table.loc[("blend", "never_bought"), metric]
        )
        assert best[metric] == pytest.approx(table.loc[("blend", "never_bought"), metric])
    assert "first_purchase_popularity" in fitted and fitted["blend"].new_weights == new
    split = validation_split(tx, "2024-03-01", holdout_days=14)
    # the top-frequency row: every purchase counted once, on the validation split
    plain = BuyAgainRecommender(half_life_days=None).fit(split.interactions)
    assert evaluate(plain, split.truths["all"], 3)["precision"] == pytest.approx(
        table.loc[("top_frequency", "all"), "precision@3"])
    assert split.interactions.as_of == pd.Timestamp("2024-02-16")
    assert fitted["blend"].n_members == 40
    with pytest.raises(ConfigError, match="not among"):
        tune_recommenders(tx, "2024-03-01", grid={"knn": []})


# --------------------------------------------------------------------------- fast paths
def _sorted_top_k(scores, k):
    """Reference top k: a full stable sort (best first, ties by column, -inf dropped)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(scores, order, axis=1)
    items = np.where(np.isfinite(top), order, -1)
    items = np.pad(items, ((0, 0), (0, k - items.shape[1])), constant_values=-1)
    return items


@pytest.mark.parametrize("kind", ["normal", "ties", "sparse"])
def test_top_k_of_wide_rows_matches_a_full_sort(kind):
    """Wide rows take the blocked search; it must give exactly the full sort's answer."""
    rng = np.random.default_rng(1)
    for k in (1, 3, 10):
        n_items = 4 * (k + 1) * 128 + 77  # wide enough for blocks, with a partial last one
        if kind == "normal":
            scores = rng.standard_normal((30, n_items)).astype(np.float32)
        elif kind == "ties":  # few distinct values: block maxima tie, rows fall back
            scores = rng.integers(0, 4, (30, n_items)).astype(np.float32)
            scores[::3, :-1] = 0.0  # the only best item is in the partial last block
        else:  # mostly -inf, some rows with fewer than k finite scores
            scores = rng.standard_normal((30, n_items)).astype(np.float32)
            scores[rng.random(scores.shape) < 0.999] = -np.inf
        items, top = top_k(scores, k)
        np.testing.assert_array_equal(items, _sorted_top_k(scores, k))
        expect = np.where(items >= 0, np.take_along_axis(scores, np.maximum(items, 0), 1), -np.inf)
        np.testing.assert_array_equal(top, expect)


def test_blend_scores_are_the_weighted_normalised_components(board):
    """The dense blend (one padded ALS product) against the components' own scores."""
    comps = fit(TestBlend().make(), board).components_
    rows = np.array([0, 3, -1, 7])
    als = comps["als"].score(rows)
    als = np.where(np.isfinite(als), als, 0.0)
    als /= np.abs(als).max(axis=1, keepdims=True).clip(min=1e-30)
    ba = comps["buy_again"].score(rows)
    ba = np.where(np.isfinite(ba), ba, 0.0)
    ba /= ba.max(axis=1, keepdims=True).clip(min=1e-30)
    pop = comps["popularity"].item_scores_ / comps["popularity"].item_scores_.max()
    for weights in ({"buy_again": 1.0, "als": 0.5, "popularity": 0.1},
                    {"buy_again": 1.0, "als": 0.5, "popularity": 0.0}):
        got = BlendRecommender.from_fitted(comps, weights).score(rows)
        expect = weights["als"] * als + ba + weights["popularity"] * pop
        if weights["popularity"] == 0:  # only items some weighted component scores
            scored = np.isfinite(comps["als"].score(rows)) | np.isfinite(
                comps["buy_again"].score(rows))
            expect = np.where(scored, expect, -np.inf)
        expect[2] = pop  # the unknown member gets popularity
        np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)


def test_als_warm_start_maps_factors_by_id_and_converges(board):
    """A warm start from a fit on fewer members reuses its factors by member and item id."""
    tx = checkerboard()
    fewer = tx[~tx["member_id"].isin(["m00", "m01"])]
    first = fit(TestALS().make(), build_interactions(fewer, AS_OF))
    from models.recommenders.als import _initial_factors

    users, items = _initial_factors(first, board.member_ids, board.item_ids, 4,
                                    np.random.default_rng(0))
    np.testing.assert_array_equal(users[2:], first.user_factors_)
    assert (users[:2] >= 0).all() and (users[:2] < 0.01).all()  # new members: cold start
    np.testing.assert_array_equal(items[first.item_columns_ + 0], first.item_factors_)
    # From a converged fit on the same data one sweep stays there; a cold sweep is far off.
    converged = fit(TestALS().make(), board)
    ref = converged.score(np.arange(N))
    gaps = []
    for init in (converged, None):
        model = TestALS().make()
        model.iterations = 1
        with threadpool_limits(1, "blas"):
            model.fit(board, init=init)
        gaps.append(np.linalg.norm(model.score(np.arange(N)) - ref) / np.linalg.norm(ref))
    assert gaps[0] < 0.01 < 0.1 < gaps[1]
    with pytest.raises(ConfigError, match="factors"):
        ALSRecommender(factors=3, min_item_buyers=1, num_threads=1).fit(board, init=first)


def _three_groups(n_members=40):
    """Three groups of members, each buying a skewed choice of its group's 20 items."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_members):
        for day in range(1, 60, 2):
            j = (i % 3) * 20 + int(rng.zipf(1.5) % 20)
            rows.append((f"m{i:02d}", f"i{j:02d}", pd.Timestamp("2024-01-01")
                         + pd.Timedelta(days=day)))
    return tx_frame(rows)


def test_tuning_one_candidate_each_on_a_member_sample():
    """One candidate per model: trials come from the exact table; members can be sampled."""
    grid = {
        "popularity": [{"half_life_days": 14.0}],
        "buy_again": [{"half_life_days": None}],
        "als_common": {"factors": 4, "iterations": 5, "min_item_buyers": 1, "random_state": 0},
        "als": [{"weighting": "log1p", "alpha": 1.0, "regularization": 0.1}],
        "blend_als": [0.5],
        "blend_popularity": [0.1],
        "first_purchase_popularity": [{"half_life_days": 30.0}],
        "new_als": [0.5],
        "new_popularity": [0.1],
        "new_first_purchase": [1.0],
    }
    tx = _three_groups()
    with threadpool_limits(1, "blas"):
        full = tune_recommenders(tx, "2024-03-01", holdout_days=14, k=3, grid=grid,
                                 num_threads=1)
        sample = tune_recommenders(tx, "2024-03-01", holdout_days=14, k=3, grid=grid,
                                   num_threads=1, max_members=20, random_state=0)
        again = tune_recommenders(tx, "2024-03-01", holdout_days=14, k=3, grid=grid,
                                  num_threads=1, max_members=20, random_state=0)
        fitted = fit_tuned(tx, "2024-03-01", full.params, warm_start=full.models["als"],
                           warm_iterations=2)
    assert full.split["members"] == 40 and not full.split["sampled"]
    assert sample.split["members"] == 20 and sample.split["sampled"]
    pd.testing.assert_frame_equal(sample.table, again.table)  # seeded
    assert set(sample.table["members"]) <= set(range(1, 21))
    trials = full.trials.set_index(["model", "mode"])
    table = full.table.set_index(["model", "mode"])
    # one per model, the blend's all-items list, and the new-to-you triple next to the
    # all-items weights' (0.5, 0.1, 0)
    assert len(full.trials) == 1 + 1 + 1 + 1 + 2
    for key in (("popularity", "all"), ("als", "never_bought"), ("blend", "all")):
        assert trials.loc[key, "ndcg@3"] == table.loc[key, "ndcg@3"]
    new = trials.loc[("blend_new", "never_bought")].set_index("params")
    chosen = repr(full.params["blend"]["new_weights"])
    assert new.loc[chosen, "precision@3"] == new["precision@3"].max()
    assert new.loc[chosen, "ndcg@3"] == pytest.approx(table.loc[("blend", "never_bought"),
                                                                "ndcg@3"])
    assert fitted["als"].iterations == 2 and fitted["blend"].n_members == 40
    with pytest.raises(ConfigError, match="max_members"):
        tune_recommenders(tx, "2024-03-01", grid=grid, max_members=0)


def test_recommend_categories_in_chunks_on_threads_is_the_one_chunk_answer(board, monkeypatch):
    import models.recommenders.base as base

    items = pd.DataFrame({"item_id": [f"i{j:02d}" for j in range(N)],
                          "category": [f"c{j % 5}" for j in range(N)]})
    cats = item_categories(board, items)
    model = fit(PopularityRecommender(half_life_days=None), board)
    rows = np.arange(N)[::-1]
    whole = recommend_categories(model, rows, cats, k=3)
    monkeypatch.setattr(base, "_CHUNK_CELLS", 3 * N)  # chunks of 3 rows: 7 chunks
    for threads in (1, 2):
        monkeypatch.setattr(base, "SCORE_THREADS", threads)
        chunked = recommend_categories(model, rows, cats, k=3)
        np.testing.assert_array_equal(chunked[0], whole[0])
        np.testing.assert_array_equal(chunked[1], whole[1])
    buy_again = fit(BuyAgainRecommender(half_life_days=None), board)
    top, _ = recommend_categories(buy_again, rows, cats, k=1)  # rows differ: order is kept
    alone = [recommend_categories(buy_again, [r], cats, k=1)[0][0, 0] for r in rows]
    assert top[:, 0].tolist() == alone


def test_recommend_in_chunks_on_threads_is_the_one_chunk_answer(board, monkeypatch,
                                                               score_pools):
    """ALS's, the blend's new-to-you and the base class's chunk loops (the plain blend)
    give on two threads, in chunks of 3 rows, what one chunk gives; the pool is used."""
    import models.recommenders.base as base

    comps = fit(TestBlendNewToYou().make(), board).components_
    weights = {"buy_again": 1.0, "als": 0.5, "popularity": 0.1}
    new = {"als": 0.3, "popularity": 0.2, "first_purchase_popularity": 1.0}
    models = {"als": comps["als"],
              "blend": BlendRecommender.from_fitted(comps, weights),
              "blend_new": BlendRecommender.from_fitted(comps, weights, new_weights=new)}
    rows = np.r_[np.arange(N)[::-1], -1, 4]
    whole = {(name, ex): m.recommend(rows, k=5, exclude_purchased=ex)
             for name, m in models.items() for ex in (False, True)}
    pools = score_pools
    monkeypatch.setattr(base, "_CHUNK_CELLS", 2 * 3 * N)  # 3 rows a chunk on 2 threads
    for (name, ex), (items, scores) in whole.items():
        before = len(pools)
        got_items, got_scores = models[name].recommend(rows, k=5, exclude_purchased=ex)
        np.testing.assert_array_equal(got_items, items, err_msg=f"{name} {ex}")
        np.testing.assert_array_equal(got_scores, scores, err_msg=f"{name} {ex}")
        assert len(pools) == before + 1, (name, ex)  # chunks ran on the pool


def test_column_counts_in_blocks_equal_bincount(monkeypatch):
    import models.recommenders.interactions as interactions

    rng = np.random.default_rng(5)
    indices = rng.integers(0, 37, 1_000).astype(np.int32)
    want = np.bincount(indices, minlength=40)
    monkeypatch.setattr(interactions, "COUNT_BLOCK", 64)  # 16 blocks, the last partial
    got = interactions.column_counts(indices, 40)
    assert got.dtype == np.int64 and got.tolist() == want.tolist()
    assert interactions.column_counts(indices[:0], 3).tolist() == [0, 0, 0]


def test_capped_buyers_in_blocks_are_scipys_column_sums_bit_for_bit(monkeypatch):
    import scipy.sparse as sp

    import models.recommenders.popularity as popularity

    rng = np.random.default_rng(8)
    for dtype in (np.float32, np.float64):
        decayed = sp.random(300, 50, density=0.2, format="csr", random_state=3, dtype=dtype)
        decayed.data = (decayed.data * 3).astype(dtype)  # about a third capped at 1
        capped = decayed.copy()
        capped.data = np.minimum(capped.data, 1.0)
        want = np.asarray(capped.sum(axis=0), dtype=np.float32).ravel()
        monkeypatch.setattr(popularity, "COUNT_BLOCK", int(rng.integers(7, 100)))
        got = popularity.capped_buyers(decayed)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_chunks_called_inside_a_chunk_stay_on_its_thread(score_pools, monkeypatch):
    """The weight grid calls recommend inside its chunks: no pool of pools."""
    import models.recommenders.base as base

    monkeypatch.setattr(base, "_CHUNK_CELLS", 2 * 3 * 10)  # 3 rows of 10 columns a chunk
    inner = []

    def outer(start, stop):
        base.for_row_chunks(12, 10, lambda a, b: inner.append((a, b)))

    base.for_row_chunks(12, 10, outer)
    assert len(score_pools) == 1  # the outer chunks' pool only
    assert len(inner) == 4 * 2  # each outer chunk ran the inner rows in 2 chunks of 6

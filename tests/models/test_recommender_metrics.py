"""Ranking metrics on tiny examples computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from features.errors import DataError
from models.recommenders import BuyAgainRecommender, PopularityRecommender, build_interactions
from models.recommenders.metrics import (
    evaluate,
    hit_matrix,
    holdout_truth,
    metrics_table,
    paired_standard_error,
    ranking_metrics,
)


def truth(rows, n_items=6):
    return sp.csr_matrix(np.array(rows, dtype=np.float32).reshape(-1, n_items))


def test_hit_matrix_ignores_empty_slots():
    t = truth([[1, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    hits = hit_matrix(np.array([[2, -1, 0], [5, 0, -1]]), t)
    assert hits.tolist() == [[True, False, True], [True, False, False]]


def test_precision_recall_ndcg_coverage_by_hand():
    # member 0: relevant {0, 2}; list [2, 4, 0]: hits at ranks 1 and 3
    # member 1: relevant {1, 3, 4, 5}; list [0, 1, 2]: a hit at rank 2
    t = truth([[1, 0, 1, 0, 0, 0], [0, 1, 0, 1, 1, 1]])
    rec = np.array([[2, 4, 0], [0, 1, 2]])
    m = ranking_metrics(rec, t, k=3)
    d = 1 / np.log2([2, 3, 4])
    ndcg0 = (d[0] + d[2]) / (d[0] + d[1])
    ndcg1 = d[1] / (d[0] + d[1] + d[2])
    assert m["precision"] == pytest.approx(((2 / 3) + (1 / 3)) / 2)
    assert m["recall"] == pytest.approx((2 / 2 + 1 / 4) / 2)
    assert m["ndcg"] == pytest.approx((ndcg0 + ndcg1) / 2)
    assert m["coverage"] == pytest.approx(4 / 6)  # items 0, 1, 2, 4 shown
    assert m["members"] == 2


def test_metrics_cut_at_k_and_perfect_list():
    t = truth([[1, 1, 0, 0, 0, 0]])
    m = ranking_metrics(np.array([[1, 0, 3, 4]]), t, k=2)
    assert (m["precision"], m["recall"], m["ndcg"]) == (1.0, 1.0, pytest.approx(1.0))
    assert m["coverage"] == pytest.approx(2 / 6)


def test_unknown_relevant_items_lower_recall_and_ideal_dcg():
    # one relevant item in the catalogue, two more that the catalogue lacks
    t = truth([[0, 0, 0, 1, 0, 0]])
    m = ranking_metrics(np.array([[3, 0]]), t, k=2, n_relevant=np.array([3]), n_items=6)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["ndcg"] == pytest.approx(1.0 / (1 + 1 / np.log2(3)))


def test_rows_without_relevant_items_are_not_averaged():
    t = truth([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    m = ranking_metrics(np.array([[0], [0]]), t, k=1)
    assert m["members"] == 1 and m["precision"] == 1.0


def test_metric_input_errors():
    t = truth([[1, 0, 0, 0, 0, 0]])
    with pytest.raises(DataError, match="expected"):
        ranking_metrics(np.array([[0]]), t, k=2)
    with pytest.raises(DataError, match="rows"):
        ranking_metrics(np.array([[0], [1]]), t, k=1)


@pytest.fixture
def shop():
    tx = pd.DataFrame({
        "member_id": pd.Categorical(["a", "a", "b", "a", "a", "b", "c", "a"]),
        "item_id": pd.Categorical(["x", "y", "x", "x", "z", "w", "x", "y"]),
        "timestamp": pd.to_datetime([
            "2024-01-01", "2024-01-02", "2024-01-03",  # training
            "2024-02-02", "2024-02-03", "2024-02-04", "2024-02-05",  # holdout
            "2024-03-05",  # after the holdout: ignored
        ]),
    })
    return tx, build_interactions(tx, "2024-02-01")


def test_holdout_truth_all_and_never_bought(shop):
    tx, im = shop
    all_items = holdout_truth(tx, im, "2024-02-01", "2024-03-01", mode="all")
    assert all_items.member_ids.tolist() == ["a", "b", "c"]
    assert all_items.member_rows.tolist() == [0, 1, -1]  # c is new
    # a bought x and z (z unknown to the catalogue), b bought w (unknown), c bought x
    assert all_items.n_relevant.tolist() == [2, 1, 1]
    assert all_items.items.toarray().tolist() == [[1, 0], [0, 0], [1, 0]]
    new = holdout_truth(tx, im, "2024-02-01", "2024-03-01", mode="never_bought")
    assert new.member_ids.tolist() == ["a", "b", "c"]
    assert new.n_relevant.tolist() == [1, 1, 1]  # a's x was bought before
    assert new.items.toarray().tolist() == [[0, 0], [0, 0], [1, 0]]
    with pytest.raises(DataError, match="mode='some'"):
        holdout_truth(tx, im, "2024-02-01", "2024-03-01", mode="some")
    with pytest.raises(DataError, match="no transaction in the holdout"):
        holdout_truth(tx, im, "2025-01-01", "2025-02-01")


def test_a_window_where_nobody_buys_anything_new_says_so(shop):
    """A subscription-like window: every holdout line is an item its member had bought."""
    tx, im = shop
    renewals = tx[tx["member_id"].isin(["a", "b"]) & tx["item_id"].isin(["x", "y"])]
    assert len(holdout_truth(renewals, im, "2024-02-01", "2024-03-01", mode="all").member_ids)
    with pytest.raises(DataError, match="no member bought an item new to them in the "
                                        "validation window .*'new to you'"):
        holdout_truth(renewals, im, "2024-02-01", "2024-03-01", mode="never_bought")


def test_evaluate_and_table_exclude_purchased_in_never_bought_mode(shop):
    tx, im = shop
    truths = {m: holdout_truth(tx, im, "2024-02-01", "2024-03-01", mode=m)
              for m in ("all", "never_bought")}
    pop = PopularityRecommender(half_life_days=None).fit(im)  # x (2 buyers) before y
    m = evaluate(pop, truths["all"], k=1)
    # a: [x] hit (1 of 2), b: [x] miss (relevant w unknown), c: [x] hit
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx((0.5 + 0 + 1) / 3)
    # the standard error of the mean of the members' precisions 1, 0, 1
    assert m["precision_se"] == pytest.approx(np.std([1, 0, 1], ddof=1) / np.sqrt(3))
    assert m["ndcg_se"] > 0
    m = evaluate(pop, truths["never_bought"], k=1)
    # a and b bought x before: their list is [y]; only c (new member) gets x, a hit
    assert m["precision"] == pytest.approx(1 / 3)
    table = metrics_table({"pop": pop, "again": BuyAgainRecommender().fit(im)}, truths, k=1)
    assert table.shape == (4, 9)
    assert list(table.columns[2:6]) == ["precision@1", "recall@1", "ndcg@1", "coverage@1"]
    assert list(table.columns[7:]) == ["precision@1_se", "ndcg@1_se"]
    assert table.query("model == 'again' and mode == 'never_bought'")["precision@1"].item() == 0
    # with a reference model, the standard error of its margin over each other model
    paired = metrics_table({"pop": pop, "again": BuyAgainRecommender().fit(im)}, truths, k=1,
                           reference="pop")
    assert list(paired.columns[9:]) == ["precision@1_margin_se", "ndcg@1_margin_se"]
    assert paired.query("model == 'pop'")["ndcg@1_margin_se"].isna().all()


def test_a_margin_on_the_same_members_is_judged_by_their_differences():
    """Two lists that hit on the same members differ by little whatever the members'
    spread: the paired standard error is that of the differences, not of either list."""
    reference = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    assert paired_standard_error(reference, reference) == 0.0
    other = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 0.0])  # loses one member's hit
    assert paired_standard_error(other, reference) == pytest.approx(
        np.std([0, 0, 0, 0, 1, 0], ddof=1) / np.sqrt(6))
    assert np.isnan(paired_standard_error(other[:1], reference[:1]))
    with pytest.raises(DataError, match="pair the same ones"):
        paired_standard_error(other, reference[:3])



def test_hit_matrix_equals_a_lookup_in_the_dense_truth():
    """Empty slots (-1) never hit, even where row i's -1 key is row i-1's last item."""
    rng = np.random.default_rng(0)
    for n, n_items, density in ((40, 7, 0.3), (300, 50, 0.1), (5, 4, 1.0), (6, 5, 0.0)):
        truth = sp.random(n, n_items, density=density, format="csr", random_state=1)
        recommended = rng.integers(-1, n_items, (n, 10))
        dense = truth.toarray() != 0
        want = np.array([[r >= 0 and dense[i, r] for r in row]
                         for i, row in enumerate(recommended)], dtype=bool)
        assert np.array_equal(hit_matrix(recommended, truth), want)

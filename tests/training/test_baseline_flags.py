"""Models that lose to their simple baseline are flagged, not shipped silently."""

from __future__ import annotations

from training.baseline_flags import baseline_flags, flag_line

GOOD = {
    "churn": {"roc_auc": 0.87, "pr_auc": 0.60, "baseline": {"roc_auc": 0.81, "pr_auc": 0.56}},
    "value": {"spearman": 0.77, "mae": 70.0, "top_decile_capture": 0.35,
              "baseline": {"spearman": 0.76, "mae": 71.0, "top_decile_capture": 0.34}},
    "recommend": {"blend_ndcg@10": 0.40, "popularity_ndcg@10": 0.17,
                  "buy_again_ndcg@10": 0.39, "blend_ndcg@10_new": 0.048,
                  "popularity_ndcg@10_new": 0.041},
}


def test_models_that_beat_their_baselines_are_not_flagged():
    assert baseline_flags(GOOD, 10) == []


def test_a_worse_mae_is_flagged_lower_being_better():
    metrics = {**GOOD, "value": {**GOOD["value"], "mae": 72.47}}
    (flag,) = baseline_flags(metrics, 10)
    assert flag == {"model": "value", "metric": "spend MAE", "value": 72.47,
                    "baseline": "past-spend rate", "baseline_value": 71.0}
    assert flag_line(flag) == ("spend MAE: 72.47, worse than the past-spend rate baseline "
                               "(71) on the validation split.")


def test_churn_and_recommendations_against_their_strongest_baseline():
    metrics = {**GOOD, "churn": {**GOOD["churn"], "pr_auc": 0.5},
               "recommend": {**GOOD["recommend"], "blend_ndcg@10": 0.385}}
    flags = baseline_flags(metrics, 10)
    assert [(f["model"], f["metric"], f["baseline"]) for f in flags] == [
        ("churn", "churn PR-AUC", "recency only"),
        ("recommend", "recommendations NDCG@10", "buy-again"),  # the stronger of the two
    ]


def test_skipped_models_are_not_checked():
    assert baseline_flags({"recommend": {"blend_ndcg@10": 0.1}}, 10) == []

"""Models that lose to their simple baseline are flagged, not shipped silently."""

from __future__ import annotations

from training.baseline_flags import baseline_flags, flag_line, uplift_noise, uplift_noise_clause

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


def test_a_flag_says_whether_the_loss_is_beyond_the_noise_of_the_margin():
    """With the margin's standard error measured (``baseline_se``), the flag stays (a loss
    is never shipped silently) and says whether the members measured can tell the two
    apart."""
    value = {**GOOD["value"], "mae": 72.47, "spearman": 0.70,
             "baseline_se": {"mae": 0.9, "spearman": 0.01}}
    flags = baseline_flags({**GOOD, "value": value}, 10)
    by_metric = {f["metric"]: f for f in flags}
    assert by_metric["spend MAE"]["noise"] == 1.8 and by_metric["spend Spearman"]["noise"] == 0.02
    assert flag_line(by_metric["spend MAE"]).endswith(
        "on the validation split, within the noise (1.5 against 1.8: the members measured "
        "cannot tell them apart).")
    assert flag_line(by_metric["spend Spearman"]).endswith(
        "on the validation split, beyond the noise (0.06 against 0.02).")


def test_churn_and_recommendations_against_their_strongest_baseline():
    metrics = {**GOOD, "churn": {**GOOD["churn"], "pr_auc": 0.5},
               "recommend": {**GOOD["recommend"], "blend_ndcg@10": 0.385}}
    flags = baseline_flags(metrics, 10)
    assert [(f["model"], f["metric"], f["baseline"]) for f in flags] == [
        ("churn", "churn PR-AUC", "recency only"),
        ("recommend", "recommendations NDCG@10", "buy-again"),  # the stronger of the two
    ]


def test_a_recommendations_flag_carries_the_noise_of_the_blends_margin():
    rec = {**GOOD["recommend"], "blend_ndcg@10": 0.385,
           "baseline_se": {"buy_again_ndcg@10": 0.004, "popularity_ndcg@10": 0.01}}
    (flag,) = baseline_flags({**GOOD, "recommend": rec}, 10)
    assert (flag["baseline"], flag["noise"]) == ("buy-again", 0.008)
    assert "within the noise (0.005 against 0.008: the members" in flag_line(flag)


def test_skipped_models_are_not_checked():
    assert baseline_flags({"recommend": {"blend_ndcg@10": 0.1}}, 10) == []


def test_train_output_groups_the_per_horizon_flags_by_model():
    """Fifteen lines of CJ's flags become one per model: which measure lost at which horizon."""
    from training.baseline_flags import grouped_flag_lines
    from training.horizon_step import horizon_flags

    churn = {"churn_model": {"roc_auc": 0.88, "pr_auc": 0.41},
             "recency_only": {"roc_auc": 0.85, "pr_auc": 0.43},
             "bgnbd": {"roc_auc": 0.86, "pr_auc": 0.46}}
    value = {"value_model": {"spearman": 0.82, "mae": 124.0, "top_decile_capture": 0.34},
             "past_spend_rate": {"spearman": 0.81, "mae": 123.0, "top_decile_capture": 0.33},
             "bgnbd_gamma_gamma": {"spearman": 0.79, "mae": 131.0, "top_decile_capture": 0.32}}
    metrics = {"churn": {"horizon_days": 28}, "value": {"mae": 72.5, "baseline": {"mae": 70.5}},
               "horizons": {"validation": {h: {"churn": churn, "value": value}
                                           for h in ("30", "60")}}}
    flags = baseline_flags(metrics, 10) + horizon_flags(metrics)
    assert len(flags) == 1 + 2 * (1 + 1 + 3)
    assert grouped_flag_lines(flags) == [
        "spend MAE: 72.5, worse than the past-spend rate baseline (70.5) on the validation "
        "split.",
        "churn model: worse than the recency only baseline on PR-AUC at 30, 60 days "
        "(validation at each horizon; figures in the report).",
        "spend model: worse than the past-spend rate baseline on MAE at 30, 60 days "
        "(validation at each horizon; figures in the report).",
        "BG/NBD + Gamma-Gamma spend: worse than the past-spend rate baseline on Spearman at 30, "
        "60 days, MAE at 30, 60 days, top-decile capture at 30, 60 days (validation at each "
        "horizon; figures in the report).",
    ]


def test_grouped_per_horizon_flags_say_which_losses_are_within_their_noise():
    from training.baseline_flags import grouped_flag_lines

    def flag(measure, h, gap, noise):
        return {"subject": "BG/NBD + Gamma-Gamma spend", "baseline": "past-spend rate",
                "measure": measure, "horizon_days": h, "metric": "", "value": 100.0 + gap,
                "baseline_value": 100.0, "noise": noise}

    beyond, within = flag("mae", 30, 9.0, 4.0), flag("mae", 60, 3.0, 4.0)
    lines = [grouped_flag_lines(g)[0] for g in ([beyond], [within], [beyond, within])]
    assert [line.split(" (", 1)[1] for line in lines] == [
        "all beyond the noise; validation at each horizon; figures in the report).",
        "all within the noise; validation at each horizon; figures in the report).",
        "within the noise: MAE at 60 days; validation at each horizon; figures in the "
        "report).",
    ]
    unmeasured = {k: v for k, v in within.items() if k != "noise"}
    assert "noise" not in grouped_flag_lines([beyond, unmeasured])[0]


def test_docstring_examples():
    import doctest

    import training.baseline_flags

    result = doctest.testmod(training.baseline_flags)
    assert result.attempted > 0 and result.failed == 0


def _uplift_record(own, base, se_own, se_margin):
    return {"normalized_auuc_uplift": own, "normalized_auuc_response": base,
            "normalized_auuc_uplift_se": se_own, "auuc_margin_se": se_margin}


def test_an_uplift_verdict_is_read_against_its_noise():
    # A win as strong as its narrower lead: 0.10 over random (noise 0.04) but 0.02 over
    # P(redeem) targeting (noise 0.06).
    assert uplift_noise(_uplift_record(0.10, 0.08, 0.02, 0.03)) == (True, 0.02, 0.06)
    assert uplift_noise(_uplift_record(0.10, -0.01, 0.02, 0.03)) == (False, 0.11, 0.06)
    # A loss to P(redeem) targeting beyond its noise, and one to random within it.
    assert uplift_noise(_uplift_record(0.06, 0.12, 0.02, 0.02)) == (False, 0.06, 0.04)
    assert uplift_noise(_uplift_record(-0.01, -0.05, 0.02, 0.02)) == (True, 0.01, 0.04)
    line = uplift_noise_clause(_uplift_record(0.06, 0.12, 0.02, 0.02))
    assert line == ", beyond the noise (0.06 against 0.04)"
    assert "cannot tell them apart" in uplift_noise_clause(_uplift_record(0.1, 0.08, 0.02, 0.03))
    # Versions validated before the noise was measured read as before.
    assert uplift_noise_clause({"normalized_auuc_uplift": 0.1,
                                "normalized_auuc_response": 0.0}) == ""
    assert uplift_noise(_uplift_record(0.1, 0.0, float("nan"), 0.02)) is None

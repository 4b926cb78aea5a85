"""`offers train` end to end on a small synthetic program, and the version commands."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from features.errors import ConfigError, DataError
from models.lifecycle import predict_at_horizon
from offers.cli import main
from training import artifacts, horizon_step, pipeline
from training.artifacts.horizons import HorizonScorer, load_horizon_scorer
from training.config import load_config
from training.pipeline import train
from training.synth.generate import generate

FAST = {"recommend": {"tune": False, "factors": 16, "iterations": 5},
        "churn": {"validate_horizons": []}}  # per-horizon validation: test_horizon_step.py


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth") / "data", 600, seed=11)


@pytest.fixture(scope="module")
def trained(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts")
    config = load_config(**{**FAST, "churn": {"validate_horizons": [60]}})
    with pytest.MonkeyPatch.context() as patch:
        # On this small program BG/NBD wins both tasks, which needs no member scores: the
        # boosted models are served instead, so that both kinds of anchors are tested (the
        # choice itself: tests/training/test_served_horizons.py): churn by the version's
        # own model (scores at H), spend by the spend model fitted per horizon (at H and 60).
        chose = []
        patch.setattr(horizon_step, "served_models", lambda validation: chose.append(
            validation) or {"churn": "churn_model_at_H", "value": "value_model"})
        version, run = train(synth_dir, out, config=config)
    assert chose, "the step horizons no longer chooses its served models by served_models"
    return out, version, run


def test_training_stores_and_validates_the_purchase_cycle_models(trained):
    out, _, run = trained
    opened = artifacts.open_version(out)
    # Parameters as JSON and summaries as Parquet, hash-checked like every file; no pickle.
    assert {"horizon_model.json", "horizon_summary.parquet"} <= set(opened.manifest["files"])
    params = opened.load_json("horizon_model")
    assert set(params) == {"bgnbd", "gamma_gamma", "as_of", "served"}
    h = run.horizon_days
    assert params["served"] == {"churn": "churn_model_at_H", "value": "value_model",
                                "horizons": sorted({60, h}),
                                "anchors": {"churn": [h], "value": sorted({60, h})},
                                "mean": "value_mean_at_H", "mean_anchor": h}
    summary = opened.load_frame("horizon_summary")
    assert len(summary) == int((run.member_features["frequency"] > 0).sum())
    # The served models' member scores at their anchors sit beside the summaries: the
    # version's own churn model at H (the member table's churn risk), the spend model at
    # H (the member table's) and refitted at 60 days.
    scored = {f"churn_risk_{h}d", f"expected_spend_{h}d", "expected_spend_60d"}
    assert scored <= set(summary.columns) and "churn_risk_60d" not in summary
    assert summary[sorted(scored)].notna().all().all()
    members = opened.load_frame("members").set_index("member_id")
    own = summary.set_index("member_id").join(members[["churn_risk", "clv"]])
    np.testing.assert_allclose(own[f"churn_risk_{h}d"], own["churn_risk"])
    assert (own["expected_spend_60d"] > own[f"expected_spend_{h}d"]).mean() > 0.9
    found = run.metrics["horizons"]
    assert found["trained"] and set(found["validation"]) == {"60", str(h)}
    assert found["served"] == params["served"]
    at_h, at_60 = found["validation"][str(h)]["churn"], found["validation"]["60"]["churn"]
    # At the version's horizon the retrained churn model is the churn step's model, and
    # the version's models placed on the BG/NBD curve are judged at 60 days too.
    assert at_h["churn_model"]["roc_auc"] == pytest.approx(run.metrics["churn"]["roc_auc"])
    assert at_h["churn_model_at_H"] == at_h["churn_model"]
    assert at_60["churn_model_at_H"] != at_60["churn_model"]
    assert 0.5 < at_60["churn_model_at_H"]["roc_auc"] <= 1
    assert set(run.tables["horizon_metrics"]["horizon_days"]) == {60, h}
    # Sums over members at each horizon: the version's mean forecast (mean_spend_<N>d)
    # beside the other spend answers; at H it is the value step's own (the CLV's).
    sums = {n: found["validation"][str(n)]["value_sums"] for n in (60, h)}
    assert set(sums[60]) == {"value_mean_at_H", "value_model_at_H", "value_model",
                             "past_spend_rate", "bgnbd_gamma_gamma"}
    assert sums[h]["value_mean_at_H"] == run.metrics["value"]["clv_mean"]
    # The noise of which mean sums closer, where both were scored on the same members: at
    # H too (the value step's forecasts, on the windows step's windows).
    assert found["validation"]["60"]["sums_se"] > 0 and found["validation"][str(h)]["sums_se"] > 0
    assert run.value_validation is None  # the value step's forecasts, used up
    for n in (60, h):
        assert 0.5 < sums[n]["value_mean_at_H"]["total_ratio"] < 2.0
        assert (sums[n]["value_mean_at_H"]["total_ratio"]
                > sums[n]["value_model_at_H"]["total_ratio"])  # a mean sums above the median
    table = opened.load_frame("horizon_sums")
    assert table.groupby("horizon_days")["model"].first().to_dict() == {
        h: "value_mean_at_H", 60: "value_mean_at_H"}
    assert table.loc[table["horizon_days"] == 60, "total"].tolist() == [
        sums[60][m]["total_ratio"] for m in table.loc[table["horizon_days"] == 60, "model"]]
    html = (opened.path / "report.html").read_text()
    assert "Sums over members" in html
    assert "Spend summed over members per horizon, over the actual (1: right)" in html
    html = (opened.path / "report.html").read_text()
    assert "Churn and spend at other horizons" in html and "bgnbd_gamma_gamma" in html
    assert "Churn PR-AUC per horizon, over recency only" in html and "Spend MAE per horizon" in html


def test_answers_at_any_horizon_come_from_the_served_models(trained):
    out, _, run = trained
    opened = artifacts.open_version(out)
    scorer = load_horizon_scorer(opened)
    h = run.horizon_days
    assert scorer.anchors == {"churn": [h], "value": sorted({60, h})}
    ids = scorer.summary.index[scorer.summary["T"].notna()]
    days = sorted(set(range(1, 400, 3)) | {h, 60})
    found = scorer.columns(ids, days)
    risk = found[[f"churn_risk_{n}d" for n in days]].to_numpy()
    spend = found[[f"expected_spend_{n}d" for n in days]].to_numpy()
    # Every member's answers are monotone in N: risk never rises, spend never falls.
    assert (np.diff(risk, axis=1) <= 1e-12).all() and (np.diff(spend, axis=1) >= -1e-9).all()
    assert ((risk >= 0) & (risk <= 1)).all() and (spend >= 0).all()
    summary = scorer.summary.loc[ids]
    # At H, the churn model's own risk; elsewhere it placed on the member's BG/NBD curve.
    np.testing.assert_allclose(found[f"churn_risk_{h}d"], summary[f"churn_risk_{h}d"])
    cycle = {n: predict_at_horizon(scorer.params, summary, n) for n in (h, 61)}
    ratio = cycle[61]["churn_risk"] / cycle[h]["churn_risk"]
    np.testing.assert_allclose(scorer.columns(ids, [61])["churn_risk_61d"],
                               np.minimum(summary[f"churn_risk_{h}d"] * ratio, 1.0))
    # The spend at each anchor: the model's own where a member's scores rise already.
    stored = summary[[f"expected_spend_{n}d" for n in sorted({60, h})]].to_numpy()
    rising = (np.diff(stored, axis=1) >= 0).all(axis=1)
    assert rising.sum() > 10
    np.testing.assert_allclose(found["expected_spend_60d"].to_numpy()[rising], stored[rising, -1])
    # A version trained before models were served answers with BG/NBD + Gamma-Gamma alone.
    params = {k: v for k, v in scorer.params.items() if k != "served"}
    plain = HorizonScorer(params, opened.load_frame("horizon_summary"))
    got = plain.columns(ids, [61])
    np.testing.assert_allclose(got["churn_risk_61d"], cycle[61]["churn_risk"])
    np.testing.assert_allclose(got["expected_spend_61d"], cycle[61]["expected_spend"])
    np.testing.assert_allclose(got["mean_spend_61d"], cycle[61]["expected_spend"])
    assert plain.answered_by(61) == {"churn_risk": "BG/NBD churn",
                                     "expected_spend": "BG/NBD + Gamma-Gamma spend",
                                     "mean_spend": "BG/NBD + Gamma-Gamma spend"}
    said = scorer.member(ids[0], 61)["answered_by"]
    validated = ", ".join(map(str, sorted({60, h}))) + " days"
    assert said["churn_risk"] == (
        f"churn model fitted at {h} days, placed at 61 days on the member's BG/NBD curve, "
        f"chosen on the later period at {validated}"
        + (" (61 days is beyond the longest: not validated there)" if h < 61 else ""))
    assert said["expected_spend"].startswith(f"spend model fitted at {validated}")
    assert said["mean_spend"] == (f"spend model's mean forecast fitted at {h} days, placed at "
                                  f"61 days on the member's BG/NBD curve, chosen on the later "
                                  f"period at {validated}"
                                  + (" (61 days is beyond the longest: not validated there)"
                                     if h < 61 else ""))
    # A summary without the served models' scores (an incomplete version) is refused.
    with pytest.raises(DataError, match=r"lack the served column\(s\) \['churn_risk_"):
        HorizonScorer(scorer.params, opened.load_frame("horizon_summary").drop(
            columns=[f"churn_risk_{h}d"]))
    with pytest.raises(DataError, match=r"lack the served column\(s\) \['mean_spend_"):
        HorizonScorer(scorer.params, opened.load_frame("horizon_summary").drop(
            columns=[f"mean_spend_{h}d"]))
    far = scorer.answered_by(400)["churn_risk"]
    assert far.endswith("(400 days is beyond the longest: not validated there)")


def test_mean_spend_at_any_horizon_is_the_clv_forecast_carried(trained):
    out, _, run = trained
    opened = artifacts.open_version(out)
    scorer = load_horizon_scorer(opened)
    h = run.horizon_days
    assert scorer.mean_anchor == h
    ids = scorer.summary.index[scorer.summary["T"].notna()]
    summary = scorer.summary.loc[ids]
    # The summary's mean at H is the CLV's source: the CLV over 12 months divided back.
    members = opened.load_frame("members").set_index("member_id").loc[ids]
    np.testing.assert_allclose(summary[f"mean_spend_{h}d"] * run.value.clv_multiplier(365.0),
                               members["clv"], rtol=1e-9)
    days = sorted(set(range(1, 400, 7)) | {h})
    found = scorer.columns(ids, days)
    mean = found[[f"mean_spend_{n}d" for n in days]].to_numpy()
    assert (np.diff(mean, axis=1) >= -1e-9).all() and (mean >= 0).all()
    np.testing.assert_allclose(found[f"mean_spend_{h}d"], summary[f"mean_spend_{h}d"])
    # Elsewhere: carried by the member's BG/NBD spend ratio from H.
    cycle = {n: predict_at_horizon(scorer.params, summary, n)["expected_spend"] for n in (h, 61)}
    np.testing.assert_allclose(scorer.columns(ids, [61])["mean_spend_61d"],
                               summary[f"mean_spend_{h}d"] * cycle[61] / cycle[h])
    # Where BG/NBD + Gamma-Gamma summed closer on the later periods, it gives the mean.
    served = {k: v for k, v in scorer.params["served"].items() if k != "mean_anchor"}
    cycle_sums = HorizonScorer({**scorer.params, "served": served | {"mean": "bgnbd_gamma_gamma"}},
                               opened.load_frame("horizon_summary"))
    np.testing.assert_allclose(cycle_sums.columns(ids, [61])["mean_spend_61d"], cycle[61])
    assert cycle_sums.answered_by(61)["mean_spend"].startswith(
        "BG/NBD + Gamma-Gamma spend, chosen on the later period at ")
    # Sums: every member with a mean, where the median gives many zeros.
    assert (found[f"mean_spend_{h}d"] > 0).all()
    assert found[f"mean_spend_{h}d"].sum() > found[f"expected_spend_{h}d"].sum()
    # A member without a purchase, in the member columns and the profile.
    never = scorer.columns(["no-such-member"], [61])
    assert never["mean_spend_61d"].iloc[0] == 0.0 and np.isnan(never["churn_risk_61d"].iloc[0])
    one = scorer.member(ids[0], 61)
    assert one["mean_spend"] == pytest.approx(found.loc[ids[0], "mean_spend_61d"]
                                              if 61 in days else
                                              scorer.columns([ids[0]], [61]).iloc[0, 2])


def test_churn_step_fits_only_the_churn_model(trained, monkeypatch):
    _, _, run = trained
    copy = dataclasses.replace(run, tables=dict(run.tables), metrics=dict(run.metrics))

    def no_value_model(*args, **kwargs):
        raise AssertionError("the churn step fitted a value model")

    monkeypatch.setattr(pipeline, "ValueModel", no_value_model)
    monkeypatch.setattr(pipeline, "make_windows", no_value_model)  # the windows are reused
    pipeline._churn(copy)
    assert copy.churn is not run.churn and copy.value is run.value
    assert copy.metrics["churn"]["roc_auc"] == pytest.approx(run.metrics["churn"]["roc_auc"])


def test_models_recover_planted_structure(trained, synth_dir):
    _, _, run = trained
    truth = pd.read_parquet(synth_dir / "truth" / "members.parquet").set_index("member_id")
    members = run.members.set_index("member_id").join(truth[["churn_date"]])
    churned = members["churn_date"].notna() & (members["frequency"] > 0)
    # Planted churners (who stopped buying) must look riskier than everyone else.
    risk = members.loc[members["frequency"] > 0, "churn_risk"]
    assert risk[churned].mean() > risk[~churned].mean() + 0.2
    rec = run.metrics["recommend"]
    assert rec["blend_ndcg@10"] > rec["popularity_ndcg@10"]
    # 600 members, under the sample size: validated on all; the final ALS warm-started
    assert rec["validation_members"] > 500 and not rec["validation_sampled"]
    assert rec["final_als_warm_start"] and rec["final_als_iterations"] == 5


def test_recommendations_validate_on_a_member_sample_when_told(synth_dir, tmp_path):
    config = load_config(recommend={**FAST["recommend"], "validation_members": 200,
                                    "warm_iterations": 0, "als_members": 300})
    version, run = train(synth_dir, tmp_path, config=config)
    rec = run.metrics["recommend"]
    assert "random sample of members" in (tmp_path / version / "report.html").read_text()
    # members of the sample with lines before the split (some only buy in the window)
    assert 150 < rec["validation_members"] <= 200 and rec["validation_sampled"]
    assert not rec["final_als_warm_start"] and rec["final_als_iterations"] == 5
    # the final ALS swept over a seeded sample of about 300 members, then folded in everyone
    assert 240 < rec["final_als_members"] < 360 and run.recommender.n_members > 500
    assert len(run.members) == 600 and (run.members["top_categories"].map(len) > 0).mean() > 0.9
    with pytest.raises(ConfigError, match="validation_members"):
        load_config(recommend={"validation_members": -1})
    with pytest.raises(ConfigError, match="als_members"):
        load_config(recommend={"als_members": -1})


def test_report_has_every_section(trained):
    out, version, _ = trained
    html = (out / version / "report.html").read_text()
    for heading in ("Data", "Cleaning", "Retention by month", "Segments", "Recommendations",
                    "Churn risk", "Customer lifetime value", "Offer response",
                    "Compared with the previous version"):
        assert f">{heading}</h" in html
    assert html.count("data:image/png;base64,") >= 6


def test_retraining_keeps_cluster_ids_and_compares_with_previous(trained, synth_dir,
                                                                 tmp_path_factory):
    out, first, run1 = trained
    version, run2 = train(synth_dir, out, config=load_config(**FAST))
    assert version != first and artifacts.current_version(out) == version
    a = run1.members.set_index("member_id")["cluster"]
    b = run2.members.set_index("member_id")["cluster"]
    assert (a == b.reindex(a.index)).mean() > 0.95
    html = (out / version / "report.html").read_text()
    assert f"Previous version: {first}" in html
    # every compared metric carries its standard error, and the table the noise of a change
    from training.report.comparison import COMPARED

    for section, key, _, _ in COMPARED:
        se = run2.metrics[section]["se"][key]
        assert 0 < se < 0.2 * abs(run2.metrics[section][key]), (section, key, se)
    stored = json.loads((out / version / "metrics.json").read_text())
    assert stored["churn"]["se"] == run2.metrics["churn"]["se"]
    # and the margins over the baselines theirs, on the same members (for the flags)
    assert 0 < run2.metrics["churn"]["baseline_se"]["pr_auc"] < 0.2
    assert 0 < run2.metrics["value"]["baseline_se"]["mae"] < run2.metrics["value"]["mae"]
    rec = run2.metrics["recommend"]
    for base, suffix in (("popularity", ""), ("buy_again", ""), ("popularity", "_new")):
        key = f"{base}_ndcg@10{suffix}"
        # paired: below the two lists' own errors combined (they hit on the same members)
        unpaired = np.hypot(rec["se"][f"blend_ndcg@10{suffix}"], rec["se"][key])
        assert 0 < rec["baseline_se"][key] < unpaired, key
    assert "noise (2 s.e.)" in html
    runner = CliRunner()
    listed = runner.invoke(main, ["versions", str(out)])
    assert listed.exit_code == 0 and first in listed.output and f"* {version}" in listed.output
    compared = runner.invoke(main, ["compare", str(out)])  # current against the one before
    assert compared.exit_code == 0, compared.output
    assert compared.output.startswith(f"{version} (as of ")
    assert f"against {first}" in compared.output and "noise" in compared.output
    table = json.loads(runner.invoke(main, ["compare", str(out), version, first,
                                            "--format", "json"]).output)
    assert (table["old"], table["new"]) == (version, first) and len(table["metrics"]) == 8
    churn = next(m for m in table["metrics"] if m["metric"] == "churn ROC-AUC")
    assert churn["old"] == run2.metrics["churn"]["roc_auc"] and churn["noise"] > 0
    empty = tmp_path_factory.mktemp("no-versions")
    nothing = runner.invoke(main, ["compare", str(empty)])
    assert nothing.exit_code == 1 and "has no trained versions" in nothing.output
    missing = runner.invoke(main, ["compare", str(out), "v0"])
    assert missing.exit_code == 1 and "has no version 'v0'" in missing.output
    assert runner.invoke(main, ["compare", str(out), first, first, first]).exit_code == 2
    back = runner.invoke(main, ["rollback", str(out)])
    assert back.exit_code == 0 and f"current -> {first}" in back.output
    assert artifacts.current_version(out) == first
    shown = runner.invoke(main, ["report", str(out)])
    assert shown.output.strip().endswith(f"{first}/report.html")
    artifacts.rollback(out, version)


def test_the_run_serves_its_recommender_from_the_version_it_wrote(trained):
    """The recommender is written as soon as it is fitted and read back memory-mapped
    (its arrays leave the heap for the member steps): the run's arrays are the
    version's files, and they recommend what the version serves."""
    out, version, run = trained
    mapped = run.recommender.components_["als"].user_factors_
    assert isinstance(mapped, np.memmap)
    assert str(mapped.filename).endswith("rec__als__user_factors_.npy")
    served = artifacts.load_recommender(artifacts.open_version(out, version))
    rows = np.arange(min(50, run.recommender.n_members))
    np.testing.assert_array_equal(run.recommender.recommend(rows, k=10)[0],
                                  served.recommend(rows, k=10)[0])


@pytest.mark.parametrize("failing", ["_save", "_offer_response"])
def test_failed_training_leaves_current_version(trained, synth_dir, monkeypatch, failing):
    """A failure late, or after the recommender went into the new version (a member
    step), leaves the current version current and no part of the new one."""
    out, _, _ = trained
    before = artifacts.current_version(out)
    n_versions = len(artifacts.list_versions(out))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(f"training.pipeline.{failing}", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        train(synth_dir, out, config=load_config(**FAST))
    assert artifacts.current_version(out) == before
    assert len(artifacts.list_versions(out)) == n_versions
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]


def test_as_of_limits_training_data(synth_dir, tmp_path):
    version, run = train(synth_dir, tmp_path, as_of="2025-10-01", config=load_config(**FAST))
    assert run.as_of == pd.Timestamp("2025-10-01")
    assert run.member_features["recency_days"].min() > 0
    manifest = json.loads((tmp_path / version / "manifest.json").read_text())
    assert manifest["as_of"].startswith("2025-10-01")


def test_train_prints_the_cleaning_and_the_clv_sums(trained, synth_dir, monkeypatch):
    """`offers train`'s summary, printed from a real run: what the cleaning policy dropped
    (why a member of the data may have no score) and how the CLV's mean forecast summed on
    the validation window."""
    import training.pipeline

    out, version, run = trained
    cleaning = copy.deepcopy(run.dataset.cleaning)  # the module's run is left as it was
    cleaning.drop("transactions", "zero_amount", 7)  # $0 lines, as the CDNOW data have
    monkeypatch.setattr(run.dataset, "cleaning", cleaning)
    monkeypatch.setattr(training.pipeline, "train", lambda *args, **kwargs: (version, run))
    result = CliRunner().invoke(main, ["train", str(synth_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    cleaning = [line for line in lines if line.startswith("  cleaning: transactions: ")]
    assert len(cleaning) == 1 and "zero_amount: 7" in cleaning[0], result.output
    clv = run.metrics["value"]["clv_mean"]
    assert 0.5 < clv["total_ratio"] < 2.0
    assert (f"  CLV's mean forecast: {clv['total_ratio']:.2f} x the spend of the validation "
            "window; by last purchase: ") in result.output
    # Every band is either judged or named as not judged (too few members spent there).
    judged = run.tables["clv_by_recency"].query("source == 'mean forecast (CLV)'")
    assert set(clv["by_last_purchase"]) == set(judged.loc[judged["spenders"] >= 10,
                                                          "last_purchase"])
    assert set(clv["by_last_purchase"]) | set(clv["not_judged"]) == set(judged["last_purchase"])
    if clv["not_judged"]:
        assert "(not judged where fewer than 10 members bought: " in result.output
    # Which model answers at other horizons, the mean to sum included.
    assert ("  at any horizon (offers score --horizon-days): churn: churn model at H; spend: "
            "spend model retrained per horizon; mean spend: spend model's mean forecast at H"
            ) in lines, result.output


def test_bad_as_of_and_config_are_clear_errors(synth_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(synth_dir), "--out", str(tmp_path),
                                  "--as-of", "soon"])
    assert result.exit_code == 1 and "--as-of 'soon' is not a date" in result.output
    config = tmp_path / "bad.toml"
    config.write_text("[recommend]\nfactorz = 3\n")
    result = runner.invoke(main, ["train", str(synth_dir), "--out", str(tmp_path),
                                  "--config", str(config)])
    assert result.exit_code == 1 and "unknown setting 'recommend.factorz'" in result.output
    assert not np.any([p.name[0].isdigit() for p in tmp_path.iterdir()])


def test_score_and_recommend_exports(trained, tmp_path):
    out, _, run = trained
    runner = CliRunner()
    scores = tmp_path / "scores.csv"
    result = runner.invoke(main, ["score", str(out), "--out", str(scores)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(scores, dtype={"member_id": str})
    assert list(table.columns[:3]) == ["member_id", "segment", "cluster"]
    assert {"recency_days", "frequency", "monetary_total", "churn_risk", "clv"} <= set(table)
    assert len(table) == 600
    assert not any(c.startswith("churn_risk_") for c in table.columns)

    result = runner.invoke(main, ["score", str(out), "--out", str(scores),
                                  "--horizon-days", "61", "--horizon-days", "273"])
    assert result.exit_code == 0, result.output
    wide = pd.read_csv(scores, dtype={"member_id": str})
    assert list(wide.columns[-6:]) == ["churn_risk_61d", "expected_spend_61d", "mean_spend_61d",
                                       "churn_risk_273d", "expected_spend_273d",
                                       "mean_spend_273d"]
    assert "mean spend from the spend model's mean forecast fitted at" in result.output
    for n in (61, 273):  # the segment's revenue forecast, as the file sums it
        total = pd.read_csv(scores)[f"mean_spend_{n}d"].sum()
        assert (f"  at {n} days: these members' mean spend sums to {total:,.0f} (the revenue "
                "they are forecast to bring)") in result.output
    buyers = wide[wide["frequency"] > 0]
    assert buyers["churn_risk_61d"].between(0, 1).all()
    assert (buyers["churn_risk_273d"] <= buyers["churn_risk_61d"]).all()
    assert (buyers["expected_spend_273d"] >= buyers["expected_spend_61d"]).all()
    assert buyers["expected_spend_61d"].sum() > 0
    assert (buyers["mean_spend_273d"] >= buyers["mean_spend_61d"]).all()
    assert (wide.loc[wide["frequency"] == 0, "mean_spend_61d"] == 0).all()

    some = run.members["member_id"].iloc[:5].tolist()
    members_file = tmp_path / "ids.txt"
    members_file.write_text("\n".join(some + ["never-seen"]) + "\n")
    recs = tmp_path / "recs.parquet"
    result = runner.invoke(main, ["recommend", str(out), "--members", str(members_file),
                                  "--k", "4", "--out", str(recs)])
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(recs)
    assert list(got.columns) == ["member_id", "rank", "item_id", "score"]
    assert got.groupby("member_id").size().to_dict() == {m: 4 for m in some + ["never-seen"]}
    assert (got.groupby("member_id")["score"].diff().dropna() <= 0).all()

    cats = tmp_path / "cats.csv"
    result = runner.invoke(main, ["recommend", str(out), "--all", "--k", "2", "--level",
                                  "category", "--exclude-purchased", "--out", str(cats)])
    assert result.exit_code == 0, result.output
    got = pd.read_csv(cats)
    assert list(got.columns) == ["member_id", "rank", "category", "score"]
    assert got["rank"].max() == 2

    result = runner.invoke(main, ["recommend", str(out), "--out", str(cats)])
    assert result.exit_code == 2 and "exactly one of --members FILE or --all" in result.output


def test_retraining_reuses_tuned_parameters_unless_told_to_retune(synth_dir, tmp_path):
    tuned = {"recommend": {"factors": 16, "iterations": 5}}
    first, run1 = train(synth_dir, tmp_path, config=load_config(**tuned))
    assert run1.metrics["recommend"]["tuned_in"] == "this version"
    assert len(run1.metrics["recommend"]["params"]["blend"]["weights"]) == 3
    assert set(run1.metrics["recommend"]["params"]["blend"]["new_weights"]) == {
        "als", "popularity", "first_purchase_popularity", "category_popularity"}
    # A retrain's recommendations step, beside the version just written (that train()
    # hands a run the previous version is test_retraining_keeps_cluster_ids_...'s).
    previous = pipeline._previous_version(tmp_path)
    assert previous["manifest"]["version"] == first

    def retrain(config):
        run = dataclasses.replace(run1, config=config, previous=previous,
                                  metrics=dict(run1.metrics), tables=dict(run1.tables))
        pipeline._recommendations(run)
        return run.metrics["recommend"]

    again = retrain(load_config(**tuned))
    assert again["tuned_in"] == first
    assert again["params"] == run1.metrics["recommend"]["params"]
    retune = load_config(recommend={**tuned["recommend"], "reuse_tuned": False})
    assert retrain(retune)["tuned_in"] == "this version"


def test_reused_parameters_of_a_version_before_category_popularity_search_its_weight():
    """A version written before the "new to you" list's category-aware popularity
    keeps its other weights on a retrain; only the new weight is searched."""
    settings = {"k": 10, "factors": 16, "iterations": 5}
    blend = {"weights": {"buy_again": 1.0, "als": 0.2, "popularity": 0.05},
             "buy_again": {"half_life_days": 90.0}, "als": {"factors": 16},
             "popularity": {"half_life_days": 30.0},
             "new_weights": {"als": 0.25, "popularity": 0.1, "first_purchase_popularity": 0.5},
             "first_purchase_popularity": {"half_life_days": 30.0}}
    params = {"popularity": blend["popularity"], "buy_again": blend["buy_again"],
              "als": blend["als"], "blend": blend}
    manifest = {"version": "v1", "config": {"recommend": settings},
                "metrics": {"recommend": {"params": params}}}
    run = dataclasses.replace(
        pipeline.TrainingRun(data_dir="d", as_of=pd.Timestamp("2024-01-01"),
                             config={"recommend": settings}),
        previous={"manifest": manifest})
    grid = pipeline._previous_params(run)
    assert grid["new_als"] == [0.25] and grid["new_first_purchase"] == [0.5]
    assert "new_category_popularity" not in grid and "category_popularity" not in grid

    blend["new_weights"]["category_popularity"] = 0.25
    blend["category_popularity"] = {"beta": 0.5}
    grid = pipeline._previous_params(run)
    assert grid["new_category_popularity"] == [0.25]
    assert grid["category_popularity"] == [{"beta": 0.5}]


def test_the_recommender_beside_the_member_steps_writes_what_one_step_at_a_time_writes(
        synth_dir, tmp_path, monkeypatch):
    """pandas, parallel_steps: the recommendations on a second thread; the same version
    files, byte for byte, and the same metrics as the steps one at a time."""
    monkeypatch.setattr(pipeline, "_cores", lambda: 2)  # beside, whatever this machine has
    written = {}
    for parallel in (True, False):
        out = tmp_path / str(parallel)
        version, run = train(synth_dir, out, config=load_config(**FAST, parallel_steps=parallel))
        manifest = artifacts.open_version(out).manifest
        # (which member steps ran beside depends on the recommender's time; the first did)
        assert run.overlapped_steps[:2] == (["recommendations", "features"] if parallel else [])
        assert manifest["overlapped_steps"] == run.overlapped_steps
        # the report's timeline: features start before the recommendations end only beside
        # (start and length are each rounded to the millisecond, so one step after another
        # may seem to overlap by up to 1 ms: a real overlap is the whole recommender's time)
        starts, rec_end = run.step_starts, (run.step_starts["recommendations"]
                                            + run.seconds["recommendations"])
        assert (starts["features"] < rec_end - 0.002) == parallel
        assert "Steps over time" in (out / version / "report.html").read_text()
        assert 0 < manifest["train_seconds"] <= sum(manifest["step_seconds"].values()) + 1
        files = {name: (out / version / name).read_bytes() for name in manifest["files"]
                 if name.endswith((".npy", ".parquet", ".json")) and name != "metrics.json"}
        metrics = json.loads((out / version / "metrics.json").read_text())
        metrics["recommend"].pop("seconds")
        written[parallel] = files, metrics
    assert written[True][0].keys() == written[False][0].keys()
    for name, content in written[True][0].items():
        assert content == written[False][0][name], name
    assert written[True][1] == written[False][1]


def test_one_core_large_data_or_an_out_of_core_engine_keeps_one_step_at_a_time(monkeypatch):
    data = type("Data", (), {"transactions": pd.DataFrame({"x": range(10)})})()
    run = pipeline.TrainingRun("d", pd.Timestamp("2024-01-01"), load_config(), data)
    monkeypatch.setattr(pipeline, "_cores", lambda: 2)
    assert pipeline.steps_beside(run)
    assert not pipeline.steps_beside(dataclasses.replace(run, engine="duckdb"))
    assert not pipeline.steps_beside(
        dataclasses.replace(run, config=load_config(parallel_steps=False)))
    monkeypatch.setattr(pipeline, "BESIDE_MAX_LINES", 9)
    assert not pipeline.steps_beside(run)
    monkeypatch.setattr(pipeline, "BESIDE_MAX_LINES", 10)
    monkeypatch.setattr(pipeline, "_cores", lambda: 1)
    assert not pipeline.steps_beside(run)
    monkeypatch.undo()
    monkeypatch.delattr(pipeline.os, "sched_getaffinity", raising=False)  # not Linux
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 4)
    assert pipeline._cores() == 4

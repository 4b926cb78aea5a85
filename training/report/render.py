"""The data scientist's report of one training run: ``report.html`` in each version.

Self-contained (plots embedded): data summary and cleaning counts, retention by
month, segment sizes and profiles, the RFM grid, recommendation metrics against
the baselines, churn calibration and lift, the CLV distribution, offer response
and a comparison with the previous version's metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.kpis import program_kpis
from models.lifecycle.reliability import MIN_SPENDERS
from training.baseline_flags import flag_line, uplift_noise, uplift_noise_clause
from training.engines import line_span
from training.report.comparison import comparison_rows
from training.report.horizons import horizons_section
from training.report.html import HtmlReport, figure


def render_report(run, version: str) -> str:
    """The HTML report of a :class:`training.pipeline.TrainingRun`."""
    rep = HtmlReport(f"Training report {version}")
    _summary(rep, run, version)
    _skipped(rep, run)
    _flags(rep, run)
    _comparison(rep, run)
    _retention(rep, run)
    _segments(rep, run)
    if "recommend" in run.metrics:
        _recommendations(rep, run)
    if "churn" in run.metrics:
        _churn(rep, run)
    if "value" in run.metrics:
        _value(rep, run)
    horizons_section(rep, run)
    _offer_response(rep, run)
    _uplift(rep, run)
    return rep.render()


def _summary(rep: HtmlReport, run, version: str) -> None:
    ds = run.dataset
    first, last = run.line_span or line_span(ds.transactions)  # no pandas lines on DuckDB
    rep.heading("Data")
    rep.text(
        f"Version {version}, trained on {run.source or run.data_dir} with rows before "
        f"{run.as_of.date()} "
        f"(transactions from {first.date()} to {last.date()})."
    )
    counts = pd.DataFrame([ds.row_counts()])
    rep.table(counts)
    cleaning = ds.cleaning
    rows = [
        {"table": t, "rule": r, "action": action, "rows": n}
        for action, found in (("dropped", cleaning.dropped), ("fixed", cleaning.fixed))
        for t, rules in found.items()
        for r, n in rules.items()
    ]
    rep.heading("Cleaning", 3)
    if rows:
        rep.table(pd.DataFrame(rows))
    else:
        rep.text("The cleaning policy changed nothing.")
    rep.heading("Time per step", 3)
    rep.table(pd.DataFrame({"step": list(run.seconds), "seconds": list(run.seconds.values())}))
    if run.overlapped_steps:
        rep.text(f"Steps on two threads at once: {', '.join(run.overlapped_steps)}; "
                 f"the whole training took {run.wall_seconds:.1f} s so far, less than the "
                 "sum of its steps.")
    _step_timeline(rep, run)


def _step_timeline(rep: HtmlReport, run) -> None:
    """Each step as a bar from its start to its end: which ran beside which, and the longest."""
    steps = [step for step in run.seconds if step in run.step_starts]
    if not steps:
        return
    fig = figure(7, 0.3 * len(steps) + 1.0)
    ax = fig.axes[0]
    y = np.arange(len(steps))[::-1]
    overlapped = set(run.overlapped_steps)
    ax.barh(y, [run.seconds[s] for s in steps], left=[run.step_starts[s] for s in steps],
            color=["tab:orange" if s in overlapped else "tab:blue" for s in steps])
    ax.set_yticks(y, steps)
    ax.set_xlabel("seconds since the training started")
    rep.figure(fig, "Steps over time (orange: ran beside another step, on another thread)")


def _skipped(rep: HtmlReport, run) -> None:
    skipped = run.metrics.get("skipped") or {}
    if not skipped:
        return
    rep.heading("Skipped steps")
    rep.text("The data cannot support these steps; everything else trained. Offers that need a "
             "skipped model are not made (see training/applicability.py).", note=True)
    rep.table(pd.DataFrame({"step": list(skipped), "reason": list(skipped.values())}))


def _flags(rep: HtmlReport, run) -> None:
    flags = run.metrics.get("flags") or []
    if not flags:
        return
    rep.heading("Models that lose to their baseline")
    for flag in flags:
        rep.text(flag_line(flag), flag=True)


def _comparison(rep: HtmlReport, run) -> None:
    rep.heading("Compared with the previous version")
    if not run.previous:
        rep.text("This is the first version in this artifacts directory.")
        return
    old = run.previous["manifest"]
    rows = comparison_rows(run.metrics, old.get("metrics", {}))
    rep.text(f"Previous version: {old['version']} (rows before {str(old.get('as_of'))[:10]}).")
    rep.table(pd.DataFrame(rows), float_format="{:,.4f}")
    rep.text("Each version is measured on its own validation members. A change no larger than "
             "twice the standard error of the difference (from resamples of those members; "
             "this version's alone when the previous one recorded none) is within the noise: "
             "it says nothing either way. Two versions validated on the same window (a change "
             "of settings on the same data) share their members, so there the band is wider "
             "than it needs to be. `offers compare` compares any two versions.", note=True)


def monthly_kpis(run) -> pd.DataFrame:
    """The monthly KPIs, on the run's engine when it has one (the same table).

    The pipeline computes them in its "load and validate" step
    (``run.tables["program_kpis"]``), while the process holds only the loaded data: at
    1M members this query, run in the report step beside every per-member table, was
    the whole run's peak (4,660 MiB), and in the features step (after the
    recommendations) that step's (3,420 MiB).
    """
    engine = getattr(run, "engine_tables", None)
    if engine is None:
        return program_kpis(run.dataset, "month")
    from features.relational import program_kpis as engine_kpis

    return engine_kpis(engine.basket_rows(), run.dataset.members, engine.offer_events, "month")


def _retention(rep: HtmlReport, run) -> None:
    kpis = run.tables.get("program_kpis")
    kpis = monthly_kpis(run) if kpis is None else kpis
    kpis = kpis[kpis["start"] < run.as_of]
    rep.heading("Retention by month")
    whole = kpis[~kpis["partial"]]
    fig = figure(7, 3)
    ax = fig.axes[0]
    ax.plot(whole["period"].astype(str), whole["retention_rate"], marker="o", label="retention %")
    ax.plot(whole["period"].astype(str), whole["repeat_purchase_rate"], marker=".",
            label="repeat purchase %")
    ax.set_ylabel("%")
    ax.tick_params(axis="x", rotation=60)
    ax.legend()
    rep.figure(fig, "Members active in the month among those who were members at its start "
               "(whole months only)")
    cols = ["period", "partial", "members_at_start", "active_members", "retention_rate",
            "churn_rate", "repeat_purchase_rate", "active_90d", "average_order_value",
            "offer_redemption_rate"]
    rep.table(kpis[cols], float_format="{:,.1f}")


def _segments(rep: HtmlReport, run) -> None:
    seg = run.tables["segments"]
    rep.heading("Segments")
    counts = seg["segment"].value_counts()
    fig = figure(6, 3.4)
    ax = fig.axes[0]
    ax.barh(counts.index[::-1], counts.to_numpy()[::-1], color="#4c72b0")
    ax.set_xlabel("members")
    rep.figure(fig, "RFM segment sizes")
    buyers = seg[seg["r_score"] > 0]
    grid = pd.crosstab(buyers["r_score"], buyers["fm_score"]).reindex(
        index=range(5, 0, -1), columns=range(1, 6), fill_value=0
    )
    fig = figure(4.6, 3.6)
    ax = fig.axes[0]
    image = ax.imshow(grid.to_numpy(), cmap="Blues")
    for (i, j), n in np.ndenumerate(grid.to_numpy()):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(5), [str(c) for c in grid.columns])
    ax.set_yticks(range(5), [str(r) for r in grid.index])
    ax.set_xlabel("FM score")
    ax.set_ylabel("R score")
    fig.colorbar(image)
    rep.figure(fig, "RFM grid: members per recency x frequency/monetary score")
    profiles = run.tables["cluster_profiles"]
    rep.heading("Behavioural clusters", 3)
    seg_metrics = run.metrics["segmentation"]
    rep.text(
        f"{seg_metrics['n_clusters']} clusters chosen by silhouette "
        f"({seg_metrics['silhouette']:.3f}); ids are matched to the previous version's profiles."
    )
    keep = [c for c in ("cluster", "label", "size", "share", "recency_days", "frequency",
                        "monetary_total", "interpurchase_mean_days") if c in profiles]
    rep.table(profiles[keep], float_format="{:,.2f}")


def _recommendations(rep: HtmlReport, run) -> None:
    table = run.tables["recommend_metrics"]
    k = run.config["recommend"]["k"]
    rep.heading("Recommendations")
    split = run.metrics["recommend"].get("params", {})
    rep.text(
        f"Validation: trained before the last {run.config['validation_days']} days, measured on "
        "the items members bought in them. 'never bought' counts only items new to the member."
    )
    rec = run.metrics["recommend"]
    if rec.get("validation_sampled"):
        rep.text(f"Validated on a seeded random sample of members ({rec['validation_members']:,} "
                 "with purchases before the split): the metrics are estimates.", note=True)
    fig = figure(7, 3)
    ax = fig.axes[0]
    models = list(dict.fromkeys(table["model"]))
    width = 0.38
    for offset, mode in ((-width / 2, "all"), (width / 2, "never_bought")):
        part = table[table["mode"] == mode].set_index("model").reindex(models)
        ax.bar(np.arange(len(models)) + offset, part[f"ndcg@{k}"], width, label=mode)
    ax.set_xticks(range(len(models)), models)
    ax.set_ylabel(f"NDCG@{k}")
    ax.legend()
    rep.figure(fig, f"NDCG@{k} per model; popularity, buy-again and top-frequency are the "
               "baselines")
    rep.table(table.drop(columns=[c for c in table.columns if str(c).endswith("_se")]),
              float_format="{:,.4f}")
    top = rec.get(f"top_frequency_precision@{k}")
    if top:
        lift = rec[f"blend_precision@{k}"] / top - 1
        rep.text(f"Precision@{k} over all items: blend {rec[f'blend_precision@{k}']:.4f}, "
                 f"{lift:+.1%} against the member's own most frequent items "
                 f"(top-frequency, every purchase counted once: {top:.4f}); buy-again weighs "
                 "recent purchases more.")
    if split:
        rep.text(f"Blend weights: {split.get('blend', {}).get('weights')}; parameters tuned in "
                 f"{run.metrics['recommend'].get('tuned_in')}.", note=True)


def _churn(rep: HtmlReport, run) -> None:
    m = run.metrics["churn"]
    rep.heading("Churn risk")
    rep.text(
        f"Churned = no purchase in the {m['horizon_days']} days after a cutoff. Validation: the "
        f"latest window ({m['validation_members']} members), after training on earlier windows."
    )
    rep.table(run.tables["churn_metrics"], float_format="{:,.3f}")
    cal = run.tables["churn_calibration"]
    fig = figure(4.2, 3.6)
    ax = fig.axes[0]
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect")
    ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", label="model")
    ax.set_xlabel("predicted churn risk")
    ax.set_ylabel("observed churn rate")
    ax.legend()
    rep.figure(fig, "Calibration")
    lift = run.tables["churn_lift"]
    fig = figure(4.8, 3.6)
    ax = fig.axes[0]
    ax.bar(lift["decile"], lift["lift"], color="#dd8452")
    ax.axhline(1.0, color="grey", ls="--")
    ax.set_xlabel("risk decile (1 = highest)")
    ax.set_ylabel("lift")
    rep.figure(fig, "Lift by decile")


def _value(rep: HtmlReport, run) -> None:
    m = run.metrics["value"]
    rep.heading("Customer lifetime value")
    clv_from = ("the mean forecast (a second booster, Poisson deviance)" if "clv_mean" in m
                else "expected spend")
    rep.text(
        f"Expected spend in the next {m['horizon_days']} days (a median forecast), validated "
        f"on the latest window; 12-month CLV = {clv_from} x {m['clv_multiplier']:.2f} "
        "(see models/lifecycle/value.py)."
    )
    rep.table(run.tables["value_metrics"], float_format="{:,.3f}")
    if "clv_by_recency" in run.tables:
        rep.text(
            "What the members of each group spent in the validation window, against what each "
            "forecast predicted for them: the CLV sums the mean forecast, as a segment's value "
            "or a budget needs; the median is 0 for members more likely than not to buy "
            "nothing, though together they spend. The ratio is left empty where fewer than "
            f"{MIN_SPENDERS} of the group's members spent anything."
        )
        rep.table(run.tables["clv_by_recency"], float_format="{:,.2f}")
    if "value_calibration" in run.tables:
        cal = run.tables["value_calibration"]
        fig = figure(4.2, 3.6)
        ax = fig.axes[0]
        top = float(max(cal["mean_predicted"].max(), cal["mean_actual"].max(), 1.0))
        ax.plot([0, top], [0, top], ls="--", color="grey", label="perfect")
        for source, part in cal.groupby("source", sort=False):
            ax.plot(part["mean_predicted"], part["mean_actual"], marker="o", label=source)
        ax.set_xlabel(f"predicted spend, next {m['horizon_days']} days")
        ax.set_ylabel("actual spend")
        ax.legend()
        rep.figure(fig, "Calibration of the spend prediction (deciles)")
    clv = run.members["clv"].to_numpy()
    clv = clv[clv > 0]
    if len(clv):
        fig = figure(6, 3)
        ax = fig.axes[0]
        ax.hist(clv, bins=50, color="#55a868")
        ax.set_xlabel("12-month CLV")
        ax.set_ylabel("members")
        rep.figure(fig, "CLV distribution")


def _offer_response(rep: HtmlReport, run) -> None:
    m = run.metrics["offer_response"]
    rep.heading("Offer response")
    if m["kind"] == "OfferResponsePrior":
        rep.text("Too little offer history: documented priors per offer type, scaled by affinity.")
        return
    rep.text(
        f"P(redeem) learned from {m.get('training_sends')} sends (base rate "
        f"{m.get('base_rate', float('nan')):.3f}), estimator {m.get('estimator')}. Held out by "
        f"time (latest quarter of sends): ROC-AUC {m.get('roc_auc', float('nan')):.3f}, "
        f"PR-AUC {m.get('pr_auc', float('nan')):.3f}."
    )
    if "response_brier" in run.tables:
        _response_calibration(rep, run)


def _response_calibration(rep: HtmlReport, run) -> None:
    """Brier scores and reliability of the engine's P(redeem) against the old heuristic."""
    split = run.metrics["offer_response"]["calibration"]["split"][:10]
    rep.heading("Calibration of P(redeem)", 3)
    rep.text(
        f"Fitted on the sends before {split}, scored on the later ones. 'engine': the P(redeem) "
        "the offer engine uses (the model, without per-member item counts); 'heuristic': the "
        "engine's estimate before it used the model, prior(type) x responsiveness x "
        "(0.5 + 0.5 x lift). Lower Brier is better."
    )
    brier = run.tables["response_brier"]
    worse = brier[brier["brier_engine"] > brier["brier_heuristic"]]
    for row in worse.itertuples():
        rep.text(f"{row.offer_type}: the engine's P(redeem) has a worse Brier score than the old "
                 f"heuristic's ({row.brier_engine:.4f} against {row.brier_heuristic:.4f}).",
                 flag=True)
    rep.table(brier, float_format="{:,.4f}")
    curve = run.tables["response_calibration"]
    fig = figure(4.2, 3.6)
    ax = fig.axes[0]
    top = float(max(curve["mean_predicted"].max(), curve["observed_rate"].max(), 0.01))
    ax.plot([0, top], [0, top], ls="--", color="grey", label="perfect")
    for source in ("engine", "heuristic"):
        part = curve[curve["source"] == source]
        ax.plot(part["mean_predicted"], part["observed_rate"], marker="o", label=source)
    ax.set_xlabel("predicted P(redeem)")
    ax.set_ylabel("observed redemption rate")
    ax.legend()
    rep.figure(fig, "Reliability of P(redeem) on later sends (deciles of the prediction)")


def _uplift(rep: HtmlReport, run) -> None:
    m = run.metrics.get("uplift") or {}
    rep.heading("Uplift (incremental effect of offers)")
    if not m.get("trained"):
        rep.text(f"Not trained: {m.get('reason', 'the step did not run')} Offers are ranked by "
                 "expected value, not by incremental value.", note=True)
        return
    rep.text(f"{m['learner']} per offer type and outcome, fitted on sends against their "
             f"randomised control, validated on {m['validation_members']} held-out members: "
             "Qini curves of targeting by predicted uplift, by P(redeem) and at random. "
             "Outcomes are spend and retention in the "
             f"{m['window_days']:.0f} days after the send (or the held-out send).")
    served = m.get("served_types") or []
    rep.text("The offer engine ranks offers of type(s) " + ", ".join(served) + " by expected "
             "incremental profit (margin x predicted extra spend - expected cost); every "
             "other offer by expected value." if served else "No spend model beats random and "
             "P(redeem) targeting: the offer engine ranks every offer by expected value.",
             note=not served)
    table = run.tables["uplift_validation"]
    losers = table[~table["better_than_random"].astype(bool)]
    for row in losers.itertuples():
        rep.text(f"{row.offer_type} / {row.outcome}: the uplift model is not better than "
                 "random targeting and targeting by P(redeem) on its validation members "
                 f"(normalised AUUC {row.normalized_auuc_uplift:.3f} against "
                 f"{row.normalized_auuc_response:.3f}){uplift_noise_clause(row._asdict())}; "
                 "do not target by it.", flag=True)
    ranked = table[(table["outcome"] == "spend") & table["offer_type"].isin(served)]
    for row in ranked.itertuples():
        found = uplift_noise(row._asdict())
        if found is not None and found[0]:
            rep.text(f"{row.offer_type} / spend: the engine ranks on it (normalised AUUC "
                     f"{row.normalized_auuc_uplift:.3f}, above random's 0 and P(redeem) "
                     f"targeting's {row.normalized_auuc_response:.3f}), but its lead is within "
                     f"the noise ({found[1]:.2g} against {found[2]:.2g}: the validation members "
                     "cannot tell the policies apart).", note=True)
    rep.table(table)
    spend = table[table["outcome"] == "spend"]
    if len(spend):  # the incremental-profit estimate a marketer budgets with
        rep.text("Estimated incremental spend of sending an offer of each type to 30% of the "
                 "members, per member of the program, on the validation members (the Qini "
                 "curve at 30%): chosen by predicted uplift, by P(redeem), or at random. "
                 "Incremental profit = margin x this - 0.3 x the cost of one offer.", note=True)
        rep.table(pd.DataFrame({
            "offer type": spend["offer_type"].to_numpy(),
            "by uplift": spend["gain_at_30_uplift"].to_numpy(),
            "by P(redeem)": spend["gain_at_30_response"].to_numpy(),
            "at random": 0.3 * spend["ate"].to_numpy(),
        }))
    curves = run.tables["uplift_curves"]
    for (offer_type, outcome), curve in curves.groupby(["offer_type", "outcome"], sort=True):
        fig = figure(5, 3.2)
        ax = fig.axes[0]
        for policy, part in curve.groupby("policy", sort=False):
            ax.plot(part["fraction"], part["gain"], label=policy)
        ax.set_xlabel("share of members targeted")
        ax.set_ylabel(f"incremental {outcome}")
        ax.legend()
        rep.figure(fig, f"Qini curves, {offer_type} offers, outcome {outcome}")

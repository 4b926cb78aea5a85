"""The report's section "Churn and spend at other horizons" (step "horizons").

Imports: :mod:`training.report.html` and :mod:`training.artifacts.horizons` (the labels).
"""

from __future__ import annotations

import pandas as pd

from models.lifecycle.reliability import MIN_SPENDERS
from training.artifacts.horizons import CYCLE_MODELS, LABELS
from training.report.html import HtmlReport, figure


def horizons_section(rep: HtmlReport, run) -> None:
    """Validation per horizon of the churn and spend models and of BG/NBD + Gamma-Gamma."""
    found = run.metrics.get("horizons")
    if not found:
        return
    rep.heading("Churn and spend at other horizons")
    if not found.get("trained"):
        rep.text(f"No purchase-cycle model (BG/NBD, Gamma-Gamma): {found.get('reason')} "
                 "`offers score --horizon-days` and the profile's horizon_days are "
                 "unavailable for this version.", note=True)
        return
    bg, gg = found["params"]["bgnbd"], found["params"]["gamma_gamma"]
    served = found.get("served") or {}
    answers = " and ".join(
        f"{what} from the {LABELS[served[task]]}" + (
            f" (fitted at {', '.join(map(str, served['anchors'][task]))} days, placed on each "
            "member's BG/NBD curve)" if (served.get("anchors") or {}).get(task) else "")
        for task, what in (("churn", "churn risk"), ("value", "spend"))
        if served.get("horizons"))
    rep.text(
        "`offers score --horizon-days N` and the profile's `horizon_days=N` answer with "
        + (f"{answers}, chosen on the validation below (the version's own models unless "
           "another beats them beyond twice the noise at most horizons). " if answers else
           "BG/NBD and Gamma-Gamma alone (no horizon validated). ")
        + f"BG/NBD: r={bg['r']:.3g}, alpha={bg['alpha']:.3g} days, a={bg['a']:.3g}, "
        f"b={bg['b']:.3g}; Gamma-Gamma: p={gg['p']:.3g}, q={gg['q']:.3g}, "
        f"gamma={gg['gamma']:.3g}. Each horizon h is validated on its own later period: "
        "models fitted before as_of - h, judged on the h days after; *_at_H is the version's "
        "own model placed at h as served, the others retrained at h or baselines.")
    if found.get("sample_fraction", 1.0) < 1.0:
        n = found["members_before_as_of"]
        rep.text(f"The parameters and the validation come from a seeded sample of "
                 f"{found['sample_fraction']:.1%} of the {n:,} members who bought before "
                 "as_of (the parameters describe the population); every member is scored.",
                 note=True)
    table = run.tables.get("horizon_metrics")
    if table is not None and len(table):
        for task in ("churn", "value"):
            part = table[table["task"] == task].dropna(axis=1, how="all").drop(columns="task")
            rep.table(part.reset_index(drop=True), float_format="{:,.3f}")
        if table["horizon_days"].nunique() > 1:
            _main_measures_figure(rep, table, served)
    sums = run.tables.get("horizon_sums")
    if sums is not None and len(sums):
        mean = LABELS.get(served.get("mean", CYCLE_MODELS["value"]))
        rep.text("Sums over members: each spend answer's total over the validation window's "
                 "actual spend (1 = the segment's revenue forecast right), in all and by time "
                 f"since the last purchase. mean_spend_<N>d, the figure to sum, is the {mean} "
                 "(the spend model's mean forecast at H placed at N, value_mean_at_H, unless "
                 "BG/NBD + Gamma-Gamma's total came closer beyond twice the noise at most "
                 "horizons); expected_spend_<N>d is a median per member, which sums low "
                 "wherever buying nothing is the likelier outcome. A cell is empty where "
                 f"fewer than {MIN_SPENDERS} of the group's members spent anything (no ratio "
                 "over almost nothing).")
        rep.table(sums.assign(model=sums["model"].map(lambda m: LABELS.get(m, m))),
                  float_format="{:,.2f}")
        if sums["horizon_days"].nunique() > 1:
            _sums_figure(rep, sums, served.get("mean", CYCLE_MODELS["value"]))
    left_out = found.get("left_out") or {}
    if left_out:
        rep.table(pd.DataFrame({"horizon_days": list(left_out),
                                "not validated because": list(left_out.values())}))


def _main_measures_figure(rep: HtmlReport, table: pd.DataFrame, served: dict) -> None:
    """Each model's main measure per validated horizon relative to the task's baseline there
    (the issue's targets are relative to it), one panel per task, the served model thick."""
    for task, measure, baseline, caption in (
            ("churn", "pr_auc", "recency_only",
             "Churn PR-AUC per horizon, over recency only's (above 1: better)"),
            ("value", "mae", "past_spend_rate",
             "Spend MAE per horizon, over the past-spend rate's (below 1: better)")):
        part = table[table["task"] == task]
        if measure not in part or part[measure].isna().all():
            continue
        base = part[part["model"] == baseline].set_index("horizon_days")[measure]
        if base.empty:
            continue
        lines = []
        for model, rows in part.groupby("model", sort=False):
            if model == baseline:
                continue
            rows = rows.sort_values("horizon_days")
            thick = model == served.get(task)
            lines.append((LABELS.get(model, model) + (" (served)" if thick else ""),
                          rows["horizon_days"], rows[measure].to_numpy()
                          / base.reindex(rows["horizon_days"]).to_numpy(), thick))
        _lines_at_one(rep, lines,
                      f"{'PR-AUC' if task == 'churn' else 'MAE'} / {LABELS[baseline]}'s",
                      caption)


def _sums_figure(rep: HtmlReport, sums: pd.DataFrame, mean: str) -> None:
    """Each spend answer's total over the actual per validated horizon (1: a segment's
    revenue forecast right), the one ``mean_spend_<N>d`` serves thick."""
    lines = []
    for model, rows in sums.groupby("model", sort=False):
        if model == "value_model":  # retrained at h: the served median's twin, not served
            continue
        rows = rows.sort_values("horizon_days")
        thick = model == mean
        said = " (mean_spend)" if thick else (
            " (the median, expected_spend)" if model == "value_model_at_H" else "")
        lines.append((LABELS.get(model, model) + said, rows["horizon_days"], rows["total"],
                      thick))
    _lines_at_one(rep, lines, "predicted / actual spend, all members",
                  "Spend summed over members per horizon, over the actual (1: right)")


def _lines_at_one(rep: HtmlReport, lines: list, ylabel: str, caption: str) -> None:
    """A figure of ``lines`` (``(label, horizon days, values, thick)``) over the validated
    horizons, against a dashed line at 1."""
    fig = figure(4.6, 3.2)
    ax = fig.axes[0]
    ax.axhline(1.0, ls="--", color="grey", lw=1)
    for label, days, values, thick in lines:
        ax.plot(days, values, marker="o", lw=2.6 if thick else 1.2, label=label)
    ax.set_xlabel("horizon h (days)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    rep.figure(fig, caption)

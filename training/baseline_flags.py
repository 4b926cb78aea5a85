"""Which models lose to their simple baseline on the validation split, for the report and CLI.

Every model is validated against the strongest simple baseline of its kind
(``metrics.json``): recommendations against popularity and buy-again, churn
against recency only, spend against the past-spend rate. A model that does
worse than its baseline on a metric is *flagged* (``metrics["flags"]``, a red
line in the report, a ``FLAG`` line in ``offers train``'s output), not shipped
silently. Where the step measured it (``baseline_se``, the standard error of the
model's margin over its baseline on the same members: churn, spend and
recommendations), the flag also says whether the loss is beyond that noise (twice
the standard error) or within it. The uplift models' verdicts get the same reading
(:func:`uplift_noise`).

Imports: nothing of the project.
"""

from __future__ import annotations

import math

#: (section, metric, label, higher is better) checked against the section's ``baseline``.
AGAINST_BASELINE = (
    ("churn", "roc_auc", "churn ROC-AUC", True),
    ("churn", "pr_auc", "churn PR-AUC", True),
    ("value", "spearman", "spend Spearman", True),
    ("value", "mae", "spend MAE", False),
    ("value", "top_decile_capture", "spend top-decile capture", True),
)


def baseline_flags(metrics: dict, k: int) -> list[dict]:
    """One record per (model, metric) where the model does worse than its baseline.

    Records: ``model``, ``metric``, ``value``, ``baseline`` (name), ``baseline_value``
    and, where the margin's standard error was measured, ``noise`` (twice it).
    """
    flags = []
    for section, key, label, higher in AGAINST_BASELINE:
        m = metrics.get(section) or {}
        value, base = m.get(key), (m.get("baseline") or {}).get(key)
        if value is None or base is None:
            continue
        if (value < base) if higher else (value > base):
            flag = {"model": section, "metric": label, "value": float(value),
                    "baseline": "recency only" if section == "churn" else "past-spend rate",
                    "baseline_value": float(base)}
            se = (m.get("baseline_se") or {}).get(key)
            if se is not None:
                flag["noise"] = 2 * float(se)
            flags.append(flag)
    rec = metrics.get("recommend") or {}
    for suffix, label, baselines in (("", f"NDCG@{k}", ("popularity", "buy_again")),
                                     ("_new", f"NDCG@{k} on never-bought items",
                                      ("popularity",))):
        value = rec.get(f"blend_ndcg@{k}{suffix}")
        scores = {b: rec.get(f"{b}_ndcg@{k}{suffix}") for b in baselines}
        scores = {b: v for b, v in scores.items() if v is not None}
        if value is None or not scores:
            continue
        best = max(scores, key=scores.get)
        if value < scores[best]:
            flag = {"model": "recommend", "metric": f"recommendations {label}",
                    "value": float(value), "baseline": best.replace("_", "-"),
                    "baseline_value": float(scores[best])}
            se = (rec.get("baseline_se") or {}).get(f"{best}_ndcg@{k}{suffix}")
            if se is not None:
                flag["noise"] = 2 * float(se)
            flags.append(flag)
    return flags


def flag_line(flag: dict) -> str:
    """A flag as one sentence (and whether the loss is beyond its noise, when measured).

    >>> flag_line({"metric": "spend MAE", "value": 71.0, "baseline": "past-spend rate",
    ...            "baseline_value": 70.5, "noise": 1.2})
    'spend MAE: 71, worse than the past-spend rate baseline (70.5) on the validation split, \
within the noise (0.5 against 1.2: the members measured cannot tell them apart).'
    """
    line = (f"{flag['metric']}: {flag['value']:.4g}, worse than the {flag['baseline']} "
            f"baseline ({flag['baseline_value']:.4g}) on the validation split")
    noise = flag.get("noise")
    if noise is None:
        return line + "."
    gap = abs(flag["value"] - flag["baseline_value"])
    if gap <= noise:
        return (line + f", within the noise ({gap:.2g} against {noise:.2g}: the members "
                "measured cannot tell them apart).")
    return line + f", beyond the noise ({gap:.2g} against {noise:.2g})."


#: How a per-horizon flag's ``measure`` reads in a grouped line.
MEASURES = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "spearman": "Spearman", "mae": "MAE",
            "top_decile_capture": "top-decile capture"}


def grouped_flag_lines(flags: list[dict]) -> list[str]:
    """The flags as few lines: one per flag of the version's own models, one per model
    and baseline for the per-horizon flags (which measure lost at which horizons, and,
    where the margins' noise was measured, which of those losses are within it).

    >>> flags = [{"subject": "BG/NBD churn", "baseline": "recency only", "measure": m,
    ...           "horizon_days": h, "metric": "", "value": 0.1, "baseline_value": 0.2}
    ...          for m, h in (("pr_auc", 30), ("pr_auc", 60), ("roc_auc", 60))]
    >>> print(grouped_flag_lines(flags)[0].replace("days, ", "days,\\n"))
    BG/NBD churn: worse than the recency only baseline on PR-AUC at 30, 60 days,
    ROC-AUC at 60 days (validation at each horizon; figures in the report).
    """
    lines, groups = [], {}
    for flag in flags:
        if "horizon_days" not in flag:
            lines.append(flag_line(flag))
            continue
        groups.setdefault((flag["subject"], flag["baseline"]), []).append(flag)
    for (subject, baseline), group in groups.items():
        lines.append(f"{subject}: worse than the {baseline} baseline on {_losses(group)} "
                     f"({_noise_clause(group)}validation at each horizon; figures in the "
                     "report).")
    return lines


def _losses(group: list[dict]) -> str:
    """"MAE at 30, 60 days, Spearman at 60 days": each measure with the horizons it lost at."""
    by_measure: dict[str, list[int]] = {}
    for flag in group:
        by_measure.setdefault(flag["measure"], []).append(int(flag["horizon_days"]))
    return ", ".join(f"{MEASURES.get(m, m)} at {', '.join(map(str, sorted(days)))} days"
                     for m, days in by_measure.items())


def _noise_clause(group: list[dict]) -> str:
    """Which of a group's losses its noise can explain, when every one's noise was measured:
    "all beyond the noise; ", "all within the noise; " or "within the noise: MAE at 30
    days; "; "" when some were not measured."""
    if not all("noise" in f for f in group):
        return ""
    within = [f for f in group if abs(f["value"] - f["baseline_value"]) <= f["noise"]]
    if not within:
        return "all beyond the noise; "
    if len(within) == len(group):
        return "all within the noise; "
    return f"within the noise: {_losses(within)}; "


def uplift_noise(record) -> tuple[bool, float, float] | None:
    """Whether an uplift model's verdict is within its noise, for a validation record
    (``models.uplift.VALIDATION_COLUMNS``, a mapping).

    The verdict ("better than random and than targeting by P(redeem)") rests on two
    comparisons: the normalised AUUC against random's 0, and against P(redeem)
    targeting's. Each gap is set against twice its standard error (the members
    resampled). A model that wins is within the noise when its narrower lead is; one
    that loses, when every comparison it loses is. Returns ``(within, gap, noise)`` of
    the deciding comparison, or None when the noise was not measured.

    >>> uplift_noise({"normalized_auuc_uplift": 0.09, "normalized_auuc_response": 0.05,
    ...               "normalized_auuc_uplift_se": 0.02, "auuc_margin_se": 0.03})
    (True, 0.04, 0.06)
    """
    own, base = record.get("normalized_auuc_uplift"), record.get("normalized_auuc_response")
    se_own, se_margin = record.get("normalized_auuc_uplift_se"), record.get("auuc_margin_se")
    values = (own, base, se_own, se_margin)
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    pairs = {"random": (own, 2 * se_own), "response": (own - base, 2 * se_margin)}
    if own > 0 and own > base:  # a win: as strong as its narrower lead
        gap, noise = min(pairs.values(), key=lambda p: p[0] / p[1] if p[1] > 0 else math.inf)
        return gap <= noise, round(gap, 12), round(noise, 12)
    losses = [(-g, n) for g, n in pairs.values() if g <= 0]
    gap, noise = max(losses, key=lambda p: p[0] / p[1] if p[1] > 0 else math.inf)
    return gap <= noise, round(gap, 12), round(noise, 12)


def uplift_noise_clause(record) -> str:
    """", within the noise (...)" or ", beyond the noise (...)" for :func:`uplift_noise`;
    "" when the noise was not measured."""
    found = uplift_noise(record)
    if found is None:
        return ""
    within, gap, noise = found
    if within:
        return (f", within the noise ({gap:.2g} against {noise:.2g}: the validation members "
                "cannot tell them apart)")
    return f", beyond the noise ({gap:.2g} against {noise:.2g})"

"""Churn risk and expected spend at any horizon: the validated models, carried by BG/NBD.

A version holds the BG/NBD and Gamma-Gamma parameters and the model chosen at
each validated horizon (``horizon_model.json``), and each member's purchase
summary as of the version's ``as_of`` with the chosen models' scores
(``horizon_summary.parquet``), both hash-checked like every file: numbers, no
pickle. The :class:`HorizonScorer` built from them answers "no purchase in the
next ``N`` days" and "spend in the next ``N`` days", counted from ``as_of``,
for ``offers score --horizon-days`` and the profile's ``horizon_days``: the spend
twice, as the member's median (``expected_spend``, the figure judged on absolute
error) and as the mean (``mean_spend``, the figure to sum over members).

Imports: :mod:`features`, :mod:`models` and this package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.errors import DataError
from models.lifecycle.bgnbd import SUMMARY_COLUMNS, predict_at_horizon
from training.artifacts import schema
from training.artifacts.store import ArtifactVersion

#: Longest horizon accepted, in days (ten years).
MAX_HORIZON_DAYS = 3650


def check_horizon_days(value) -> int:
    """``value`` as a whole number of days in ``[1, MAX_HORIZON_DAYS]``, or a DataError.

    >>> check_horizon_days("61")
    61
    """
    text = str(value).strip()
    try:
        days = int(text)
    except ValueError:
        days = None
    if days is None or isinstance(value, bool) or (isinstance(value, float) and value != days):
        raise DataError(f"horizon_days={text[:40]!r} is not a whole number of days; use an "
                        f"integer from 1 to {MAX_HORIZON_DAYS}, e.g. 30, 61 or 365.")
    if not 1 <= days <= MAX_HORIZON_DAYS:
        raise DataError(f"horizon_days={days} is out of range; use 1 to {MAX_HORIZON_DAYS} "
                        "days after the version's as_of.")
    return days


#: What each model of the step "horizons" is called in answers, flags and the report.
LABELS = {"churn_model": "churn model", "bgnbd": "BG/NBD churn", "value_model": "spend model",
          "bgnbd_gamma_gamma": "BG/NBD + Gamma-Gamma spend",
          "recency_only": "recency only", "past_spend_rate": "past-spend rate",
          "churn_model_at_H": "churn model at H", "value_model_at_H": "spend model at H",
          "value_mean_at_H": "spend model's mean forecast at H"}
#: The purchase-cycle models, which answer from their parameters at any horizon.
CYCLE_MODELS = {"churn": "bgnbd", "value": "bgnbd_gamma_gamma"}
_COLUMN = {"churn": "churn_risk", "value": "expected_spend"}


def _days(horizons) -> str:
    """``[28, 30, 60]`` as ``"28, 30, 60 days"``."""
    return ", ".join(str(h) for h in horizons) + " days"


def served_choice(params: dict) -> tuple[list[int], dict, dict]:
    """``horizon_model.json``'s ``served``: the validated horizons, the model per task and,
    per task, the horizons it scores members at (none: BG/NBD answers alone; a version
    trained before models were served has none of these)."""
    served = params.get("served") or {}
    anchors = served.get("anchors") or {}
    return (sorted(int(h) for h in served.get("horizons", ())),
            {task: served.get(task, CYCLE_MODELS[task]) for task in CYCLE_MODELS},
            {task: sorted(int(h) for h in anchors.get(task, ())) for task in CYCLE_MODELS})


def mean_anchor(params: dict) -> int | None:
    """The horizon ``H`` whose mean spend forecast (the value model's, the CLV's source)
    every member has in the summaries and that ``mean_spend`` is carried from; None: BG/NBD +
    Gamma-Gamma's expected spend, itself a mean, answers (chosen so on the later periods,
    no value model, or a version trained before ``mean_spend``)."""
    found = (params.get("served") or {}).get("mean_anchor")
    return int(found) if found else None


def answered_by(params: dict, days: int) -> dict:
    """``{"churn_risk": text, "expected_spend": text, "mean_spend": text}``: which model
    answers at ``days``, from ``horizon_model.json`` alone (``offers score`` says it
    without the summaries)."""
    days = check_horizon_days(days)
    validated, served, all_anchors = served_choice(params)
    chosen = f", chosen on the later period at {_days(validated)}" if validated else ""
    if validated and days > max(validated):
        chosen += f" ({days} days is beyond the longest: not validated there)"
    out = {}
    for task in ("churn", "value"):
        anchors = all_anchors[task]
        if not anchors:
            out[_COLUMN[task]] = LABELS[CYCLE_MODELS[task]] + (
                chosen if served[task] == CYCLE_MODELS[task] else "")
            continue
        label = LABELS[served[task].removesuffix("_at_H")]  # the version's own: fitted at H
        text = f"{label} fitted at {_days(anchors)}"
        if days not in anchors:
            text += f", placed at {days} days on the member's BG/NBD curve"
        out[_COLUMN[task]] = text + chosen
    anchor = mean_anchor(params)
    if anchor is None:  # chosen on the later periods over the model's mean, or the only one
        chose = (params.get("served") or {}).get("mean") == CYCLE_MODELS["value"] and validated
        out["mean_spend"] = LABELS[CYCLE_MODELS["value"]] + (chosen if chose else "")
    else:
        out["mean_spend"] = (f"spend model's mean forecast fitted at {anchor} days" + (
            f", placed at {days} days on the member's BG/NBD curve" if days != anchor else "")
            + chosen)
    return out


class HorizonScorer:
    """A version's answers at any horizon (see the module docstring).

    ``params["served"]`` (recorded by the step "horizons") names the model that
    answers each task, the one that did best on the later period over the validated
    horizons (``horizons``), and the horizons it scores every member at
    (``anchors``): the version's horizon ``H`` for its own churn and value models,
    each validated horizon for models fitted per horizon, none for BG/NBD (+
    Gamma-Gamma), which answers at every ``N`` from its parameters. The summary holds
    those member scores (``churn_risk_<h>d``, ``expected_spend_<h>d``), and:

    - across several anchors, each member's scores are made monotone (risk never
      rises, spend never falls with ``N``) by isotonic regression
      (:func:`isotonic_rows`); scores already monotone are served as they are;
    - between two anchors the answer moves from one to the next on the member's own
      BG/NBD curve: in proportion to how far BG/NBD's P(no purchase) (for churn) or
      expected spend (for spend) has moved between them (:func:`place_on_curve`);
    - beyond the last anchor (or before the first) the answer there is carried by
      BG/NBD's ratio: risk times ``P(no purchase in N) / P(no purchase in h)``
      (capped at 1), spend times ``E[spend in N] / E[spend in h]``.

    So answers are continuous and monotone in ``N``, and the validation of the step
    "horizons" judged exactly these answers (its ``churn_model_at_H`` and
    ``value_model_at_H`` are the version's models placed so). A version trained
    before models were served answers with BG/NBD + Gamma-Gamma alone, as before.

    The mean spend (``mean_spend``) is the value model's mean forecast at its horizon
    ``H`` (``params["served"]["mean_anchor"]``; the summary's ``mean_spend_<H>d``, the
    CLV's source) times BG/NBD's spend ratio from ``H`` to ``N``: sums of it over
    members forecast the revenue of a segment, which the medians of ``expected_spend``
    do not (a median is 0 for every member more likely to buy nothing). Without a
    ``mean_anchor`` (value model skipped, or a version trained before it) it is BG/NBD +
    Gamma-Gamma's expected spend, also a mean. The step "horizons" records how close
    both sums came to the validation windows' spend (``value_sums``).

    Parameters
    ----------
    params : dict
        ``horizon_model.json``.
    summary : pandas.DataFrame
        ``member_id``, :data:`~models.lifecycle.bgnbd.SUMMARY_COLUMNS` and the
        served models' member scores at their anchors.
    """

    def __init__(self, params: dict, summary: pd.DataFrame):
        missing = [c for c in ("member_id", *SUMMARY_COLUMNS) if c not in summary]
        if missing:
            raise DataError(f"the purchase summaries lack column(s) {missing}; retrain.")
        self.params = params
        self.validated, self.served, self.anchors = served_choice(params)
        self.mean_anchor = mean_anchor(params)
        scored = [f"{_COLUMN[task]}_{h}d" for task in CYCLE_MODELS for h in self.anchors[task]]
        if self.mean_anchor is not None:
            scored.append(f"mean_spend_{self.mean_anchor}d")
        absent = [c for c in scored if c not in summary]
        if absent:
            raise DataError(f"the purchase summaries lack the served column(s) {absent}; "
                            "the version is incomplete: retrain.")
        self.summary = summary.set_index(summary["member_id"].astype(str))[
            list(SUMMARY_COLUMNS) + scored]
        self._rows = {m: i for i, m in enumerate(self.summary.index.tolist())}

    def answered_by(self, days: int) -> dict:
        """:func:`answered_by` of this version."""
        return answered_by(self.params, days)

    def _answer(self, rows: pd.DataFrame, horizons) -> dict:
        """``{N: (churn risk, expected spend, mean spend)}`` of summary ``rows`` (all
        bought)."""
        needed = sorted(set(self.anchors["churn"]) | set(self.anchors["value"])
                        | ({self.mean_anchor} if self.mean_anchor is not None else set()))
        at_anchor = {h: predict_at_horizon(self.params, rows, h) for h in needed}
        monotone, curves = {}, {}  # per scored task: its anchors' values, BG/NBD's there
        for task, anchors in self.anchors.items():
            if anchors:
                values = rows[[f"{_COLUMN[task]}_{h}d" for h in anchors]].to_numpy(np.float64)
                sign = -1.0 if task == "churn" else 1.0  # risk falls with N, spend grows
                monotone[task] = sign * isotonic_rows(sign * values)
                curves[task] = np.column_stack([at_anchor[h][_COLUMN[task]].to_numpy()
                                                for h in anchors])
        out = {}
        for days in horizons:
            found = predict_at_horizon(self.params, rows, days)
            answer = [found["churn_risk"].to_numpy(), found["expected_spend"].to_numpy()]
            for i, task in enumerate(("churn", "value")):
                if task in monotone:
                    churn = task == "churn"
                    answer[i] = place_on_curve(days, self.anchors[task], monotone[task],
                                               curves[task], answer[i],
                                               cap=1.0 if churn else None,
                                               flat=1.0 if churn else None)
            answer.append(found["expected_spend"].to_numpy())  # BG/NBD + Gamma-Gamma's mean
            if self.mean_anchor is not None:  # the value model's mean at H, carried to N
                h = self.mean_anchor
                answer[2] = place_on_curve(
                    days, [h], rows[[f"mean_spend_{h}d"]].to_numpy(np.float64),
                    at_anchor[h][["expected_spend"]].to_numpy(), answer[2])
            out[days] = tuple(answer)
        return out

    def columns(self, member_ids, horizons) -> pd.DataFrame:
        """``churn_risk_<N>d``, ``expected_spend_<N>d`` and ``mean_spend_<N>d`` per horizon
        for ``member_ids``.

        Members without a purchase before ``as_of`` get NaN churn risk and 0 spend,
        as in the member table.
        """
        ids = pd.Index(np.asarray(member_ids).astype(str))
        rows = self.summary.reindex(ids)
        bought = rows["T"].notna().to_numpy()
        days = [check_horizon_days(d) for d in horizons]
        found = self._answer(rows[bought], days) if bought.any() else {}
        columns = {}
        for n in days:
            risk, spend, mean = np.full(len(ids), np.nan), np.zeros(len(ids)), np.zeros(len(ids))
            if n in found:
                risk[bought], spend[bought], mean[bought] = found[n]
            columns[f"churn_risk_{n}d"], columns[f"expected_spend_{n}d"] = risk, spend
            columns[f"mean_spend_{n}d"] = mean
        return pd.DataFrame(columns, index=ids)

    def member(self, member_id: str, days: int) -> dict | None:
        """``{"horizon_days", "churn_risk", "expected_spend", "mean_spend", "answered_by"}``
        of one member; None if unknown."""
        days = check_horizon_days(days)
        i = self._rows.get(str(member_id))
        if i is None:
            return None
        risk, spend, mean = self._answer(self.summary.iloc[[i]], [days])[days]
        return {"horizon_days": days, "churn_risk": float(risk[0]),
                "expected_spend": float(spend[0]), "mean_spend": float(mean[0]),
                "answered_by": self.answered_by(days)}


def isotonic_rows(values: np.ndarray) -> np.ndarray:
    """Each row's least-squares nondecreasing fit (isotonic regression, equal weights).

    By the min-max formula ``fit[j] = min over b >= j of max over a <= j of
    mean(values[a..b])``: exact, and cheap for the few columns of validated horizons.
    A row that is nondecreasing already is returned as it is.

    >>> isotonic_rows(np.array([[1.0, 3.0, 2.0], [1.0, 2.0, 3.0]])).tolist()
    [[1.0, 2.5, 2.5], [1.0, 2.0, 3.0]]
    """
    n, k = values.shape
    sums = np.concatenate([np.zeros((n, 1)), np.cumsum(values, axis=1)], axis=1)
    out = np.empty_like(values)
    for j in range(k):
        best = np.full(n, np.inf)
        for b in range(j, k):
            means = [(sums[:, b + 1] - sums[:, a]) / (b + 1 - a) for a in range(j + 1)]
            best = np.minimum(best, np.max(means, axis=0))
        out[:, j] = best
    ordered = (np.diff(values, axis=1) >= 0).all(axis=1)
    out[ordered] = values[ordered]  # exactly as given, not through the sums' rounding
    return out


def place_on_curve(days: int, anchors: list[int], values: np.ndarray, curve: np.ndarray,
                   at_days: np.ndarray, cap: float | None = None,
                   flat: float | None = None) -> np.ndarray:
    """The answer at ``days`` from the monotone ``values`` (n, k) at the ``anchors`` (days).

    ``curve`` (n, k) and ``at_days`` (n,): a monotone reference (BG/NBD's) at the anchors
    and at ``days``. Between two anchors, the answer moves from one value to the next by
    the share of the way the reference has moved (straight in days where it is flat);
    outside them, the nearest anchor's value is scaled by the reference's ratio (where
    that ratio is not finite: by ``flat``, or ``days`` over the anchor when None, as for
    spend; churn passes 1.0), then capped at ``cap``.
    """
    anchors = np.asarray(anchors)
    if days in anchors:
        return values[:, int(np.searchsorted(anchors, days))].copy()
    i = int(np.searchsorted(anchors, days))
    if i == 0 or i == len(anchors):
        j = 0 if i == 0 else len(anchors) - 1
        out = values[:, j] * _ratio(at_days, curve[:, j],
                                    days / anchors[j] if flat is None else flat)
        return out if cap is None else np.minimum(out, cap)
    lo, hi = curve[:, i - 1], curve[:, i]
    step = (days - anchors[i - 1]) / (anchors[i] - anchors[i - 1])
    moved = hi - lo
    ok = np.isfinite(moved) & (np.abs(moved) > 1e-12) & np.isfinite(at_days)
    share = np.where(ok, (at_days - lo) / np.where(ok, moved, 1.0), step)
    share = np.clip(share, 0.0, 1.0)
    return values[:, i - 1] + share * (values[:, i] - values[:, i - 1])


def _ratio(at_days: np.ndarray, at_anchor: np.ndarray, fallback: float) -> np.ndarray:
    """``at_days / at_anchor`` where the anchor's value is positive and finite, else ``fallback``."""
    ok = np.isfinite(at_anchor) & (at_anchor > 0) & np.isfinite(at_days)
    return np.where(ok, at_days / np.where(ok, at_anchor, 1.0), fallback)


def load_horizon_scorer(version: ArtifactVersion) -> HorizonScorer | None:
    """The version's :class:`HorizonScorer`; None when it has no purchase-cycle model."""
    if not version.has(f"{schema.HORIZON_MODEL}.json"):
        return None
    return HorizonScorer(version.load_json(schema.HORIZON_MODEL),
                         version.load_frame(schema.HORIZON_SUMMARY))


def no_horizon_reason(version: ArtifactVersion) -> str:
    """Why ``version`` cannot answer at other horizons (for error messages)."""
    found = (version.manifest.get("metrics") or {}).get("horizons") or {}
    why = found.get("reason") or "it was trained before horizons were added"
    return (f"version {version.version} has no purchase-cycle model ({why}); "
            "retrain with `offers train` on data with repeat buyers.")

"""Churn risk and expected spend at any horizon, read from a version's purchase-cycle models.

A version holds the BG/NBD and Gamma-Gamma parameters (``horizon_model.json``)
and each member's purchase summary as of the version's ``as_of``
(``horizon_summary.parquet``), both hash-checked like every file. The
:class:`HorizonScorer` built from them answers "no purchase in the next ``N``
days" and "spend in the next ``N`` days", counted from ``as_of``, for
``offers score --horizon-days`` and the profile's ``horizon_days``.

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


class HorizonScorer:
    """A version's BG/NBD + Gamma-Gamma and member summaries (see the module docstring).

    Parameters
    ----------
    params : dict
        ``horizon_model.json``.
    summary : pandas.DataFrame
        ``member_id`` and :data:`~models.lifecycle.bgnbd.SUMMARY_COLUMNS`.
    """

    def __init__(self, params: dict, summary: pd.DataFrame):
        missing = [c for c in ("member_id", *SUMMARY_COLUMNS) if c not in summary]
        if missing:
            raise DataError(f"the purchase summaries lack column(s) {missing}; retrain.")
        self.params = params
        self.summary = summary.set_index(summary["member_id"].astype(str))[list(SUMMARY_COLUMNS)]
        self._rows = {m: i for i, m in enumerate(self.summary.index.tolist())}

    def columns(self, member_ids, horizons) -> pd.DataFrame:
        """``churn_risk_<N>d`` and ``expected_spend_<N>d`` per horizon for ``member_ids``.

        Members without a purchase before ``as_of`` get NaN churn risk and 0 spend,
        as in the member table.
        """
        ids = pd.Index(np.asarray(member_ids).astype(str))
        rows = self.summary.reindex(ids)
        bought = rows["T"].notna().to_numpy()
        out = pd.DataFrame(index=ids)
        for days in horizons:
            days = check_horizon_days(days)
            risk, spend = np.full(len(ids), np.nan), np.zeros(len(ids))
            if bought.any():
                found = predict_at_horizon(self.params, rows[bought], days)
                risk[bought] = found["churn_risk"].to_numpy()
                spend[bought] = found["expected_spend"].to_numpy()
            out[f"churn_risk_{days}d"] = risk
            out[f"expected_spend_{days}d"] = spend
        return out

    def member(self, member_id: str, days: int) -> dict | None:
        """``{"horizon_days", "churn_risk", "expected_spend"}`` of one member; None if unknown."""
        days = check_horizon_days(days)
        i = self._rows.get(str(member_id))
        if i is None:
            return None
        found = predict_at_horizon(self.params, self.summary.iloc[[i]], days)
        return {"horizon_days": days, "churn_risk": float(found["churn_risk"].iloc[0]),
                "expected_spend": float(found["expected_spend"].iloc[0])}


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

"""The member table of a trained version as columns of numpy arrays, for per-request reads.

:class:`MemberTable` is built once from ``members.parquet`` (see
``training/pipeline.py``, ``_member_table``); afterwards a member is a row
number and every field a cheap array read: no DataFrame on the request path.
Strings with few values (segment, cluster label, tier, plan status) are held
as integer codes into small tuples of names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import DataError

logger = logging.getLogger(__name__)

#: Numeric member fields the engine reads; absent columns become all-NaN (unknown).
NUMERIC_FIELDS = (
    "r_score", "f_score", "m_score", "recency_days", "frequency", "monetary_total",
    "monetary_mean_basket", "tenure_days", "interpurchase_mean_days", "expected_days_to_next",
    "overdue_ratio", "points_balance", "days_to_next_birthday", "referrals", "offers_sent",
    "offers_redeemed", "churn_risk", "expected_spend", "clv", "p_redeem_base",
)  # fmt: skip
#: Categorical fields held as codes (-1: unknown).
CODED_FIELDS = ("segment", "cluster_label", "tier", "plan", "plan_status")
#: Text fields kept as object arrays (read only to build a profile or a reason).
TEXT_FIELDS = ("rfm_score", "top_category", "churn_reason_codes", "churn_reasons",
               "top_categories")
#: Consent fields: 1 opted in, 0 opted out, -1 unknown.
CONSENT_FIELDS = ("email_opt_in", "sms_opt_in", "push_opt_in")


@dataclass
class MemberTable:
    """Columns of the member table, one entry per member (row ``i`` is ``ids[i]``).

    Attributes
    ----------
    ids : ndarray of str, shape (n,)
    numeric : dict of str to ndarray of float64, shape (n,)
        :data:`NUMERIC_FIELDS`; NaN when unknown.
    codes : dict of str to ndarray of int32, shape (n,)
        :data:`CODED_FIELDS` as codes into ``names[field]``; -1 when unknown.
    names : dict of str to tuple of str
    text : dict of str to ndarray of object, shape (n,)
    consent : dict of str to ndarray of int8, shape (n,)
    cluster : ndarray of int64, shape (n,)
        Behavioural cluster id (-1 when unknown).
    """

    ids: np.ndarray
    numeric: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    names: dict[str, tuple[str, ...]]
    text: dict[str, np.ndarray]
    consent: dict[str, np.ndarray]
    cluster: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, field: str, row: int) -> str | None:
        """The value of coded ``field`` at ``row``, or None when unknown."""
        code = int(self.codes[field][row])
        return self.names[field][code] if code >= 0 else None

    def code_of(self, field: str, value: str) -> int:
        """The code of ``value`` in ``field`` (-2 when no member has it)."""
        try:
            return self.names[field].index(value)
        except ValueError:
            return -2

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> MemberTable:
        """Build from the ``members`` frame of an artifact version.

        Raises
        ------
        DataError
            If ``member_id`` is missing or repeated.
        """
        if "member_id" not in frame.columns:
            raise DataError("the member table has no member_id column; retrain the version.")
        ids = frame["member_id"].astype(str).to_numpy(dtype=str)
        if len(np.unique(ids)) != len(ids):
            raise DataError("the member table repeats member ids; retrain the version.")
        n = len(frame)
        numeric = {}
        for name in NUMERIC_FIELDS:
            if name in frame.columns:
                values = pd.to_numeric(frame[name], errors="coerce")
                numeric[name] = values.to_numpy(dtype="float64", na_value=np.nan)
            else:
                numeric[name] = np.full(n, np.nan)
        codes, names = {}, {}
        for name in CODED_FIELDS:
            column = frame[name] if name in frame.columns else pd.Series([None] * n)
            values = column.astype(object).where(column.notna(), None).to_numpy()
            known = np.array([v is not None and str(v) != "" for v in values], dtype=bool)
            uniques, inverse = np.unique(values[known].astype(str), return_inverse=True)
            code = np.full(n, -1, dtype=np.int32)
            code[known] = inverse
            codes[name], names[name] = code, tuple(str(u) for u in uniques)
        text = {
            name: (frame[name].astype(object).where(frame[name].notna(), "").to_numpy()
                   if name in frame.columns else np.full(n, "", dtype=object))
            for name in TEXT_FIELDS
        }
        consent = {name: _consent(frame[name] if name in frame.columns else None, n)
                   for name in CONSENT_FIELDS}
        cluster = (pd.to_numeric(frame["cluster"], errors="coerce").fillna(-1)
                   .to_numpy(dtype=np.int64) if "cluster" in frame.columns
                   else np.full(n, -1, dtype=np.int64))
        if np.isnan(numeric["p_redeem_base"]).all():
            logger.info("the member table has no p_redeem_base (trained before the offer engine); "
                        "every member counts as averagely responsive to offers")
        return cls(ids, numeric, codes, names, text, consent, cluster)


def _consent(column: pd.Series | None, n: int) -> np.ndarray:
    """Opt-in flags as int8: 1 yes, 0 an explicit no, -1 unknown."""
    out = np.full(n, -1, dtype=np.int8)
    if column is None:
        return out
    text = column.astype("string").str.strip().str.lower()
    out[text.isin(["true", "1", "yes"]).fillna(False).to_numpy(dtype=bool)] = 1
    out[text.isin(["false", "0", "no"]).fillna(False).to_numpy(dtype=bool)] = 0
    return out

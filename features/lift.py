"""Did the offers change behaviour? Treated vs held-out members, per campaign.

For each campaign of a data directory's ``offer_events`` (``campaign_id``, or
``offer_id`` when events have none), from its first send date ``d``:

- **treated**: members sent the campaign;
- **control**: the campaign's held-out members when known (the ``holdouts``
  files written by ``offers campaign``: a randomised comparison), otherwise
  members not sent the campaign who bought in the ``window_days`` before
  ``d`` (not randomised: read the difference as an association);
- over ``[d, d + window_days)``: redemption rate (treated members who
  redeemed it), spend per member, retention (share who bought at all), and
  the change in spend against the same-length window before ``d``
  (difference in differences, which removes stable differences between
  groups that were not chosen at random).

Differences come with normal-approximation (Welch) confidence intervals.
"""

from __future__ import annotations

import logging
from statistics import NormalDist

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import DataError

logger = logging.getLogger(__name__)

LIFT_COLUMNS = (
    "campaign_id", "send_date", "comparison", "treated", "control",
    "redemption_rate", "redemption_ci_low", "redemption_ci_high",
    "spend_treated", "spend_control", "spend_lift", "spend_lift_ci_low", "spend_lift_ci_high",
    "spend_change_lift", "spend_change_ci_low", "spend_change_ci_high",
    "retention_treated", "retention_control", "retention_lift", "retention_ci_low",
    "retention_ci_high",
)  # fmt: skip


def campaign_lift(dataset: Dataset, holdouts: pd.DataFrame | None = None, *,
                  window_days: float = 28.0, confidence: float = 0.95) -> pd.DataFrame:
    """One row per campaign: treated vs control (see the module docstring).

    Parameters
    ----------
    dataset : Dataset
        Transactions and offer events (:func:`features.loading.load_dataset`).
    holdouts : DataFrame, optional
        ``member_id, campaign_id`` of held-out members.
    window_days : float
        Length of the measurement window after (and the baseline window before) the send.
    confidence : float
        Level of the intervals.

    Returns
    -------
    DataFrame
        Columns :data:`LIFT_COLUMNS`, campaigns in order of send date.

    Raises
    ------
    DataError
        When there are no sends, or ``window_days``/``confidence`` are out of range.
    """
    if not window_days > 0:
        raise DataError(f"window_days={window_days} should be > 0.")
    if not 0 < confidence < 1:
        raise DataError(f"confidence={confidence} should be in (0, 1).")
    events = dataset.offer_events
    key = "campaign_id" if "campaign_id" in events.columns and \
        events["campaign_id"].notna().any() else "offer_id"
    events = events.assign(_campaign=events[key].astype(str))
    sent = events[events["event"] == "sent"]
    if sent.empty:
        raise DataError("the data has no 'sent' offer events; nothing to measure.")
    if holdouts is not None:
        missing = {"member_id", "campaign_id"} - set(holdouts.columns)
        if missing:
            raise DataError(f"the holdouts table lacks {sorted(missing)}; it needs member_id "
                            "and campaign_id (as written by `offers campaign`).")
        holdouts = holdouts.astype({"member_id": str, "campaign_id": str})
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    tx = dataset.transactions
    order = np.argsort(tx["timestamp"].to_numpy(), kind="stable")
    stamps = tx["timestamp"].to_numpy()[order]
    member_names = pd.Index(tx["member_id"].astype(str).unique())
    tx_member = member_names.get_indexer(tx["member_id"].astype(str).to_numpy()[order])
    amounts = tx["amount"].to_numpy(dtype=float)[order]
    window = np.timedelta64(int(window_days * 86_400), "s")
    redeemed = events[events["event"] == "redeemed"]
    rows = []
    starts = sent.groupby("_campaign", observed=True)["timestamp"].min().sort_values()
    for campaign, start in starts.items():
        start = np.datetime64(start, "s")
        treated_ids = pd.Index(sent.loc[sent["_campaign"] == campaign, "member_id"]
                               .astype(str).unique())
        treated = member_names.get_indexer(treated_ids)
        before = _spend(stamps, tx_member, amounts, start - window, start, len(member_names))
        after = _spend(stamps, tx_member, amounts, start, start + window, len(member_names))
        if holdouts is not None and (holdouts["campaign_id"] == campaign).any():
            ids = holdouts.loc[holdouts["campaign_id"] == campaign, "member_id"].unique()
            control, comparison = member_names.get_indexer(ids), "randomised holdout"
        else:
            active = np.flatnonzero(before[1] > 0)
            control = np.setdiff1d(active, treated[treated >= 0])
            comparison = "not sent, active before (not randomised)"
        who = set(redeemed.loc[redeemed["_campaign"] == campaign, "member_id"].astype(str))
        rate = np.array([m in who for m in treated_ids], dtype=float)
        rows.append(_compare(campaign, start, comparison, treated, control, rate, before,
                             after, z))
    return pd.DataFrame(rows, columns=list(LIFT_COLUMNS))


def _spend(stamps, member, amounts, start, stop, n) -> tuple[np.ndarray, np.ndarray]:
    """Per member: spend and purchase lines in ``[start, stop)``."""
    lo, hi = np.searchsorted(stamps, [start, stop], side="left")
    seg = slice(int(lo), int(hi))
    ok = member[seg] >= 0
    spend = np.bincount(member[seg][ok], weights=amounts[seg][ok], minlength=n)
    lines = np.bincount(member[seg][ok], minlength=n)
    return spend, lines


def _values(index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` at ``index``; members without purchases at all (-1) count as 0."""
    return np.where(index >= 0, values[np.maximum(index, 0)], 0.0)


def _diff(a: np.ndarray, b: np.ndarray, z: float) -> tuple[float, float, float]:
    if len(a) == 0 or len(b) == 0:
        return np.nan, np.nan, np.nan
    d = float(a.mean() - b.mean())
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))) \
        if len(a) > 1 and len(b) > 1 else np.nan
    return d, d - z * se, d + z * se


def _compare(campaign, start, comparison, treated, control, rate, before, after, z) -> list:
    spend_t, spend_c = _values(treated, after[0]), _values(control, after[0])
    change_t = spend_t - _values(treated, before[0])
    change_c = spend_c - _values(control, before[0])
    kept_t = (_values(treated, after[1]) > 0).astype(float)
    kept_c = (_values(control, after[1]) > 0).astype(float)
    p = float(rate.mean()) if len(rate) else np.nan
    half = z * np.sqrt(p * (1 - p) / len(rate)) if len(rate) else np.nan
    return [
        campaign, str(start.astype("datetime64[D]")), comparison, len(treated), len(control),
        p, max(p - half, 0.0), min(p + half, 1.0),
        float(spend_t.mean()) if len(spend_t) else np.nan,
        float(spend_c.mean()) if len(spend_c) else np.nan, *_diff(spend_t, spend_c, z),
        *_diff(change_t, change_c, z),
        float(kept_t.mean()) if len(kept_t) else np.nan,
        float(kept_c.mean()) if len(kept_c) else np.nan, *_diff(kept_t, kept_c, z),
    ]

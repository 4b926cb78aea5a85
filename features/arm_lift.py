"""Per-arm results of an A/B test from the decision log (``offers lift --arms``).

The unit is the member (arms are assigned per member by a stable hash): a
member belongs to the arm of their decisions and counts as a redeemer when
they redeemed any offer within ``window_days`` of their first decision in the
test. Per arm: members, redeemers, the redemption rate with a Wilson interval;
against the reference arm (the first by name, or ``reference``): the
difference in rate with a normal interval. Members logged in more than one arm
(a log spanning two tests) are left out and counted.
"""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from features.errors import DataError
from features.files import read_decision_log

ARM_COLUMNS = ("arm", "members", "redeemers", "redemption_rate", "ci_low", "ci_high",
               "reference", "diff", "diff_ci_low", "diff_ci_high")


def read_arm_log(path: str | Path) -> pd.DataFrame:
    """A decision log (``offers events export --decisions``) with its ``arm`` column."""
    return read_decision_log(path, ("member_id", "arm", "decided_at"), dtype=str,
                             keep_default_na=False)


def arm_lift(decisions: pd.DataFrame, offer_events: pd.DataFrame, *, window_days: float = 28.0,
             confidence: float = 0.95, reference: str | None = None) -> tuple[pd.DataFrame, int]:
    """One row per arm (:data:`ARM_COLUMNS`) and the number of members left out.

    Raises
    ------
    DataError
        When no decision has an arm (no A/B test was running), fewer than two
        arms, an unknown ``reference``, or bad ``window_days``/``confidence``.
    """
    if not window_days > 0:
        raise DataError(f"window_days={window_days} should be > 0.")
    if not 0 < confidence < 1:
        raise DataError(f"confidence={confidence} should be in (0, 1).")
    arm = decisions["arm"].astype("string").str.strip()
    logged = pd.DataFrame({"member_id": decisions["member_id"].astype(str).to_numpy(),
                           "arm": arm.to_numpy(),
                           "at": _naive_utc(decisions["decided_at"])})
    logged = logged[logged["arm"].notna() & (logged["arm"] != "")]
    if logged.empty:
        raise DataError("no logged decision has an arm: configure [ab_test] in the serving "
                        "config and export the decision log again.")
    n_arms = logged.groupby("member_id")["arm"].nunique()
    mixed = set(n_arms[n_arms > 1].index)
    logged = logged[~logged["member_id"].isin(mixed)]
    first = logged.groupby("member_id").agg(arm=("arm", "first"), at=("at", "min")).reset_index()
    arms = sorted(first["arm"].unique())
    if len(arms) < 2:
        raise DataError(f"only one arm ({', '.join(arms)}) in the log: nothing to compare.")
    reference = arms[0] if reference is None else reference
    if reference not in arms:
        raise DataError(f"reference arm {reference!r} is not in the log; arms: "
                        f"{', '.join(arms)}.")
    red = offer_events[offer_events["event"].astype(str) == "redeemed"]
    red = pd.DataFrame({"member_id": red["member_id"].astype(str).to_numpy(),
                        "ts": _naive_utc(red["timestamp"])})
    joined = first.merge(red, on="member_id", how="inner")
    delta = joined["ts"] - joined["at"]
    hit = set(joined.loc[(delta >= pd.Timedelta(0)) &
                         (delta <= pd.Timedelta(days=window_days)), "member_id"])
    first["y"] = first["member_id"].isin(hit).astype(float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    ref = first.loc[first["arm"] == reference, "y"].to_numpy()
    rows = []
    for name in arms:
        y = first.loc[first["arm"] == name, "y"].to_numpy()
        low, high = _wilson(y.sum(), len(y), z)
        d = float(y.mean() - ref.mean())
        se = float(np.sqrt(y.var() / len(y) + ref.var() / len(ref)))
        rows.append((name, len(y), int(y.sum()), float(y.mean()), low, high, reference,
                     d, d - z * se, d + z * se))
    return pd.DataFrame(rows, columns=list(ARM_COLUMNS)), len(mixed)


def _wilson(k: float, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def _naive_utc(values) -> np.ndarray:
    return pd.to_datetime(pd.Series(values).astype(str), utc=True,
                          format="mixed").dt.tz_localize(None).to_numpy()

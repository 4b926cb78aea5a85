"""Member profile and offer-history features.

Pure functions of the canonical ``members`` and ``offer_events`` tables and an
explicit cutoff; :func:`features.member_features.build_member_features` joins
them with the purchase features. The columns are documented there.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.bands import band_numbers
from features.code_groups import (
    NAT,
    NS_PER_DAY,
    group_max,
    positions,
    safe_divide,
    timestamps_ns,
)
from features.errors import DataError

logger = logging.getLogger(__name__)

#: Columns copied from ``members`` with their dtype when the column is absent.
PROFILE_COPIED = {
    "tier": "str",
    "points_balance": "float64",
    "plan": "str",
    "plan_status": "str",
    "email_opt_in": "boolean",
    "sms_opt_in": "boolean",
    "push_opt_in": "boolean",
    "referrals": "float64",
    "age": "float64",
    "income": "float64",
    "household_size": "float64",
    "kids_count": "float64",
}
#: Who the member is, from the members file, as numbers (bands read by the loader,
#: :mod:`features.bands`): features of the churn, value and offer-response models. On the
#: Complete Journey (801 of 2,469 households have them) they lift the planned-send
#: ROC-AUC from 0.8199 to 0.8243 (bench/RESULTS.md). A shop that must not use them leaves
#: them out of its members file.
ATTRIBUTE_COLUMNS = ("age", "income", "household_size", "kids_count")
#: Columns the members file holds as they are today, not as of a past cutoff. The churn,
#: value, offer-response and uplift models do not learn from them: in a window that ends
#: before today, today's points balance counts the very spend the window's label is about
#: (the synthetic generator's balance is a share of all the member's spend), so a model
#: would learn a relation that does not hold when it scores today's members. The engine
#: reads them to serve (tiers, messages).
CURRENT_ONLY = ("points_balance", "referrals")
PROFILE_COLUMNS = (
    "tier", "points_balance", "plan", "plan_status", "email_opt_in", "sms_opt_in",
    "push_opt_in", "days_to_next_birthday", "referrals", *ATTRIBUTE_COLUMNS,
)  # fmt: skip
OFFER_COLUMNS = ("offers_sent", "offers_redeemed", "redemption_rate", "days_since_last_redemption")


def profile_features(members: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Profile columns of every row of ``members``, in its order.

    Parameters
    ----------
    members : DataFrame
        Canonical members; every column but ``member_id`` is optional.
    cutoff : Timestamp
        Naive UTC cutoff (:func:`features.code_groups.to_cutoff`).

    Returns
    -------
    DataFrame, shape (n_members, 13)
        Indexed by ``member_id``; columns :data:`PROFILE_COLUMNS`. The copied
        columns keep their dtype (or the canonical one, all missing, when
        ``members`` lacks them).
    """
    index = pd.Index(members["member_id"], dtype="str", name="member_id")
    cols = {}
    for name in PROFILE_COLUMNS:
        if name == "days_to_next_birthday":
            birthday = members["birthday"] if "birthday" in members else None
            cols[name] = days_to_next_birthday(birthday, cutoff, len(members))
        elif name in ATTRIBUTE_COLUMNS and name in members:  # bands as the loader reads them
            cols[name] = band_numbers(members[name])[0]
        elif name in members:
            cols[name] = members[name].array
        else:
            cols[name] = pd.Series([None] * len(members), dtype=PROFILE_COPIED[name]).array
    return pd.DataFrame(cols, index=index)


def days_to_next_birthday(
    birthday: pd.Series | None, cutoff: pd.Timestamp, n: int | None = None
) -> np.ndarray:
    """Days from the cutoff's date to each member's next birthday (0 on the day).

    A Feb 29 birthday falls on Feb 28 in years that are not leap years. Values
    are 0..365; NaN where the birthday is unknown.

    >>> bday = pd.Series(pd.to_datetime(["2000-02-29", "1990-03-01", "1985-12-31"]))
    >>> days_to_next_birthday(bday, pd.Timestamp("2023-03-01")).tolist()
    [365.0, 0.0, 305.0]
    """
    if birthday is None:
        return np.full(n or 0, np.nan)
    ns = timestamps_ns(birthday, "birthday")
    known = ns != NAT
    day = ns.astype("datetime64[ns]").astype("datetime64[D]")
    month_start = day.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12  # 0-based
    dom = (day - month_start.astype("datetime64[D]")).astype(np.int64)  # 0-based
    today = np.datetime64(cutoff.normalize().date(), "D")

    def occurrence(year: int) -> np.ndarray:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        d = dom if leap else np.where((month == 1) & (dom == 28), 27, dom)
        start = np.datetime64(f"{year:04d}-01", "M") + month
        return start.astype("datetime64[D]") + d

    this = occurrence(cutoff.year)
    nxt = np.where(this >= today, this, occurrence(cutoff.year + 1))
    days = (nxt - today).astype(np.int64).astype(np.float64)
    return np.where(known, days, np.nan)


def offer_history_features(
    offer_events: pd.DataFrame | None, index: pd.Index, cutoff: pd.Timestamp
) -> pd.DataFrame:
    """Offers sent and redeemed before the cutoff, per member of ``index``.

    Parameters
    ----------
    offer_events : DataFrame or None
        Canonical offer events; None or empty means no history.
    index : Index
        The members to report on (events of other members are ignored).
    cutoff : Timestamp
        Only events strictly before it count.

    Returns
    -------
    DataFrame, shape (len(index), 4)
        Columns :data:`OFFER_COLUMNS`, aligned with ``index``.
    """
    n = len(index)
    sent = np.zeros(n)
    redeemed = np.zeros(n)
    last = np.full(n, NAT, dtype=np.int64)
    if offer_events is not None and len(offer_events):
        missing = {"member_id", "event", "timestamp"} - set(offer_events.columns)
        if missing:
            raise DataError(f"offer_events lack column(s) {sorted(missing)}; they are required.")
        ts = timestamps_ns(offer_events["timestamp"])
        is_redeem = (offer_events["event"] == "redeemed").to_numpy(dtype=bool, na_value=False)
        is_sent = (offer_events["event"] == "sent").to_numpy(dtype=bool, na_value=False)
        keep = (ts < cutoff.value) & (ts != NAT) & (is_sent | is_redeem)
        who = positions(offer_events["member_id"][keep], index)
        mine = who >= 0
        who, ts, is_redeem = who[mine], ts[keep][mine], is_redeem[keep][mine]
        sent = np.bincount(who[~is_redeem], minlength=n).astype(np.float64)
        redeemed = np.bincount(who[is_redeem], minlength=n).astype(np.float64)
        last = group_max(who[is_redeem], n, ts[is_redeem])
    return _offer_frame(sent, redeemed, last, index, cutoff)


def offer_history_from_counts(
    counts: pd.DataFrame, index: pd.Index, cutoff: pd.Timestamp
) -> pd.DataFrame:
    """:func:`offer_history_features` from per-member counts an engine computed.

    ``counts`` is indexed by member id with ``sent``, ``redeemed`` (events before
    the cutoff) and ``last_redeemed_ns`` (NaT as :data:`NAT`); members of ``index``
    it lacks have no history.
    """
    rows = counts.reindex(index)
    last = rows["last_redeemed_ns"].astype("Int64").to_numpy(dtype=np.int64, na_value=NAT)
    return _offer_frame(
        rows["sent"].to_numpy(dtype=np.float64, na_value=0.0),
        rows["redeemed"].to_numpy(dtype=np.float64, na_value=0.0),
        last, index, cutoff,
    )


def _offer_frame(sent, redeemed, last, index: pd.Index, cutoff: pd.Timestamp) -> pd.DataFrame:
    since = np.where(last != NAT, (cutoff.value - last) / NS_PER_DAY, np.nan)
    return pd.DataFrame(
        {
            "offers_sent": sent,
            "offers_redeemed": redeemed,
            "redemption_rate": safe_divide(redeemed, sent),
            "days_since_last_redemption": since,
        },
        index=index,
    )

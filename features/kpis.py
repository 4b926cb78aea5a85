"""Loyalty-program KPIs per calendar period: retention, churn, activity, sales, offers.

:func:`program_kpis` turns a :class:`~features.dataset.Dataset` into one row
per calendar month, quarter or year covered by the transactions. The exact
definition of every figure is in ``docs/kpis.md``; the short form:

- a member *is a member since* ``joined_at`` when the members table knows it,
  else since their first purchase;
- *active* in a period means at least one purchase in it;
- periods are half-open ``[start, end)``; the first and last may be partial.

Rates are percentages (0 to 100) and are NaN when their denominator is zero.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: Accepted ``period`` values and the pandas period frequency of each.
PERIODS: dict[str, str] = {"month": "M", "quarter": "Q", "year": "Y"}

#: Length of the window of :func:`program_kpis`'s ``active_90d`` column.
ACTIVE_WINDOW = pd.Timedelta(days=90)

#: Output columns of :func:`program_kpis`, in order.
KPI_COLUMNS: tuple[str, ...] = (
    "period",
    "start",
    "end",
    "partial",
    "members_at_start",
    "active_members",
    "new_members",
    "retained_members",
    "retention_rate",
    "churn_rate",
    "repeat_purchase_rate",
    "active_90d",
    "baskets",
    "revenue",
    "average_order_value",
    "purchase_frequency",
    "offers_sent",
    "offers_redeemed",
    "offer_redemption_rate",
)

_TX_COLUMNS = ("member_id", "timestamp", "amount", "basket_id")


def program_kpis(dataset: Dataset, period: str = "month") -> pd.DataFrame:
    """Compute the program KPIs for every calendar period the transactions cover.

    Parameters
    ----------
    dataset : Dataset
        A loaded data directory in canonical form (see :mod:`features.dataset`).
    period : {"month", "quarter", "year"}
        Calendar period of one row.

    Returns
    -------
    pandas.DataFrame
        One row per period, oldest first, shape ``(n_periods, 19)``, with the
        columns of :data:`KPI_COLUMNS`:

        - ``period`` (str, e.g. ``"2024-01"``, ``"2024Q1"``, ``"2024"``),
          ``start`` and ``end`` (datetime64, ``end`` exclusive), ``partial``
          (bool: the transactions do not cover the whole period);
        - counts (int64): ``members_at_start``, ``active_members``,
          ``new_members``, ``retained_members``, ``active_90d``, ``baskets``,
          ``offers_sent``, ``offers_redeemed``;
        - percentages (float64, NaN when undefined): ``retention_rate``,
          ``churn_rate``, ``repeat_purchase_rate``, ``offer_redemption_rate``;
        - ``revenue``, ``average_order_value``, ``purchase_frequency`` (float64).

    Raises
    ------
    ConfigError
        ``period`` is not one of :data:`PERIODS`.
    DataError
        The transactions are empty or lack a needed column.

    Examples
    --------
    >>> import pandas as pd
    >>> from features.dataset import Dataset
    >>> tx = pd.DataFrame({
    ...     "member_id": pd.Categorical(["a", "a", "b"]),
    ...     "timestamp": pd.to_datetime(["2024-01-03", "2024-02-05", "2024-02-07"]),
    ...     "amount": [10.0, 20.0, 30.0],
    ...     "basket_id": [0, 1, 2],
    ... })
    >>> members = pd.DataFrame({"member_id": ["a", "b"], "joined_at": pd.NaT})
    >>> ds = Dataset(tx, pd.DataFrame(), members, pd.DataFrame())
    >>> program_kpis(ds)[["period", "members_at_start", "retention_rate", "revenue"]]
        period  members_at_start  retention_rate  revenue
    0  2024-01                 0             NaN     10.0
    1  2024-02                 1           100.0     50.0
    """
    freq = _check_period(period)
    tx = _check_transactions(dataset.transactions)
    times = tx["timestamp"].to_numpy()
    first, last = tx["timestamp"].min(), tx["timestamp"].max()

    periods = pd.period_range(first.to_period(freq), last.to_period(freq), freq=freq)
    starts = periods.start_time.to_numpy()
    ends = (periods + 1).start_time.to_numpy()
    n_periods = len(periods)
    # Position of each transaction's period in ``periods``.
    where = np.searchsorted(starts, times, side="right") - 1

    out = pd.DataFrame({"period": [str(p) for p in periods], "start": starts, "end": ends})
    out["partial"] = (starts < first.normalize().to_datetime64()) | (
        ends - np.timedelta64(1, "D") > last.normalize().to_datetime64()
    )

    # Membership: since joined_at when known, else since the first purchase.
    member_ids = tx["member_id"].cat.categories
    codes = tx["member_id"].cat.codes.to_numpy().astype("int64")
    since = _member_since(tx, dataset.members)
    since_sorted = np.sort(since.to_numpy())
    at_start = np.searchsorted(since_sorted, starts, side="left")
    at_end = np.searchsorted(since_sorted, ends, side="left")
    out["members_at_start"] = at_start.astype("int64")
    out["new_members"] = (at_end - at_start).astype("int64")

    # Activity: one entry per (period, active member) with their distinct baskets.
    pairs, baskets = _distinct_baskets(where.astype("int64") * len(member_ids) + codes,
                                       tx["basket_id"])
    pair_period = pairs // len(member_ids)
    pair_member = pairs % len(member_ids)
    since_of = since.reindex(member_ids).to_numpy()[pair_member]
    retained = since_of < starts[pair_period]  # active members always have a since
    out["active_members"] = _count(pair_period, n_periods)
    out["retained_members"] = _count(pair_period[retained], n_periods)
    out["baskets"] = _count(pair_period, n_periods, weights=baskets)
    repeat_members = _count(pair_period[baskets >= 2], n_periods)

    out["retention_rate"] = _percent(out["retained_members"], out["members_at_start"])
    out["churn_rate"] = 100.0 - out["retention_rate"]
    out["repeat_purchase_rate"] = _percent(pd.Series(repeat_members), out["active_members"])
    out["active_90d"] = _active_in_window(times, codes, len(member_ids), ends)

    amounts = tx["amount"].to_numpy(dtype="float64")
    out["revenue"] = np.bincount(where, weights=amounts, minlength=n_periods)
    out["average_order_value"] = _ratio(out["revenue"], out["baskets"])
    out["purchase_frequency"] = _ratio(out["baskets"], out["active_members"])

    sent, redeemed = _offer_counts(dataset.offer_events, starts, ends)
    out["offers_sent"] = sent
    out["offers_redeemed"] = redeemed
    out["offer_redemption_rate"] = _percent(out["offers_redeemed"], out["offers_sent"])

    out = out[list(KPI_COLUMNS)]
    logger.info(
        "Computed KPIs for %d %s period(s) from %s to %s",
        len(out), period, out["period"].iloc[0], out["period"].iloc[-1],
    )
    return out


def _check_period(period: str) -> str:
    if not isinstance(period, str) or period not in PERIODS:
        raise ConfigError(
            f"period={period!r} is not supported; use one of {', '.join(PERIODS)}."
        )
    return PERIODS[period]


def _check_transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    """The needed columns, with ``member_id`` a categorical of ``str`` ids."""
    missing = [c for c in _TX_COLUMNS if c not in transactions.columns]
    if missing:
        raise DataError(
            f"transactions lack column(s) {', '.join(missing)} needed for the KPIs; "
            "load the data directory with features.loading.load_dataset."
        )
    if len(transactions) == 0:
        raise DataError("transactions are empty: there is no period to compute KPIs for.")
    if not pd.api.types.is_datetime64_any_dtype(transactions["timestamp"]):
        raise DataError(
            f"transactions.timestamp has dtype {transactions['timestamp'].dtype}, "
            "expected datetime64; load the data directory with features.loading.load_dataset."
        )
    if transactions["timestamp"].isna().any() or transactions["member_id"].isna().any():
        raise DataError(
            "transactions have missing member_id or timestamp values; "
            "load the data directory with features.loading.load_dataset."
        )
    tx = transactions.loc[:, list(_TX_COLUMNS)]  # copy-on-write: no copy of the columns
    member = tx["member_id"].astype("category")
    tx["member_id"] = member.cat.rename_categories(member.cat.categories.astype(str))
    return tx


def _member_since(tx: pd.DataFrame, members: pd.DataFrame | None) -> pd.Series:
    """Membership start per member id: ``joined_at`` when known, else first purchase.

    Assumes checked transactions. Members with neither are left out.
    """
    since = tx.groupby("member_id", observed=True, sort=False)["timestamp"].min()
    since.index = since.index.astype(str)
    if members is not None and "joined_at" in members.columns and len(members):
        joined = members.set_index(members["member_id"].astype(str))["joined_at"].dropna()
        joined = joined[~joined.index.duplicated(keep="first")]
        since = joined.combine_first(since)
    return since.rename("since")


def _active_in_window(
    times: np.ndarray, codes: np.ndarray, n_members: int, ends: np.ndarray
) -> np.ndarray:
    """Distinct members with a purchase in ``[end - 90 days, end)`` for each end.

    One masked pass over the lines per period: no sorted copy of the lines
    (which, at 100M lines, cost more memory than the rest of the KPIs).
    """
    counts = []
    window = ACTIVE_WINDOW.to_timedelta64()
    for end in ends:
        inside = (times >= end - window) & (times < end)
        seen = np.zeros(n_members, dtype=bool)
        seen[codes[inside]] = True
        counts.append(int(seen.sum()))
    return np.array(counts, dtype="int64")


def _distinct_baskets(pairs: np.ndarray, basket_id: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (period, member) pairs of the lines, and each one's distinct baskets.

    One sort of a 64-bit key (pair, basket) instead of a frame's
    ``drop_duplicates``, whose hash tables needed several GiB at 100M lines.
    Basket ids that do not fit beside the pair are numbered first; if even
    that does not fit, the frame's ``drop_duplicates`` does the work.
    """
    if isinstance(basket_id.dtype, pd.CategoricalDtype):
        basket = basket_id.cat.codes.to_numpy().astype("int64")
    else:
        basket = basket_id.to_numpy()
    pair_bits = int(pairs.max()).bit_length()
    if basket.dtype.kind not in "iu" or basket.min() < 0 or (
        int(basket.max()).bit_length() + pair_bits > 62
    ):
        basket = pd.factorize(basket_id)[0].astype("int64")
    bits = int(basket.max()).bit_length()
    if bits + pair_bits > 62:
        counts = (pd.DataFrame({"pair": pairs, "basket": basket}).drop_duplicates()["pair"]
                  .value_counts(sort=True).sort_index())
        return counts.index.to_numpy(), counts.to_numpy()
    keys = np.unique((pairs << bits) | basket.astype("int64"))
    pair_of_key = keys >> bits
    starts = np.flatnonzero(np.r_[True, pair_of_key[1:] != pair_of_key[:-1]])
    counts = np.diff(np.r_[starts, pair_of_key.size])
    return pair_of_key[starts], counts


def _offer_counts(
    events: pd.DataFrame | None, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sent and redeemed event counts per period ``[start, end)``, by event timestamp."""
    if events is None or len(events) == 0:
        return np.zeros(len(starts), dtype="int64"), np.zeros(len(starts), dtype="int64")
    missing = [c for c in ("event", "timestamp") if c not in events.columns]
    if missing:
        raise DataError(f"offer_events lack column(s) {', '.join(missing)} needed for the KPIs.")
    times = events["timestamp"]
    inside = times.notna() & (times >= starts[0]) & (times < ends[-1])
    where = np.searchsorted(starts, times[inside].to_numpy(), side="right") - 1
    event = events.loc[inside, "event"]
    sent = event.isin(["sent"]).to_numpy(dtype=bool)
    redeemed = event.isin(["redeemed"]).to_numpy(dtype=bool)
    return _count(where[sent], len(starts)), _count(where[redeemed], len(starts))


def _count(positions: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    """How many (or the summed ``weights``) of ``positions`` fall on each of ``0..n-1``."""
    counts = np.bincount(positions, weights=weights, minlength=n)
    return np.rint(counts).astype("int64") if weights is not None else counts.astype("int64")


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    num = numerator.astype("float64")
    den = denominator.astype("float64")
    return (num / den).where(den > 0)


def _percent(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return _ratio(numerator, denominator) * 100.0

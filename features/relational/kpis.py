"""Program KPIs with the per-line work on the engine: :func:`features.kpis.program_kpis`'s table.

Lines are reduced inside the engine to one row per (period, active member)
(distinct baskets), one per (member, purchase day) for the 90-day activity, and
one per period (revenue); only those and one row per member (the first
purchase) come into pandas or are joined back on the engine. The definitions
are those of ``docs/kpis.md``; the pandas function stays the oracle of the
parity tests.

Calendar periods are computed with integer arithmetic on the days since the
epoch (:func:`month_index`), not with the engine's timestamp functions, whose
results depend on the session's time zone (DuckDB's ``to_timestamp``) or
which a backend lacks (PySpark has no millisecond ``from_unixtime``).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from features.errors import DataError
from features.kpis import ACTIVE_WINDOW, KPI_COLUMNS, _check_period, _percent, _ratio
from features.kpis import _offer_counts as _frame_offer_counts
from features.relational.portable import (
    line_count,
    materialize,
    register_frame,
    release,
    slices,
    to_frame,
)
from features.relational.purchases import US_PER_DAY

_DAYS_0000_03_01 = 719_468  # days from 0000-03-01 to 1970-01-01 (proleptic Gregorian)
#: Lines per query of the basket counts and of the 90-day activity, each query a slice of
#: the members. Under DuckDB's 1 GB at 3M synthetic members (300M lines): one query of
#: each failed; three slices of the baskets ran (bench/RESULTS.md).
LINES_PER_PASS = 110_000_000
#: Periods after its own that a period's last purchase can keep a member active in: the
#: 90-day window never reaches back past three whole months (three months are 89-92 days).
_REACH = 4


def month_index(ts_us):
    """``year * 12 + month - 1`` of microseconds since the epoch (an Ibis integer column).

    Howard Hinnant's ``civil_from_days`` in integer arithmetic, valid from
    0000-03-01 on: the same answer on every backend and in every time zone.
    """
    z = ts_us // US_PER_DAY + _DAYS_0000_03_01
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153  # March = 0
    month0 = ibis.ifelse(mp < 10, mp + 2, mp - 10)  # January = 0
    year = yoe + era * 400 + ibis.ifelse(month0 <= 1, 1, 0)
    return year * 12 + month0


def program_kpis(lines, members: pd.DataFrame | None = None, offer_events=None,
                 period: str = "month") -> pd.DataFrame:
    """The table of :func:`features.kpis.program_kpis`, lines on the engine.

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (:mod:`features.relational.tables`): ``member_id``,
        ``ts_us``, ``basket_id``, ``amount``; or their
        :func:`~features.relational.purchases.basket_rows` (the same table, faster).
    members : DataFrame, optional
        The canonical members table (``member_id``, ``joined_at``).
    offer_events : Ibis table or DataFrame, optional
        Canonical offer events: on the engine (``event``, ``ts_us``) or the
        canonical frame (``event``, ``timestamp``).
    period : {"month", "quarter", "year"}

    Raises
    ------
    ConfigError
        ``period`` is not one of :data:`features.kpis.PERIODS`.
    DataError
        The lines are empty.
    """
    freq = _check_period(period)
    per_months = {"M": 1, "Q": 3, "Y": 12}[freq]
    span = to_frame(lines.aggregate(first=lines.ts_us.min(), last=lines.ts_us.max(),
                                    n=line_count(lines)))
    n_lines = int(span["n"].iloc[0])
    if n_lines == 0:
        raise DataError("transactions are empty: there is no period to compute KPIs for.")
    first = pd.Timestamp(int(span["first"].iloc[0]), unit="us")
    last = pd.Timestamp(int(span["last"].iloc[0]), unit="us")
    periods = pd.period_range(first.to_period(freq), last.to_period(freq), freq=freq)
    starts = periods.start_time.to_numpy()
    ends = (periods + 1).start_time.to_numpy()
    n_periods = len(periods)
    base = (first.year * 12 + first.month - 1) // per_months

    out = pd.DataFrame({"period": [str(p) for p in periods], "start": starts, "end": ends})
    out["partial"] = (starts < first.normalize().to_datetime64()) | (
        ends - np.timedelta64(1, "D") > last.normalize().to_datetime64()
    )

    con = ibis.get_backend(lines)
    since = _member_since(lines, members)
    since_sorted = np.sort(since["since_us"].to_numpy())
    starts_us, ends_us = _us(starts), _us(ends)
    at_start = np.searchsorted(since_sorted, starts_us, side="left")
    out["members_at_start"] = at_start.astype("int64")
    out["new_members"] = (np.searchsorted(since_sorted, ends_us, side="left")
                          - at_start).astype("int64")

    since_t = register_frame(con, "kpi_member_since", since)
    bounds = register_frame(con, "kpi_periods", pd.DataFrame(
        {"p": np.arange(n_periods, dtype="int64"), "start_us": starts_us, "end_us": ends_us}))
    # Counts of distinct members, baskets and days summed over disjoint slices of the
    # members are exact, and each slice's DISTINCT fits the engine's memory (at 3M members
    # and 300M lines the one-pass queries failed under DuckDB's 1 GB).
    # Each slice's lines are read once, into one row per (period, member), which both
    # the activity and the 90-day window count from (two scans of every line before).
    activity, active = [], []
    for part in slices(lines, "member_id", n_lines, LINES_PER_PASS, keys=since["member_id"]):
        rows = _member_periods(part, base, per_months)
        try:
            activity.append(_activity(rows, since_t, bounds))
            active.append(_active_in_window(rows, bounds))
        finally:
            release(con, rows.get_name())
    activity = _summed(activity)

    for name in ("active_members", "retained_members", "baskets"):
        out[name] = _by_period(activity, name, n_periods).astype("int64")
    repeat_members = _by_period(activity, "repeat_members", n_periods)
    out["retention_rate"] = _percent(out["retained_members"], out["members_at_start"])
    out["churn_rate"] = 100.0 - out["retention_rate"]
    out["repeat_purchase_rate"] = _percent(pd.Series(repeat_members), out["active_members"])
    out["active_90d"] = _by_period(_summed(active), "n", n_periods).astype("int64")
    out["revenue"] = _by_period(activity, "revenue", n_periods, dtype="float64")
    out["average_order_value"] = _ratio(out["revenue"], out["baskets"])
    out["purchase_frequency"] = _ratio(out["baskets"], out["active_members"])
    if isinstance(offer_events, pd.DataFrame):
        out["offers_sent"], out["offers_redeemed"] = _frame_offer_counts(offer_events, starts,
                                                                         ends)
    else:
        out["offers_sent"], out["offers_redeemed"] = _offer_counts(
            offer_events, starts_us[0], ends_us[-1], base, per_months, n_periods)
    out["offer_redemption_rate"] = _percent(out["offers_redeemed"], out["offers_sent"])
    return out[list(KPI_COLUMNS)]




def _us(times: np.ndarray) -> np.ndarray:
    return times.astype("datetime64[us]").astype("int64")


def _member_since(lines, members: pd.DataFrame | None) -> pd.DataFrame:
    """``member_id``, ``since_us``: ``joined_at`` when known, else the first purchase."""
    firsts = to_frame(lines.group_by("member_id").aggregate(since_us=lines.ts_us.min()))
    since = pd.Series(firsts["since_us"].to_numpy(dtype="int64"),
                      index=firsts["member_id"].astype(str))
    if members is not None and "joined_at" in members.columns and len(members):
        joined = members.set_index(members["member_id"].astype(str))["joined_at"].dropna()
        joined = joined[~joined.index.duplicated(keep="first")]
        joined_us = pd.Series(_us(joined.to_numpy()), index=joined.index)
        since = joined_us.combine_first(since)
    return pd.DataFrame({"member_id": since.index.astype(str),
                         "since_us": since.to_numpy(dtype="int64")})


def _summed(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-period counts of disjoint member parts, added up per ``p``."""
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True).groupby("p", as_index=False).sum()


def _member_periods(lines, base: int, per_months: int):
    """One row per (period ``p``, member) of ``lines``: ``baskets``, spend (``amount``) and
    the last purchase (``last_us``), computed once into a temporary table (spillable).

    Grouped rows, then counts: DuckDB spills a GROUP BY and a grouped count under its
    memory limit, not a count(DISTINCT) (at 1M members its hash sets ran for minutes).
    """
    tagged = lines.mutate(p=month_index(lines.ts_us) // per_months - base)
    baskets = tagged.group_by(["p", "member_id", "basket_id"]).aggregate(
        amount=tagged.amount.sum(), last_us=tagged.ts_us.max())
    return materialize(baskets.group_by(["p", "member_id"]).aggregate(
        baskets=baskets.basket_id.count(), amount=baskets.amount.sum(),
        last_us=baskets.last_us.max()), "kpi_member_periods")


def _activity(rows, since_t, bounds) -> pd.DataFrame:
    """Active, retained and repeat members, baskets and revenue per period, from the
    (period, member) ``rows`` of :func:`_member_periods` (every member of them has a
    ``since_t`` row: the inner join keeps them all)."""
    joined = rows.join(since_t, "member_id").join(bounds, "p")
    return to_frame(joined.group_by("p").aggregate(
        active_members=joined.count(),
        retained_members=(joined.since_us < joined.start_us).cast("int64").sum(),
        baskets=joined.baskets.sum(),
        repeat_members=(joined.baskets >= 2).cast("int64").sum(),
        revenue=joined.amount.sum(),
    ))


def _active_in_window(rows, bounds) -> pd.DataFrame:
    """Distinct members with a purchase in ``[end - 90 days, end)``, per period end
    (``p``, ``n``), from the (period, member) ``rows`` of :func:`_member_periods`.

    A member is active at the end of period ``p`` when the last purchase of some
    period ``lp <= p`` is at most 90 days before that end (it is before the end:
    ``lp`` ends no later than ``p``). Four months are at least 120 days, so only
    ``lp`` from ``p - 3`` to ``p`` can be: each (member, period) row with its last
    purchase (at 200k synthetic members 1.6M rows, against the 4.2M distinct
    (member, day) pairs a range join over days needed) is offered to the next
    :data:`_REACH` periods by an equality join (which the engine spills, where the
    range join ran DuckDB out of memory at 3M members), and a member counts at ``p``
    when the latest of those purchases is inside. Period ends fall on midnights and
    the window is whole days, so a purchase's day is inside exactly when its time is.
    """
    window = int(ACTIVE_WINDOW / pd.Timedelta(microseconds=1))
    con = ibis.get_backend(rows)
    reach = register_frame(con, "kpi_reach", pd.DataFrame({"k": np.arange(_REACH, dtype="int64")}))
    last = rows.select("member_id", "last_us", lp=rows.p)
    offered = last.cross_join(reach).mutate(p=ibis._.lp + ibis._.k)
    latest = offered.group_by(["p", "member_id"]).aggregate(last_us=offered.last_us.max())
    inside = latest.join(bounds, "p")
    inside = inside.filter(inside.last_us >= inside.end_us - window)
    return to_frame(inside.group_by("p").aggregate(n=inside.count()))


def _offer_counts(events, start_us: int, end_us: int, base: int, per_months: int,
                  n_periods: int) -> tuple[np.ndarray, np.ndarray]:
    zeros = np.zeros(n_periods, dtype="int64")
    if events is None:
        return zeros, zeros.copy()
    inside = events.filter((events.ts_us >= int(start_us)) & (events.ts_us < int(end_us))
                           & events.event.isin(["sent", "redeemed"]))
    tagged = inside.mutate(p=month_index(inside.ts_us) // per_months - base)
    counts = to_frame(tagged.group_by(["p", "event"]).aggregate(n=tagged.count()))
    return tuple(_by_period(counts[counts["event"] == e], "n", n_periods).astype("int64")
                 for e in ("sent", "redeemed"))


def _by_period(frame: pd.DataFrame, column: str, n_periods: int,
               dtype: str = "float64") -> np.ndarray:
    """``frame[column]`` placed at its period ``p`` (0 where a period has no row)."""
    out = np.zeros(n_periods, dtype=dtype)
    p = frame["p"].to_numpy(dtype="int64")
    out[p] = frame[column].to_numpy(dtype=dtype)
    return out

"""The churn and value windows with the per-line work on a relational engine (issue 11).

:func:`make_engine_windows` gives the :class:`~models.lifecycle.windows.TrainingWindows`
of :func:`~models.lifecycle.windows.make_windows` (same cutoffs, horizon,
member sample, features and outcomes) from canonical lines that stay in the
engine (:mod:`features.relational`): per cutoff, the member features are the
engine's (:func:`features.relational.member_features`) and the outcomes one
aggregate query; the purchase cadence behind the default horizon is computed
over distinct (member, day) pairs there too. Only one row per member and
cutoff comes into pandas. Above ``max_members`` buyers the sample's lines
are computed once into a temporary table of the engine
(:func:`models.lifecycle.buyer_sample.engine_sample_buyers`), so the feature
builds read them, not every line again. The pandas function stays the oracle
of the parity tests.

Imports: :mod:`features` and :mod:`models` only.
"""

from __future__ import annotations

import logging

import ibis
import numpy as np
import pandas as pd

from features.errors import ConfigError
from features.relational import member_features
from features.relational.cutoffs import CutoffTables
from features.relational.members import member_features_at
from features.relational.portable import to_frame
from features.relational.purchases import US_PER_DAY
from models.lifecycle.buyer_sample import BuyerSample, engine_sample_buyers
from models.lifecycle.windows import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_QUANTILE,
    MAX_HORIZON_DAYS,
    MIN_HORIZON_DAYS,
    TrainingWindows,
    assemble_windows,
    check_horizon_bounds,
    check_n_windows,
    horizon_from_gaps,
    window_cutoffs,
)

logger = logging.getLogger(__name__)


def make_engine_windows(
    lines,
    tables: dict,
    as_of,
    horizon_days: int | None = None,
    n_windows: int | None = 3,
    step_days: int | None = None,
    *,
    max_members: int | None = DEFAULT_MAX_MEMBERS,
    random_state: int = 0,
    sample: BuyerSample | None = None,
) -> TrainingWindows:
    """:func:`models.lifecycle.windows.make_windows` on the engine.

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (:mod:`features.relational.tables`).
    tables : mapping
        The small canonical tables the member features read: ``items``,
        ``members`` and ``offer_events`` (pandas frames; the last two may be
        None; the events may also be an Ibis table, as
        :func:`features.relational.load_relational` gives them).
    as_of, horizon_days, n_windows, step_days, max_members, random_state
        As in :func:`~models.lifecycle.windows.make_windows`.
    sample : BuyerSample, optional
        The members to learn from, drawn as of ``as_of``
        (:func:`models.lifecycle.buyer_sample.engine_sample_buyers`) for several
        window sets; ``max_members`` and ``random_state`` are then not read. By
        default drawn here (a sample's lines are then one temporary table of the
        engine while the windows are built).
    """
    as_of = pd.Timestamp(as_of)
    check_n_windows(n_windows)
    if sample is not None:
        sample.check(as_of)
        return _windows_of(sample, tables, horizon_days, n_windows, step_days)
    with engine_sample_buyers(lines, as_of, max_members, random_state) as drawn:
        return _windows_of(drawn, tables, horizon_days, n_windows, step_days)


def _windows_of(sample: BuyerSample, tables: dict, horizon_days, n_windows: int | None,
                step_days) -> TrainingWindows:
    as_of, past = sample.as_of, sample.lines
    small = _small_tables(tables, as_of, sample.kept, sample.ids)
    if horizon_days is None:
        horizon_days = engine_horizon_days(past)
    first = pd.Timestamp(int(to_frame(past.aggregate(first=past.ts_us.min()))["first"].iloc[0]),
                         unit="us")
    horizon_days, cutoffs = window_cutoffs(as_of, horizon_days, n_windows, step_days, first,
                                           n_members=sample.n_kept)
    horizon = pd.Timedelta(days=horizon_days)
    # Every cutoff's member features in one set of queries (those of other horizons too,
    # when prefetch_features asked for them first).
    sample.prefetch(cutoffs, tables, lambda missing: member_features_at(past, small, missing))
    outcomes = window_outcomes(past, cutoffs, horizon)
    parts = [_one_window(outcomes[cutoff], sample.features_at(
        cutoff, tables, lambda c=cutoff: member_features(past, small, c)), cutoff)
        for cutoff in cutoffs]
    return assemble_windows(parts, cutoffs, horizon_days, as_of, sample.n_members,
                            sample.fraction)


def prefetch_features(sample: BuyerSample, tables: dict, horizons, n_windows: int | None = None,
                      step_days: int | None = None) -> None:
    """Build the member features of the windows of every horizon in ``horizons`` (days) in
    one pass (:func:`features.relational.members.member_features_at`) and keep them in
    ``sample``, so that :func:`make_engine_windows` at each of those horizons reuses them.

    A horizon whose windows do not fit the data is skipped here (its windows raise
    the reason when built).
    """
    if not horizons:
        return
    past = sample.lines
    first = pd.Timestamp(int(to_frame(past.aggregate(first=past.ts_us.min()))["first"].iloc[0]),
                         unit="us")
    cutoffs = set()
    for h in horizons:
        try:
            cutoffs.update(window_cutoffs(sample.as_of, int(h), n_windows, step_days, first,
                                          n_members=sample.n_kept)[1])
        except ConfigError:
            continue
    small = _small_tables(tables, sample.as_of, sample.kept, sample.ids)
    sample.prefetch(cutoffs, tables, lambda missing: member_features_at(past, small, missing))


def engine_horizon_days(lines, *, quantile: float = DEFAULT_QUANTILE,
                        min_days: int = MIN_HORIZON_DAYS, max_days: int = MAX_HORIZON_DAYS) -> int:
    """:func:`~models.lifecycle.windows.default_horizon_days` of ``lines`` (an Ibis table)."""
    check_horizon_bounds(quantile, min_days, max_days)
    days = lines.select("member_id", day=lines.ts_us // US_PER_DAY).distinct()
    gaps = days.mutate(gap=days.day - days.day.lag().over(
        ibis.window(group_by="member_id", order_by="day")))
    gaps = gaps.filter(gaps.gap.notnull())
    medians = to_frame(gaps.group_by("member_id").aggregate(m=gaps.gap.cast("float64").median()))
    return horizon_from_gaps(medians["m"].astype("float64"), quantile, min_days, max_days)


def window_outcomes(past, cutoffs, horizon: pd.Timedelta) -> dict[pd.Timestamp, pd.DataFrame]:
    """Per cutoff of ``cutoffs``, the outcomes of the members with a line before it, from
    one query.

    A frame per cutoff, indexed by ``member_id`` (ascending): ``future_baskets``
    (distinct baskets in [cutoff, cutoff + horizon)), ``future_spend`` (their
    amount) and ``past_spend`` (the amount in [cutoff - horizon, cutoff)); NaN
    where none. The lines are first summed per (member, basket, time), the
    finest grouping a window cannot split; those rows, not the lines, are
    repeated per window they fall in.
    """
    cutoffs = [pd.Timestamp(c) for c in cutoffs]
    h = int(horizon / pd.Timedelta(microseconds=1))
    tables = CutoffTables(ibis.get_backend(past), sorted(set(cutoffs)))
    bounds = tables.register("window_bounds", pd.DataFrame(
        {"k": range(len(tables.cut_us)), "cut_us": tables.cut_us}, dtype="int64"))
    last = max(tables.cut_us) + h
    seen = past.filter(past.ts_us < last)
    sub = seen.group_by(["member_id", "basket_id", "ts_us"]).aggregate(amount=seen.amount.sum())
    j = sub.cross_join(bounds)
    j = j.filter((j.ts_us >= j.cut_us - h) & (j.ts_us < j.cut_us + h))
    during = j.ts_us >= j.cut_us
    per = j.group_by(["k", "member_id"]).aggregate(
        future_baskets=j.basket_id.nunique(where=during),
        future_spend=j.amount.sum(where=during),
        past_spend=j.amount.sum(where=~during),
    )
    first = seen.group_by("member_id").aggregate(first=seen.ts_us.min())
    eligible = first.cross_join(bounds)
    eligible = eligible.filter(eligible.first < eligible.cut_us).select("k", "member_id")
    rows = eligible.left_join(per, ["k", "member_id"]).select(
        "k", "member_id", "future_baskets", "future_spend", "past_spend")
    parts = tables.split(to_frame(rows))
    out = {}
    for k, cut in enumerate(tables.cutoffs):
        part = parts[k].set_index("member_id").sort_index()
        part.index = pd.Index(part.index.astype(str), dtype="str", name="member_id")
        out[cut] = part
    return out


def _one_window(per: pd.DataFrame, feats: pd.DataFrame, cutoff: pd.Timestamp):
    """Features (``feats``, as of ``cutoff``) of members with a purchase before ``cutoff`` and
    their outcomes after it (``per``, :func:`window_outcomes`)."""
    eligible = pd.Index(per.index.astype(str), dtype="str", name="member_id")
    feats.index = pd.Index(feats.index.astype("str"), name="member_id")
    missing = eligible.difference(feats.index)
    if len(missing):
        logger.warning(
            "window %s: the feature builder has no row for %d member(s) with purchases "
            "before the cutoff (e.g. %s); they are left out",
            cutoff.date(), len(missing), list(missing[:3]),
        )
        eligible = eligible.intersection(feats.index, sort=True)
    per = per.loc[eligible]
    baskets = per["future_baskets"].fillna(0).to_numpy(dtype=np.int64)
    outcomes = pd.DataFrame(
        {
            "churned": baskets == 0,
            "future_spend": per["future_spend"].fillna(0.0).to_numpy(dtype=np.float64),
            "future_baskets": baskets,
            "past_spend": per["past_spend"].fillna(0.0).to_numpy(dtype=np.float64),
        },
        index=eligible,
    )
    return feats.loc[eligible], outcomes


def _small_tables(tables: dict, as_of: pd.Timestamp, kept: pd.Index | None, ids) -> dict:
    """``items``, and ``members`` and ``offer_events`` before ``as_of`` of the sample.

    The offer events may be a frame or, as the DuckDB loader gives them, a table
    on the engine (``ts_us``), which stays there.
    """
    out = {"items": tables["items"]}
    for name in ("members", "offer_events"):
        frame = tables.get(name)
        if isinstance(frame, ibis.Table):
            frame = frame.filter(frame.ts_us < _us(as_of)) if "ts_us" in frame.columns else frame
            frame = frame if ids is None else frame.semi_join(ids, "member_id")
        elif frame is not None and len(frame):
            if name == "offer_events" and "timestamp" in frame:
                early = frame["timestamp"].to_numpy() < as_of.to_datetime64()
                frame = frame if early.all() else frame[early]
            if kept is not None and "member_id" in frame:
                frame = frame[frame["member_id"].astype(str).isin(kept)]
        out[name] = frame
    return out


def _us(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1000)



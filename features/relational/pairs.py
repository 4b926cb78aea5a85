"""The distinct (member, item) pairs, counted once for the member and the item features.

Members' ``n_items_distinct`` and items' ``popularity`` / ``recent_popularity``
(buyers) both count the distinct pairs of the lines before the cutoff. Grouping
the lines into pairs is the costliest aggregate of the features step (the
pairs' hash table holds about 60% as many rows as there are lines), so
:func:`pair_counts` groups them once and counts the pairs per member and per
item from that one grouping (one query per slice of members above
:data:`LINES_PER_PART` lines): at 200k members (20M lines) the two counts took
about 6 CPU seconds instead of 11 as two separate groupings (bench/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from ibis import util

from features.code_groups import to_cutoff
from features.relational.portable import register_frame, slices, to_frame, to_scalar

#: Microseconds per day (the lines' ``ts_us`` unit); :mod:`.purchases` and the engine
#: modules import it from there.
US_PER_DAY = 86_400 * 10**6
#: Lines per query of the distinct pairs, which DuckDB cannot spill: above it, one query
#: per slice of members. Under DuckDB's 1 GB one query of 101M lines (1M synthetic
#: members) ran, of 300M (3M) did not; slices of 150M did. Each slice reads every line,
#: so fewer is faster: at 1M one query took 24-30 s against 48-54 s in four slices of
#: 30M, at 3M three slices 152 s against 390 s in ten (bench/RESULTS.md).
LINES_PER_PART = 110_000_000


@dataclass(frozen=True)
class PairCounts:
    """Distinct pairs of the lines before ``cut_us``, per member and per item.

    ``members``: ``n_items_distinct`` indexed by ``member_id`` (str, sorted);
    ``items``: ``popularity`` (buyers) and ``recent_popularity`` (buyers with a
    line at or after ``recent_us``) indexed by ``item_id`` (str, sorted). Only
    members and items with a line appear.
    """

    members: pd.DataFrame
    items: pd.DataFrame
    cut_us: int
    recent_us: int


def pair_counts(before, cut_us: int, recent_us: int, n_lines: float) -> PairCounts:
    """Count the distinct (member, item) pairs of ``before`` per member and per item.

    Parameters
    ----------
    before : Ibis table
        Canonical lines (:mod:`features.relational.tables`) before ``cut_us``.
    cut_us : int
        The cutoff ``before`` was cut at (microseconds), kept to check reuse.
    recent_us : int
        A pair is recent when its last line is at or after this time.
    n_lines : float
        Lines in ``before``: above :data:`LINES_PER_PART`, one query per slice
        of members (a range of ids), so that the pairs' hash table, which
        DuckDB cannot spill here, stays a slice's size.
    """
    member_parts, item_parts = [], []
    for chosen in slices(before, "member_id", n_lines, LINES_PER_PART):
        pairs = chosen.group_by(["member_id", "item_id"]).aggregate(last=chosen.ts_us.max())
        recent = (pairs["last"] >= recent_us).cast("int64")
        # One query, both counts: the two groupings read the one grouping into pairs.
        per = [pairs.group_by(key).aggregate(n=pairs.count(), recent=recent.sum())
               .rename(key=key).mutate(kind=ibis.literal(key)) for key in ("member_id", "item_id")]
        frame = to_frame(per[0].union(per[1], distinct=False))
        by_member = frame["kind"] == "member_id"
        member_parts.append(frame[by_member])
        item_parts.append(frame[~by_member])
    members = pd.concat(member_parts)
    members = pd.DataFrame(
        {"n_items_distinct": members["n"].to_numpy(dtype="int64")},
        index=pd.Index(members["key"], dtype="str", name="member_id"),
    ).sort_index()
    # A member falls in one slice, an item in every slice: its counts add up.
    items = pd.concat(item_parts).groupby("key", sort=True)[["n", "recent"]].sum()
    items = pd.DataFrame(
        {"popularity": items["n"].to_numpy(dtype="int64"),
         "recent_popularity": items["recent"].to_numpy(dtype="int64")},
        index=pd.Index(items.index, dtype="str", name="item_id"),
    )
    return PairCounts(members, items, int(cut_us), int(recent_us))


def pairs_before(lines, as_of, *, recent_days: float) -> PairCounts:
    """:func:`pair_counts` of the lines before ``as_of``, for the member features and the
    item features of ``recent_days`` (:func:`features.relational.item_features`) at once.

    ``lines``: canonical lines (:mod:`features.relational.tables`).
    """
    before, cut, recent_us = _before(lines, as_of, recent_days)
    return pair_counts(before, cut, recent_us, float(to_scalar(before.count()) or 0))


def counts_from_pairs(lines, as_of, *, recent_days: float, member_ids, member_counts,
                      item_ids, item_counts, excluded_items=()) -> PairCounts:
    """:func:`pairs_before` from pairs grouped elsewhere (the recommenders' interactions of
    the same lines and cutoff, less the lines of ``excluded_items``), so the lines are not
    grouped into pairs a second time.

    Only what those pairs lack is counted on the engine: the recent buyers, from the
    lines of the last ``recent_days`` only (a member is a recent buyer of an item exactly
    when the pair has a line there: a few weeks' lines, not the year's), and the pairs
    of the ``excluded_items`` (their lines: a scan, but only a few pairs to group).

    Parameters
    ----------
    lines, as_of, recent_days
        As :func:`pairs_before`.
    member_ids, member_counts : array-like, shape (n_members,)
        Distinct items per member (members without one are left out).
    item_ids, item_counts : array-like, shape (n_items,)
        Distinct buyers per item (items without one are left out).
    excluded_items : array-like of str
        Items whose lines the pairs leave out.
    """
    before, cut, recent_us = _before(lines, as_of, recent_days)
    member_counts = np.asarray(member_counts, dtype=np.int64)
    item_counts = np.asarray(item_counts, dtype=np.int64)
    members = pd.DataFrame(
        {"n_items_distinct": member_counts[member_counts > 0]},
        index=pd.Index(np.asarray(member_ids)[member_counts > 0], dtype="str", name="member_id"),
    ).sort_index()
    window = before.filter(before.ts_us >= recent_us)
    recent = pair_counts(window, cut, recent_us, float(to_scalar(window.count()) or 0)).items
    items = pd.DataFrame(
        {"popularity": item_counts[item_counts > 0]},
        index=pd.Index(np.asarray(item_ids)[item_counts > 0], dtype="str", name="item_id"),
    ).sort_index()
    items["recent_popularity"] = recent["popularity"].reindex(items.index, fill_value=0).to_numpy(
        dtype="int64")
    counts = PairCounts(members, items, int(cut), int(recent_us))
    excluded = np.asarray(excluded_items, dtype=str)
    if len(excluded) == 0:
        return counts
    gone = register_frame(ibis.get_backend(lines), util.gen_name("excluded_items"),
                          pd.DataFrame({"item_id": excluded.astype(object)}))
    left_out = before.semi_join(gone, "item_id")
    return with_items(counts, pair_counts(left_out, cut, recent_us,
                                          float(to_scalar(left_out.count()) or 0)))


def _before(lines, as_of, recent_days: float) -> tuple:
    """The lines before ``as_of``, its cutoff and the start of the last ``recent_days``
    (microseconds), cut and rounded as the member and item features cut them."""
    cut = to_cutoff(as_of).value // 1000
    before = lines.filter(lines.ts_us < cut)  # as purchases.lines_before
    window = int(round(recent_days * US_PER_DAY))  # as item_features
    return before, cut, cut - window


def with_items(counts: PairCounts, other: PairCounts) -> PairCounts:
    """The pair counts of two sets of lines with no item in common (the recommenders'
    lines and the lines of the items they leave out): members' counts add up, items'
    are one or the other's."""
    if (counts.cut_us, counts.recent_us) != (other.cut_us, other.recent_us):
        raise ValueError("pair counts of different cutoffs cannot be combined.")
    shared = counts.items.index.intersection(other.items.index)
    if len(shared):
        raise ValueError(f"{len(shared)} item(s) are in both pair counts, e.g. {shared[0]!r}; "
                         "their buyers would be counted twice.")
    members = counts.members.add(other.members, fill_value=0).astype("int64")
    items = pd.concat([counts.items, other.items]).sort_index()
    return PairCounts(members, items, counts.cut_us, counts.recent_us)

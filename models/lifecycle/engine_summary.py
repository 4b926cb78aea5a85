"""The purchase-cycle models' per-member inputs with the per-line work on a relational engine.

:func:`engine_purchase_summary` is :func:`models.lifecycle.bgnbd.purchase_summary`
over canonical lines that stay in the engine (:mod:`features.relational`):
lines are reduced there to one row per (member, purchase day), then to one row
per member; only that comes into pandas. The pandas function is the oracle of
the parity tests.

Imports: :mod:`features` and :mod:`models` only.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from features.errors import DataError
from features.relational.portable import line_count, slices, to_frame
from features.relational.purchases import US_PER_DAY

#: Lines per query: above it the members are summarised a range of ids at a time (at 3M
#: members and 300M lines the one query ran out of DuckDB's 1 GB; three slices of 100M ran
#: in 71 s against 111 s in five of 60M, and one query of 1M members' 101M lines in 12 s
#: against 18 s in two: bench/RESULTS.md).
LINES_PER_PASS = 110_000_000


def engine_purchase_summary(lines, as_of) -> pd.DataFrame:
    """``frequency``, ``recency``, ``T`` and ``monetary`` per member, as of ``as_of``.

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (:mod:`features.relational.tables`), or their
        :func:`~features.relational.purchases.basket_rows` (the same summary, faster).
    as_of : timestamp-like
        The cut-off (exclusive).

    Raises
    ------
    DataError
        No line is before ``as_of``.
    """
    as_of = pd.Timestamp(as_of)
    before = lines.filter(lines.ts_us < as_of.value // 1000)
    n_lines = int(to_frame(before.aggregate(n=line_count(before)))["n"].iloc[0])
    per = [_per_member(part) for part in slices(before, "member_id", n_lines, LINES_PER_PASS)]
    per = per[0] if len(per) == 1 else pd.concat(per, ignore_index=True)
    if per.empty:
        raise DataError(f"no transactions before as_of={as_of}.")
    per = per.sort_values("member_id", kind="stable")
    today = as_of.normalize().value // (US_PER_DAY * 1000)
    start = per["start"].to_numpy(dtype=np.int64)
    out = pd.DataFrame({
        "frequency": (per["n"].to_numpy(dtype=np.int64) - 1),
        "recency": (per["end"].to_numpy(dtype=np.int64) - start).astype(np.float64),
        "T": np.clip(today - start, 0, None).astype(np.float64),
        "monetary": per["monetary"].to_numpy(dtype=np.float64),
    }, index=pd.Index(per["member_id"].astype(str).to_numpy(), dtype="str", name="member_id"))
    return out


def _per_member(before) -> pd.DataFrame:
    """Purchase days, first and last day and mean repeat-day spend per member of ``before``."""
    day = (before.ts_us // US_PER_DAY).name("day")
    days = before.group_by(["member_id", day]).aggregate(amount=before.amount.sum())
    # Each member's first day by a join, not a window over members: DuckDB's window
    # operator ran out of memory under a 1GB limit at 3M members, where a join spills.
    first = days.group_by("member_id").aggregate(first=days.day.min())
    days = days.join(first, "member_id")
    days = days.mutate(repeat=ibis.ifelse((days.day > days.first) & (days.amount > 0),
                                          days.amount, ibis.null("float64")))
    return to_frame(days.group_by("member_id").aggregate(
        n=days.count(), start=days.day.min(), end=days.day.max(), monetary=days.repeat.mean()))

"""Distinct counts before any cutoff from one sort: each pair's first time, kept per frame.

A training run builds member features of one transactions frame at many cutoffs
(the churn and value windows, every validated horizon's windows, the offer
response's send days: 34 cutoffs on a Complete Journey retrain). Each counted the
distinct (member, item) and (member, basket) pairs before its cutoff with a sort
of every line's pair key (:func:`features.code_groups.distinct_pair_counts`), three
sorts of the lines per cutoff. :func:`distinct_before` sorts a frame's pairs once,
keeps each pair with the earliest time it was seen, and answers a cutoff with a
``bincount`` of the pairs seen before it: the same integers.

The kept pairs are tied to the frame (dropped when it is collected) and to the
arrays they were computed from: a column replaced since (pandas copies on write)
has other memory, and its pairs are computed afresh. Frames of more than
:data:`MAX_LINES` lines are counted as before, without keeping pairs: the first
sort holds four arrays of the lines' length at once, and on the out-of-core
engines the member samples the response and uplift models learn from (5.1M lines
at 1M members) are built near the run's memory peak.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import numpy as np

from features.code_groups import NAT, distinct_pair_counts, pair_keys

#: Frames up to this many lines keep their pairs (12 bytes per distinct pair).
MAX_LINES = 4_000_000
_KEPT: dict[int, _Pairs] = {}
_LOCK = threading.Lock()


@dataclass
class _Pairs:
    """The pair tables of one frame, by name: ``(sources, first member code, first time)``."""

    tables: dict[str, tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]] = field(
        default_factory=dict)


def _address(a: np.ndarray) -> tuple:
    return a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str


def distinct_before(frame, name: str, a: np.ndarray, b: np.ndarray, ts: np.ndarray,
                    n_a: int, cutoff_ns: int, rows: np.ndarray | None = None,
                    rows_source: np.ndarray | None = None) -> np.ndarray:
    """Number of distinct ``b`` per ``a`` among the rows with ``ts < cutoff_ns``.

    Parameters
    ----------
    frame : DataFrame
        The frame whose columns ``a``, ``b``, ``ts`` (and ``rows_source``) are
        (every line, as views of its memory): the pairs are kept for it.
    name : str
        Which pair table of ``frame`` this is (``"member_item"``, ...).
    a, b : ndarray of int
        Codes per line; lines with a negative code, or ``ts`` :data:`NAT`, are
        left out. ``a`` is below ``n_a``.
    ts : ndarray of int64
        Nanoseconds per line.
    rows : ndarray of bool, optional
        Only these lines count (e.g. lines with a coupon); ``rows_source`` is
        the column they were computed from (the pairs are recomputed when it
        changes).

    Returns
    -------
    ndarray of int64, shape (n_a,)
    """
    if len(a) > MAX_LINES:
        keep = (ts < cutoff_ns) & (ts != NAT) & (a >= 0) & (b >= 0)
        if rows is not None:
            keep &= rows
        return distinct_pair_counts(a[keep], b[keep], n_a, int(b.max(initial=-1)) + 1)
    sources = (a, b, ts) if rows_source is None else (a, b, ts, rows_source)
    key = [_address(s) for s in sources]
    with _LOCK:
        kept = _KEPT.get(id(frame))
        if kept is None:
            kept = _KEPT[id(frame)] = _Pairs()
            weakref.finalize(frame, _KEPT.pop, id(frame), None)
        hit = kept.tables.get(name)
        if hit is None or [_address(s) for s in hit[0]] != key:
            hit = kept.tables[name] = (sources, *_first_seen(a, b, ts, rows))
    _, first_a, first_ts = hit
    return np.bincount(first_a[first_ts < cutoff_ns], minlength=n_a).astype(np.int64)


def _first_seen(a, b, ts, rows) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct valid ``(a, b)`` pair's ``a`` and earliest ``ts``."""
    valid = (ts != NAT) & (a >= 0) & (b >= 0)
    if rows is not None:
        valid &= rows
    a, b, ts = a[valid], b[valid], ts[valid]
    if len(a) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    keys = pair_keys(a, b, int(b.max()) + 1)
    order = np.argsort(keys, kind="stable")
    keys, ts = keys[order], ts[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    first_ts = np.minimum.reduceat(ts, starts)
    first_a = a[order[starts]].astype(np.int32 if a.max() < 2**31 else np.int64)
    return first_a, first_ts

"""Purchase features of members: recency, frequency, spend, purchase cycle and mix.

:func:`purchase_features` is a pure function of the canonical transactions
and items and an explicit cutoff; :func:`features.member_features.build_member_features`
joins it with the profile and offer-history features. The columns are
documented there.

Units: every ``*_days`` value is in days (fractional where it is measured from
timestamps). A basket's time is the time of its earliest line. Purchase
*days* are UTC calendar days.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.code_groups import (
    DENSE_LIMIT,
    NS_PER_DAY,
    Lines,
    column_names,
    distinct_pair_counts,
    group_max,
    group_min,
    group_sum,
    lines_before,
    pair_keys,
    pair_sums,
    positions,
    safe_divide,
    sorted_unique,
    timestamps_ns,
    to_cutoff,
)
from features.errors import ConfigError, DataError
from features.first_seen import distinct_before

logger = logging.getLogger(__name__)

#: Columns of :func:`purchase_features` that do not depend on the data, in order;
#: the ``dept_share__*`` and ``cat_share__*`` columns, then ``top_category``,
#: ``top_department`` and ``discount_share`` follow them.
RFM_COLUMNS = (
    "recency_days", "frequency", "monetary_total", "monetary_mean_basket", "n_lines",
    "n_items_distinct", "first_purchase_days", "interpurchase_mean_days",
    "interpurchase_std_days", "expected_days_to_next", "overdue_ratio",
    "spend_recent", "spend_earlier", "spend_trend",
)  # fmt: skip


def purchase_features(
    transactions: pd.DataFrame,
    items: pd.DataFrame,
    as_of,
    *,
    n_categories: int = 20,
    trend_days: float = 90,
    spend_mix: bool = True,
) -> pd.DataFrame:
    """Per-member purchase features from the lines strictly before ``as_of``.

    Parameters
    ----------
    transactions : DataFrame
        Canonical transactions (:mod:`features.dataset`).
    items : DataFrame
        Canonical items: ``item_id``, ``category`` and ``department`` (the
        category when the column is absent).
    as_of : timestamp-like
        The cutoff; see :func:`features.code_groups.to_cutoff`.
    n_categories : int
        How many categories (the largest by total spend before ``as_of``) get
        their own ``cat_share__*`` column; the rest go to ``cat_share__other``.
    trend_days : float
        Length of the ``spend_recent`` and ``spend_earlier`` windows.
    spend_mix : bool
        Compute the department and category shares and the top ones (about
        half the work). When False there are no ``*_share__*`` columns and
        ``top_category`` and ``top_department`` are NA.

    Returns
    -------
    DataFrame, shape (n_buyers, n_columns)
        Indexed by ``member_id`` (str), one row per member with at least one
        line before ``as_of``. Columns: :data:`RFM_COLUMNS`, ``dept_share__*``
        (every department of ``items``, sorted by name), ``cat_share__*``
        (top categories by spend, largest first), ``cat_share__other``,
        ``top_category``, ``top_department``, ``discount_share``.

    Raises
    ------
    ConfigError
        For a bad ``as_of``, ``n_categories`` or ``trend_days``.
    DataError
        When a needed column is missing.
    """
    cutoff = to_cutoff(as_of)
    check_arguments(items, n_categories, trend_days)
    lines = lines_before(transactions, cutoff, ("amount", "discount"), basket=True)
    n_members = len(lines.member_labels)
    out = _basket_features(lines, cutoff, n_members, trend_days)
    out["n_items_distinct"] = _distinct_items(transactions, lines, cutoff).astype(np.float64)
    if spend_mix:
        mix = _spend_mix(lines, items, n_members, n_categories)
    else:
        none = np.full(n_members, None, dtype=object)
        mix = {"shares": np.empty((n_members, 0)), "share_columns": [],
               "top_category": none, "top_department": none}
    buyers = out["frequency"] > 0
    frame = pd.DataFrame(
        {name: out[name][buyers] for name in RFM_COLUMNS},
        index=pd.Index(lines.member_labels[buyers], dtype="str", name="member_id"),
    )
    shares = pd.DataFrame(
        mix["shares"][buyers], index=frame.index, columns=mix["share_columns"]
    )
    tail = pd.DataFrame(
        {
            "top_category": pd.array(mix["top_category"][buyers], dtype="str"),
            "top_department": pd.array(mix["top_department"][buyers], dtype="str"),
            "discount_share": out["discount_share"][buyers],
        },
        index=frame.index,
    )
    frame = pd.concat([frame, shares, tail], axis=1)
    logger.debug("purchase features: %d buyers, %d lines before %s", len(frame), len(lines), cutoff)
    return frame


def _distinct_items(transactions: pd.DataFrame, lines: Lines, cutoff: pd.Timestamp) -> np.ndarray:
    """Distinct items per member before ``cutoff``: from the frame's (member, item) pairs kept
    across cutoffs when both ids are categorical (the loader's), else from ``lines``."""
    member, item = transactions["member_id"], transactions["item_id"]
    n_members = len(lines.member_labels)
    if isinstance(member.dtype, pd.CategoricalDtype) and isinstance(item.dtype,
                                                                    pd.CategoricalDtype):
        return distinct_before(transactions, "member_item", member.array.codes,
                               item.array.codes, timestamps_ns(transactions["timestamp"]),
                               n_members, cutoff.value)
    return distinct_pair_counts(lines.member, lines.item, n_members, len(lines.item_labels))


def _basket_features(
    lines: Lines, cutoff: pd.Timestamp, n_members: int, trend_days: float
) -> dict[str, np.ndarray]:
    """Everything that only needs baskets: reduce lines to baskets, then to members."""
    owner, b_time, b_amount, b_discount, b_lines = _baskets(lines)

    def per_member(weights=None):
        return np.bincount(owner, weights=weights, minlength=n_members).astype(np.float64)

    cut = cutoff.value
    frequency = per_member()
    total = per_member(b_amount)
    discount = per_member(b_discount)
    last = group_max(owner, n_members, b_time)
    first = group_min(owner, n_members, b_time)
    bought = frequency > 0
    recency = np.where(bought, (cut - last) / NS_PER_DAY, np.nan)
    window = int(round(trend_days * NS_PER_DAY))
    recent = per_member(np.where(b_time >= cut - window, b_amount, 0.0))
    earlier = per_member(np.where((b_time >= cut - 2 * window) & (b_time < cut - window),
                                  b_amount, 0.0))
    gap_mean, gap_std = _purchase_day_gaps(owner, b_time, n_members)
    known = np.isfinite(gap_mean)
    prior = float(np.median(gap_mean[known])) if known.any() else np.nan
    cycle = np.where(known, gap_mean, prior)
    return {
        "recency_days": recency,
        "frequency": frequency,
        "monetary_total": total,
        "monetary_mean_basket": safe_divide(total, frequency),
        "n_lines": per_member(b_lines),
        "first_purchase_days": np.where(bought, (cut - first) / NS_PER_DAY, np.nan),
        "interpurchase_mean_days": gap_mean,
        "interpurchase_std_days": gap_std,
        "expected_days_to_next": cycle - recency,
        "overdue_ratio": safe_divide(recency, cycle),
        "spend_recent": recent,
        "spend_earlier": earlier,
        "spend_trend": np.log1p(np.maximum(recent, 0.0)) - np.log1p(np.maximum(earlier, 0.0)),
        "discount_share": safe_divide(discount, total + discount),
    }


def _baskets(lines: Lines) -> tuple[np.ndarray, ...]:
    """Per basket: owner (member code), time, amount, discount and line count.

    A basket is a ``basket_id`` of one member (an id shared by several members
    makes one basket per member). When the ids never decrease down the rows
    (lines written basket by basket) baskets are runs of rows and are reduced
    with ``reduceat``; otherwise through dense basket codes.
    """
    basket, member = lines.basket, lines.member
    amount, discount = lines.values["amount"], lines.values["discount"]
    if len(basket) == 0:
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int64), empty, empty, empty
    if bool(np.all(basket[1:] >= basket[:-1])):
        change = basket[1:] != basket[:-1]
        change |= member[1:] != member[:-1]
        starts = np.r_[0, np.flatnonzero(change) + 1]
        return (
            member[starts].astype(np.intp),
            np.minimum.reduceat(lines.timestamp, starts),
            np.add.reduceat(amount, starts),
            np.add.reduceat(discount, starts),
            np.diff(np.r_[starts, len(basket)]).astype(np.float64),
        )
    if basket.min() < 0 or basket.max() > 2 * len(basket) + 1024:
        basket = pd.factorize(basket)[0]
    n_baskets = int(basket.max()) + 1
    owner = np.full(n_baskets, -1, dtype=member.dtype)
    owner[basket] = member
    if not _owners_match(owner, basket, member):
        # A basket id shared by several members: make (member, basket) the basket.
        basket = pd.factorize(pair_keys(member, basket, n_baskets))[0]
        n_baskets = int(basket.max()) + 1
        owner = np.full(n_baskets, -1, dtype=member.dtype)
        owner[basket] = member
    used = owner >= 0
    return (
        owner[used].astype(np.intp),
        group_min(basket, n_baskets, lines.timestamp)[used],
        group_sum(basket, n_baskets, amount)[used],
        group_sum(basket, n_baskets, discount)[used],
        group_sum(basket, n_baskets)[used].astype(np.float64),
    )


def _owners_match(owner: np.ndarray, basket: np.ndarray, member: np.ndarray) -> bool:
    """Whether every line's member owns its basket (checked in blocks: no big temporaries)."""
    step = 1 << 22
    return all(
        np.array_equal(owner[basket[i : i + step]], member[i : i + step])
        for i in range(0, len(basket), step)
    )


def _purchase_day_gaps(
    owner: np.ndarray, b_time: np.ndarray, n_members: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std of the gaps between a member's distinct purchase days.

    NaN for members with fewer than two distinct purchase days.
    """
    if len(owner) == 0:
        return np.full(n_members, np.nan), np.full(n_members, np.nan)
    day = b_time // NS_PER_DAY
    day -= day.min()
    n_days = int(day.max()) + 1
    keys = pair_keys(owner, day, n_days)
    if bool(np.all(keys[1:] >= keys[:-1])):  # baskets already in member, time order
        first = np.r_[True, keys[1:] != keys[:-1]]
        who, when = owner[first], day[first]
    else:
        days = sorted_unique(keys)
        who, when = days // n_days, days % n_days
    same = who[1:] == who[:-1]
    gaps = np.diff(when)[same].astype(np.float64)
    gap_owner = who[1:][same]
    n_gaps = np.bincount(gap_owner, minlength=n_members)
    mean = safe_divide(np.bincount(gap_owner, weights=gaps, minlength=n_members), n_gaps)
    dev = gaps - mean[gap_owner]
    var = safe_divide(np.bincount(gap_owner, weights=dev * dev, minlength=n_members), n_gaps)
    return mean, np.sqrt(var)


def _spend_mix(lines: Lines, items: pd.DataFrame, n_members: int, n_categories: int) -> dict:
    """Department and category spend shares and the top ones, per member code.

    Items are reduced to their distinct (department, category) pairs; one
    dense member x pair spend matrix (built in member chunks when it would
    exceed :data:`DENSE_LIMIT` cells) gives every share by matrix products.
    Lines whose item is not in ``items`` are left out of the shares.
    """
    category = items["category"].astype("str")
    department = (
        items["department"].astype("str").fillna(category) if "department" in items else category
    )
    dept_code, dept_labels = pd.factorize(department, sort=True)
    cat_code, cat_labels = pd.factorize(category, sort=True)
    n_dept, n_cat = len(dept_labels), len(cat_labels)
    pair_code, pairs = pd.factorize(pair_keys(dept_code, cat_code, max(n_cat, 1)))
    n_pairs = len(pairs)
    pair_dept, pair_cat = pairs // max(n_cat, 1), pairs % max(n_cat, 1)
    pos = positions(lines.item_labels, items["item_id"])
    if (pos < 0).any():
        logger.warning("%d item id(s) in transactions are not in items; their spend is left "
                       "out of the department and category shares", int((pos < 0).sum()))
    item_pair = np.where(pos >= 0, pair_code[pos], n_pairs).astype(np.int32)
    line_pair = item_pair[lines.item]
    amount = lines.values["amount"]

    item_spend = group_sum(lines.item, len(item_pair), amount)
    pair_spend = np.bincount(item_pair, weights=item_spend, minlength=n_pairs + 1)[:n_pairs]
    cat_spend = np.bincount(pair_cat, weights=pair_spend, minlength=n_cat)
    order = np.lexsort((np.arange(n_cat), -cat_spend))
    top = order[: min(n_categories, int((cat_spend > 0).sum()))]
    to_dept = np.zeros((n_pairs, n_dept))
    to_dept[np.arange(n_pairs), pair_dept] = 1.0
    to_cat = np.zeros((n_pairs, n_cat))
    to_cat[np.arange(n_pairs), pair_cat] = 1.0

    shares = np.full((n_members, n_dept + len(top) + 1), np.nan)
    top_cat = np.full(n_members, -1, dtype=np.int64)
    top_dept = np.full(n_members, -1, dtype=np.int64)
    chunk = max(1, DENSE_LIMIT // (n_pairs + 1))
    for lo in range(0, n_members, chunk):
        hi = min(lo + chunk, n_members)
        if lo == 0 and hi == n_members:
            member, pair, weight = lines.member, line_pair, amount
        else:
            sel = (lines.member >= lo) & (lines.member < hi)
            member, pair, weight = lines.member[sel] - lo, line_pair[sel], amount[sel]
        spend = pair_sums(member, pair, hi - lo, n_pairs + 1, weight)[:, :n_pairs]
        by_dept, by_cat = spend @ to_dept, spend @ to_cat
        total = by_dept.sum(axis=1)
        has = total > 0
        top_spend = by_cat[:, top]
        block = np.concatenate(
            [by_dept, top_spend, np.maximum(total - top_spend.sum(axis=1), 0.0)[:, None]], axis=1
        )
        shares[lo:hi][has] = block[has] / total[has, None]
        top_cat[lo:hi][has] = by_cat[has].argmax(axis=1)
        top_dept[lo:hi][has] = by_dept[has].argmax(axis=1)
    columns = (
        column_names("dept_share__", dept_labels)
        + column_names("cat_share__", cat_labels[top], reserved=("other",))
        + ["cat_share__other"]
    )
    return {
        "shares": shares,
        "share_columns": columns,
        "top_category": _labels(cat_labels, top_cat),
        "top_department": _labels(dept_labels, top_dept),
    }


def _labels(labels: pd.Index, codes: np.ndarray) -> np.ndarray:
    """Labels of ``codes`` as an object array, None where the code is -1."""
    values = np.asarray(labels, dtype=object)
    return np.where(codes >= 0, values[np.maximum(codes, 0)] if len(values) else None, None)


def check_arguments(items: pd.DataFrame, n_categories, trend_days) -> None:
    """ConfigError or DataError for arguments :func:`purchase_aggregates` cannot use (the
    engines' builds check the same)."""
    if not (isinstance(n_categories, (int, np.integer)) and n_categories >= 0):
        raise ConfigError(f"n_categories={n_categories!r} should be an integer >= 0.")
    if not trend_days > 0:
        raise ConfigError(f"trend_days={trend_days!r} should be > 0.")
    for col in ("item_id", "category"):
        if col not in items.columns:
            raise DataError(f"items lack column '{col}'; it is required.")

"""One feature row per member, as of a cutoff.

:func:`build_member_features` is the entry point: a pure function of the
canonical tables and an explicit ``as_of``, in the spirit of lifetimes'
``summary_data_from_transaction_data(..., observation_period_end=...)``. It
joins :mod:`features.purchase_features` and :mod:`features.profile_features`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.code_groups import (
    NAT,
    NS_PER_DAY,
    positions,
    safe_divide,
    timestamps_ns,
    to_cutoff,
)
from features.coupon_features import coupon_columns, coupon_features
from features.errors import DataError
from features.profile_features import (
    offer_history_features,
    offer_history_from_counts,
    profile_features,
)
from features.purchase_features import RFM_COLUMNS, purchase_features

logger = logging.getLogger(__name__)

#: Purchase columns that are 0 (not NaN) for members without purchases.
ZERO_WITHOUT_PURCHASES = (
    "frequency", "monetary_total", "n_lines", "n_items_distinct",
    "spend_recent", "spend_earlier", "spend_trend",
)  # fmt: skip


def build_member_features(
    dataset_or_tables,
    as_of,
    *,
    n_categories: int = 20,
    trend_days: float = 90,
    spend_mix: bool = True,
    purchases: pd.DataFrame | None = None,
    offer_counts: pd.DataFrame | None = None,
    coupon_counts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Member features from everything strictly before ``as_of``.

    Parameters
    ----------
    dataset_or_tables : Dataset or mapping of DataFrame
        A :class:`features.dataset.Dataset`, or a mapping with the canonical
        ``transactions`` and ``items`` and optionally ``members`` and
        ``offer_events`` (see :mod:`features.dataset` for the dtypes).
    as_of : str, datetime or Timestamp
        The cutoff. Transactions and offer events at or after it are ignored,
        and so are members who joined at or after it. Time-zone aware values
        are converted to UTC.
    n_categories : int, default 20
        Categories with their own ``cat_share__*`` column: the largest by
        total spend (of all members) before ``as_of``.
    trend_days : float, default 90
        Window length of ``spend_recent`` / ``spend_earlier``.
    spend_mix : bool, default True
        Compute the ``dept_share__*`` and ``cat_share__*`` columns and
        ``top_category`` / ``top_department``; False leaves the shares out and
        the two top columns NA, for about half the time (the offer-response
        model, which builds features at many cutoffs, does not use them).
    purchases : DataFrame, optional
        The per-buyer purchase columns already computed elsewhere (the DuckDB
        engine, :mod:`features.relational`); the lines are then not read.
    offer_counts : DataFrame, optional
        Per-member offer counts before ``as_of`` computed elsewhere (see
        :func:`features.profile_features.offer_history_from_counts`); the
        offer events are then not read.
    coupon_counts : DataFrame, optional
        Per-member coupon counts before ``as_of`` computed elsewhere (the
        relational engines, :func:`features.relational.coupons.coupon_counts`;
        see :func:`features.coupon_features.coupon_columns`): the coupon columns
        come from them, and the lines' ``coupon_discount`` is not read.

    Returns
    -------
    DataFrame, shape (n_members, n_features)
        Indexed by ``member_id`` (str). Rows: every member of ``members`` who
        joined before ``as_of``, or whose join date is unknown and who bought
        before ``as_of``, then buyers missing from ``members`` (profile columns
        missing). Rows keep the members table's order. Columns, float64 unless
        noted; "days" are fractional days before ``as_of``:

        - ``recency_days``: since the member's last basket (NaN: no purchase).
        - ``frequency``: distinct baskets.
        - ``monetary_total``: sum of ``amount``.
        - ``monetary_mean_basket``: ``monetary_total / frequency`` (NaN: none).
        - ``n_lines``: transaction lines.
        - ``n_items_distinct``: distinct items bought.
        - ``tenure_days``: since ``joined_at``, or since the first purchase
          when ``joined_at`` is unknown.
        - ``first_purchase_days``: since the first basket (NaN: none).
        - ``interpurchase_mean_days``, ``interpurchase_std_days``: mean and
          population std of the gaps, in whole days, between the member's
          distinct purchase days (UTC dates). NaN with fewer than two purchase
          days; the std is 0 with a single gap.
        - ``expected_days_to_next``: ``cycle - recency_days``, where ``cycle``
          is ``interpurchase_mean_days`` or, when that is NaN, the median of it
          over all members who have one (a population prior). Negative means
          overdue. NaN without purchases.
        - ``overdue_ratio``: ``recency_days / cycle`` (same ``cycle``); above 1
          means later than usual.
        - ``spend_recent``: spend in ``[as_of - trend_days, as_of)``.
        - ``spend_earlier``: spend in ``[as_of - 2 trend_days, as_of - trend_days)``.
        - ``spend_trend``: ``log1p(spend_recent) - log1p(spend_earlier)``
          (0 = flat, > 0 growing, symmetric; finite even when a window is empty).
        - ``dept_share__<department>``: share of the member's spend in each
          department of ``items`` (all of them, sorted by name); sums to 1.
        - ``cat_share__<category>``: same for the ``n_categories`` top
          categories, largest first; ``cat_share__other`` holds the rest, so
          these sum to 1. Shares are NaN for members without positive spend.
          Names are lower-case with non-word runs replaced by ``_``
          (``MEAT-PCKGD`` -> ``meat_pckgd``); clashes get ``_2``, ``_3``.
        - ``top_category``, ``top_department`` (str): where the member spent
          most (ties: first by name; NA without purchases). ``top_category``
          ranges over all categories, not only the top ones.
        - ``discount_share``: ``discount / (amount + discount)`` (NaN: none).
        - ``offers_sent``, ``offers_redeemed``: ``sent`` / ``redeemed`` events.
        - ``redemption_rate``: ``offers_redeemed / offers_sent`` (NaN when
          nothing was sent; may exceed 1 when redemptions of offers sent before
          the data began are present).
        - ``days_since_last_redemption``: NaN when none.
        - ``coupon_share``: ``offers_redeemed / frequency`` (NaN: no baskets).
        - ``coupon_lines``, ``coupon_basket_share``, ``days_since_coupon``: coupon
          use at the till, only when ``transactions`` have the optional
          ``coupon_discount`` column (:mod:`features.coupon_features`).
        - ``tier``, ``points_balance``, ``plan``, ``plan_status``,
          ``email_opt_in``, ``sms_opt_in``, ``push_opt_in``, ``referrals``:
          copied from ``members`` with their dtype (str, float64, boolean).
          They are the members file's current values, not values as of
          ``as_of``.
        - ``days_to_next_birthday``: 0..365 from ``as_of``'s date; Feb 29
          birthdays fall on Feb 28 in other years; NaN when unknown.

        Without purchases ``frequency``, ``monetary_total``, ``n_lines``,
        ``n_items_distinct``, ``spend_recent``, ``spend_earlier`` and
        ``spend_trend`` are 0 and the other purchase columns NaN.

    Raises
    ------
    ConfigError
        For a bad ``as_of``, ``n_categories`` or ``trend_days``.
    DataError
        When a table or a needed column is missing.

    Examples
    --------
    >>> from features.loading import load_dataset            # doctest: +SKIP
    >>> ds = load_dataset("data/completejourney")           # doctest: +SKIP
    >>> X = build_member_features(ds, "2017-10-01")          # doctest: +SKIP
    """
    started = time.perf_counter()
    tables = _tables(dataset_or_tables)
    tx, items = tables["transactions"], tables["items"]
    members = tables.get("members")
    if members is None:  # every buyer is then a member with an unknown profile
        members = pd.DataFrame({"member_id": pd.Series([], dtype="str")})
    if "member_id" not in members.columns:
        raise DataError("members lack column 'member_id'; it is required.")
    cutoff = to_cutoff(as_of)
    if purchases is None:
        buys = purchase_features(
            tx, items, cutoff, n_categories=n_categories, trend_days=trend_days,
            spend_mix=spend_mix,
        )
    else:
        buys = purchases

    joined = (
        timestamps_ns(members["joined_at"], "joined_at")
        if "joined_at" in members
        else np.full(len(members), NAT)
    )
    # Match buyers to member rows once; everything else is positional.
    row_of_buyer = positions(buys.index, members["member_id"])
    buyer_of_row = np.full(len(members), -1, dtype=np.int64)
    listed = row_of_buyer >= 0
    buyer_of_row[row_of_buyer[listed]] = np.flatnonzero(listed)
    known = joined != NAT
    rows = np.flatnonzero(np.where(known, joined < cutoff.value, buyer_of_row >= 0))
    extra = np.flatnonzero(~listed)
    index = pd.Index(
        pd.concat(
            [members["member_id"].astype("str").iloc[rows], buys.index.to_series().iloc[extra]],
            ignore_index=True,
        ),
        dtype="str",
        name="member_id",
    )
    out = _take_rows(buys, np.concatenate([buyer_of_row[rows], extra]), index)
    for col in ZERO_WITHOUT_PURCHASES:
        out[col] = out[col].fillna(0.0)
    joined_days = np.full(len(index), np.nan)
    joined_days[: len(rows)] = np.where(
        known[rows], (cutoff.value - joined[rows]) / NS_PER_DAY, np.nan
    )
    tenure = np.where(np.isnan(joined_days), out["first_purchase_days"], joined_days)
    out.insert(RFM_COLUMNS.index("first_purchase_days"), "tenure_days", tenure)

    if offer_counts is None:
        offers = offer_history_features(tables.get("offer_events"), index, cutoff)
    else:
        offers = offer_history_from_counts(offer_counts, index, cutoff)
    offers["coupon_share"] = safe_divide(offers["offers_redeemed"], out["frequency"])
    profile = _take_rows(
        profile_features(members, cutoff), np.r_[rows, np.full(len(extra), -1)], index
    )
    coupons = (coupon_features(tx, cutoff, index) if coupon_counts is None
               else coupon_columns(coupon_counts, index))
    parts = [out, offers] if coupons is None else [out, offers, coupons]
    result = pd.concat([*parts, profile], axis=1)
    logger.info(
        "member features as of %s: %d members x %d columns in %.1fs",
        cutoff, len(result), result.shape[1], time.perf_counter() - started,
    )
    return result


def _tables(obj) -> dict[str, pd.DataFrame | None]:
    """The four tables of a Dataset or a mapping; transactions and items are required."""
    names = ("transactions", "items", "members", "offer_events")
    if isinstance(obj, Mapping):
        tables = {n: obj.get(n) for n in names}
    else:
        tables = {n: getattr(obj, n, None) for n in names}
    missing = [n for n in names[:2] if tables[n] is None]
    if missing:
        raise DataError(
            f"missing table(s) {missing}; pass a Dataset or a mapping with "
            "'transactions' and 'items'."
        )
    return tables


def _take_rows(frame: pd.DataFrame, take: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """Rows ``take`` of ``frame`` (missing values where it is -1), labelled ``index``."""
    return pd.DataFrame(
        {c: frame[c].array.take(take, allow_fill=True) for c in frame.columns}, index=index
    )

"""How much a member uses coupons at the till, as of a cutoff.

Read from the optional ``coupon_discount`` column of ``transactions`` (the
discount a coupon gave on the line; the Complete Journey's ``coupon_disc``):
a member who redeems coupons in their shopping redeems a mailed campaign's
coupons too, the strongest signal of redemption measured on the Complete
Journey (bench/RESULTS.md, issue 12). Data without the column get no coupon
features (:func:`coupon_features` returns None).

Columns, from lines strictly before the cutoff:

- ``coupon_lines``: purchase lines with a coupon discount (0 for a buyer without one);
- ``coupon_basket_share``: share of the member's baskets with such a line;
- ``days_since_coupon``: days since the last such line (NaN: none).

Members without purchases before the cutoff get 0, NaN, NaN. The relational
engines count on their lines (:mod:`features.relational.coupons`) and derive the
columns with :func:`coupon_columns`, as here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.code_groups import NAT, NS_PER_DAY, distinct_pair_counts, group_max, group_sum
from features.first_seen import distinct_before

#: The optional transactions column read (features.contract.TRANSACTIONS).
COUPON_COLUMN = "coupon_discount"
#: The features, in column order.
COUPON_FEATURES = ("coupon_lines", "coupon_basket_share", "days_since_coupon")


def coupon_features(transactions: pd.DataFrame, cutoff: pd.Timestamp,
                    index: pd.Index) -> pd.DataFrame | None:
    """Coupon use of the members of ``index`` from lines before ``cutoff``, or None when
    ``transactions`` have no :data:`COUPON_COLUMN`.

    Parameters
    ----------
    transactions : DataFrame
        Canonical transactions (``member_id`` categorical, ``timestamp``, ``basket_id``
        as int64 codes, and :data:`COUPON_COLUMN`).
    cutoff : Timestamp
        Naive UTC; only lines strictly before it count.
    index : Index of str
        The member ids of the result's rows.
    """
    if COUPON_COLUMN not in transactions.columns:
        return None
    ts = transactions["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")
    before = ts < cutoff.value
    members = transactions["member_id"]
    if not isinstance(members.dtype, pd.CategoricalDtype):
        members = members.astype("category")
    names = members.cat.categories.astype(str)
    n = len(names)
    member = members.cat.codes.to_numpy()[before].astype(np.int64)
    coupon = np.abs(np.nan_to_num(
        transactions[COUPON_COLUMN].to_numpy(dtype="float64", na_value=np.nan)[before])) > 0
    lines = group_sum(member[coupon], n)
    baskets, coupon_baskets = _basket_counts(transactions, members, ts, before, coupon, n,
                                             cutoff)
    last = group_max(member[coupon], n, ts[before][coupon])
    with np.errstate(invalid="ignore"):
        days = np.where(last != NAT, (cutoff.value - last) / NS_PER_DAY, np.nan)
    counts = pd.DataFrame({"coupon_lines": lines, "coupon_baskets": coupon_baskets,
                           "baskets": baskets, "days_since_coupon": days},
                          index=pd.Index(names, dtype="str"))
    return coupon_columns(counts, index)


def _basket_counts(transactions, members, ts, before, coupon, n, cutoff):
    """Distinct baskets per member before ``cutoff``, all and with a coupon.

    With categorical member ids, integer basket codes and a float coupon column (the
    loader's), from the frame's pairs kept across cutoffs (:mod:`features.first_seen`);
    else by sorting the lines before ``cutoff``.
    """
    basket_all = transactions["basket_id"].to_numpy()
    column = transactions[COUPON_COLUMN].to_numpy()
    kept_ids = isinstance(transactions["member_id"].dtype, pd.CategoricalDtype)  # else fresh
    if kept_ids and np.issubdtype(basket_all.dtype, np.integer) and column.dtype == np.float64:
        codes = members.array.codes
        with np.errstate(invalid="ignore"):
            used = np.abs(np.nan_to_num(column)) > 0
        return (distinct_before(transactions, "member_basket", codes, basket_all, ts, n,
                                cutoff.value),
                distinct_before(transactions, "member_coupon_basket", codes, basket_all, ts,
                                n, cutoff.value, rows=used, rows_source=column))
    basket, uniques = pd.factorize(basket_all[before])
    basket = basket.astype(np.int64)
    member = members.cat.codes.to_numpy()[before].astype(np.int64)
    return (distinct_pair_counts(member, basket, n, len(uniques)),
            distinct_pair_counts(member[coupon], basket[coupon], n, len(uniques)))


def coupon_columns(counts: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """The :data:`COUPON_FEATURES` of the members of ``index`` from per-member counts.

    The one definition of the columns from the counts, for pandas
    (:func:`coupon_features`) and the relational engines
    (:func:`features.relational.coupons.coupon_counts`). ``counts`` is indexed by
    member id (str; members missing from it have no purchases before the cutoff)
    with ``coupon_lines``, ``coupon_baskets`` (distinct baskets with a coupon
    line), ``baskets`` (distinct baskets) and ``days_since_coupon`` (days from the
    last coupon line to the cutoff; NaN: none).
    """
    lines = counts["coupon_lines"].to_numpy(dtype="float64", na_value=np.nan)
    coupon_baskets = counts["coupon_baskets"].to_numpy(dtype="float64", na_value=np.nan)
    baskets = counts["baskets"].to_numpy(dtype="float64", na_value=np.nan)
    days = counts["days_since_coupon"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(baskets > 0, coupon_baskets / baskets, np.nan)
    frame = pd.DataFrame({"coupon_lines": lines, "coupon_basket_share": share,
                          "days_since_coupon": np.where(lines > 0, days, np.nan)},
                         index=pd.Index(counts.index, dtype="str"))
    out = frame.reindex(pd.Index(index, dtype="str"))
    out["coupon_lines"] = out["coupon_lines"].fillna(0.0)
    return out

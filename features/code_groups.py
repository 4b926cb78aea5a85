"""Fast grouped reductions on integer codes, and the feature cutoff.

The feature builders (:mod:`features.purchase_features`,
:mod:`features.item_features`, ...) reduce tens of millions of transaction
lines per call. pandas ``groupby`` hashes its keys; here the keys are already
dense integer codes (categorical codes, basket codes), so sums are
``np.bincount``/``np.add.at`` and distinct counts are one in-place sort.

Private helpers of the feature modules: inputs are assumed clean (codes are
non-negative and below the group count) unless a function says otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.errors import ConfigError, DataError

NS_PER_DAY = 86_400 * 10**9
#: The int64 view of ``NaT``.
NAT = np.iinfo(np.int64).min
#: Largest dense ``groups x columns`` matrix built in one piece (cells).
DENSE_LIMIT = 50_000_000


def to_cutoff(as_of) -> pd.Timestamp:
    """The feature cutoff as a naive UTC nanosecond timestamp.

    Parameters
    ----------
    as_of : str, datetime or Timestamp
        Only rows strictly before this instant are used. Time-zone aware
        values are converted to UTC; naive values are taken as UTC.

    Raises
    ------
    ConfigError
        When ``as_of`` is missing or cannot be read as a timestamp.

    >>> to_cutoff("2024-03-01T09:00:00+09:00")
    Timestamp('2024-03-01 00:00:00')
    """
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"as_of={as_of!r} is not a timestamp; pass e.g. '2024-01-01'.") from exc
    if ts is pd.NaT:
        raise ConfigError("as_of is missing (NaT); pass the cutoff, e.g. '2024-01-01'.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("ns")


def timestamps_ns(values: pd.Series, name: str = "timestamp") -> np.ndarray:
    """A datetime column as int64 nanoseconds since the epoch (naive UTC; NaT is :data:`NAT`)."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(dtype):
        raise DataError(f"column '{name}' must hold timestamps (datetime64), got {dtype}.")
    arr = values.to_numpy()
    return arr.astype("datetime64[ns]", copy=False).view(np.int64)


def category_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and their labels; categorical columns are used as they are.

    Missing values get code -1.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array.codes, values.cat.categories  # a view: no copy
    codes, labels = pd.factorize(values, sort=True)
    return codes, pd.Index(labels)


def group_sum(codes: np.ndarray, n_groups: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of ``weights`` (or count of rows) per code, shape ``(n_groups,)``.

    ``np.bincount`` casts its input to ``intp`` (a full copy); narrower codes go
    through ``np.add.at``, which reads them as they are.
    """
    if codes.dtype == np.intp:
        return np.bincount(codes, weights=weights, minlength=n_groups).astype(
            np.float64 if weights is not None else np.int64, copy=False
        )
    if weights is None:
        out = np.zeros(n_groups, dtype=np.int64)
        np.add.at(out, codes, 1)
    else:
        out = np.zeros(n_groups, dtype=np.float64)
        np.add.at(out, codes, weights)
    return out


def group_max(codes: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Largest int64 value per code; :data:`NAT` (int64 minimum) for empty groups."""
    out = np.full(n_groups, NAT, dtype=np.int64)
    np.maximum.at(out, codes, values)
    return out


def group_min(codes: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Smallest int64 value per code; int64 maximum for empty groups."""
    out = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, codes, values)
    return out


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Distinct values of an int64 array, ascending. Sorts ``keys`` in place."""
    keys.sort()
    if len(keys) == 0:
        return keys
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return keys[first]


def pair_keys(a: np.ndarray, b: np.ndarray, n_b: int) -> np.ndarray:
    """``a * n_b + b`` as a new int64 array (one key per ``(a, b)`` pair)."""
    keys = a.astype(np.int64)
    keys *= n_b
    keys += b
    return keys


def distinct_pair_counts(a: np.ndarray, b: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    """Number of distinct ``b`` per ``a``, shape ``(n_a,)`` (int64).

    >>> distinct_pair_counts(np.array([0, 0, 0, 2]), np.array([5, 5, 1, 5]), 3, 6)
    array([2, 0, 1])
    """
    unique = sorted_unique(pair_keys(a, b, n_b))
    return np.bincount(unique // n_b, minlength=n_a)


def pair_sums(a: np.ndarray, b: np.ndarray, n_a: int, n_b: int, weights: np.ndarray) -> np.ndarray:
    """Dense ``(n_a, n_b)`` matrix of ``weights`` summed per ``(a, b)`` pair.

    Raises
    ------
    DataError
        When the matrix would exceed :data:`DENSE_LIMIT` cells.
    """
    if n_a * n_b > DENSE_LIMIT:
        raise DataError(
            f"{n_a} groups x {n_b} columns = {n_a * n_b} cells is more than the "
            f"{DENSE_LIMIT} a dense feature matrix may hold; use fewer categories."
        )
    keys = pair_keys(a, b, n_b)
    return np.bincount(keys, weights=weights, minlength=n_a * n_b).reshape(n_a, n_b)


def group_median(codes: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Median of non-negative ``values`` per code; NaN for empty groups.

    One in-place sort of packed keys: the code in the high bits, the float's
    bit pattern (which orders like the float for values >= 0) in the low bits.
    The lowest bits of the float are dropped to make room, so results carry a
    relative error below ``2 ** -(52 - bits(n_groups))`` (1e-9 for 100,000
    groups), then are rounded to 9 significant digits.

    >>> group_median(np.array([0, 0, 0, 1, 1]), 3, np.array([3.0, 1.0, 2.0, 4.0, 5.5]))
    array([2.  , 4.75,  nan])
    """
    shift = max(int(n_groups).bit_length(), 1)
    keys = codes.astype(np.int64)
    keys <<= 63 - shift
    keys |= values.astype(np.float64, copy=False).view(np.int64) >> shift
    keys.sort()
    counts = group_sum(codes, n_groups)
    start = np.cumsum(counts) - counts
    has = counts > 0
    mask = (np.int64(1) << (63 - shift)) - 1

    def decode(pos: np.ndarray) -> np.ndarray:
        return ((keys[pos] & mask) << shift).view(np.float64)

    out = np.full(n_groups, np.nan)
    lo, hi = start[has] + (counts[has] - 1) // 2, start[has] + counts[has] // 2
    out[has] = round_significant((decode(lo) + decode(hi)) / 2, 9)
    return out


def round_significant(x: np.ndarray, digits: int) -> np.ndarray:
    """Round each value to ``digits`` significant digits (zeros stay zero)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(x)))
    mag = np.where(np.isfinite(mag), mag, 0.0)
    scale = 10.0 ** (digits - 1 - mag)
    return np.round(x * scale) / scale


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float64, NaN where ``den`` is 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def column_names(prefix: str, labels, reserved: tuple[str, ...] = ()) -> list[str]:
    """Snake-case column names ``prefix + label`` that are unique.

    Labels are lower-cased and every run of non-word characters becomes ``_``
    (Unicode letters are kept); a name already taken gets ``_2``, ``_3``, ...

    >>> column_names("dept_share__", ["MEAT-PCKGD", "Meat pckgd", "Other"], reserved=("other",))
    ['dept_share__meat_pckgd', 'dept_share__meat_pckgd_2', 'dept_share__other_2']
    """
    used = set(reserved)
    names = []
    for label in labels:
        base = re.sub(r"\W+", "_", str(label).lower()).strip("_") or "blank"
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        names.append(prefix + name)
    return names


@dataclass
class Lines:
    """Transaction lines strictly before a cutoff, as aligned arrays.

    ``member`` and ``item`` are codes into ``member_labels`` and
    ``item_labels``; ``timestamp`` is int64 nanoseconds; ``values`` holds the
    requested numeric columns as float64.
    """

    member: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    values: dict[str, np.ndarray]
    member_labels: pd.Index
    item_labels: pd.Index
    basket: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.member)


def lines_before(
    transactions: pd.DataFrame,
    cutoff: pd.Timestamp,
    numeric: tuple[str, ...] = ("amount",),
    *,
    basket: bool = False,
) -> Lines:
    """The lines of ``transactions`` whose timestamp is strictly before ``cutoff``.

    Parameters
    ----------
    transactions : DataFrame
        Canonical transactions (see :mod:`features.dataset`); ``member_id`` and
        ``item_id`` may also be plain columns (they are then factorized).
    cutoff : Timestamp
        From :func:`to_cutoff`.
    numeric : tuple of str
        Numeric columns to return; a missing ``discount`` is read as 0.
    basket : bool
        Also return ``basket_id`` codes (without the column, a basket is a
        member's lines at one timestamp, as the loader defines it).

    Raises
    ------
    DataError
        When a needed column is missing or ``timestamp`` is not a datetime.
    """
    needed = ["member_id", "item_id", "timestamp", *(c for c in numeric if c != "discount")]
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        raise DataError(f"transactions lack column(s) {missing}; they are required here.")
    ts = timestamps_ns(transactions["timestamp"])
    member, member_labels = category_codes(transactions["member_id"])
    item, item_labels = category_codes(transactions["item_id"])
    n = len(ts)
    values = {}
    for c in numeric:
        v = transactions[c].to_numpy(dtype=np.float64) if c in transactions else np.zeros(n)
        values[c] = np.nan_to_num(v, nan=0.0) if np.isnan(np.sum(v)) else v
    basket_codes = None
    if basket:
        if "basket_id" in transactions.columns:
            basket_codes = transactions["basket_id"].to_numpy()
            if not np.issubdtype(basket_codes.dtype, np.integer):
                basket_codes = pd.factorize(basket_codes)[0]
        else:
            basket_codes = pd.factorize(pair_keys(member, pd.factorize(ts)[0], n + 1))[0]
    keep = ts < cutoff.value
    if n and min(ts.min(), member.min(), item.min()) < 0:  # NaT or missing ids: rare
        keep &= (ts != NAT) & (member >= 0) & (item >= 0)
    if not keep.all():
        ts, member, item = ts[keep], member[keep], item[keep]
        values = {c: v[keep] for c, v in values.items()}
        basket_codes = None if basket_codes is None else basket_codes[keep]
    return Lines(member, item, ts, values, member_labels, item_labels, basket_codes)


def positions(values, labels) -> np.ndarray:
    """Position of each of ``values`` in ``labels``, -1 where absent (int64).

    Like ``pd.Index(labels).get_indexer(values)`` for string ids, but with
    pyarrow's hash kernel, several times faster on the Arrow-backed strings
    pandas uses. Categorical ``values`` are matched through their categories.
    Both are compared as strings; ``labels`` should be unique.

    >>> positions(pd.Series(["b", "x", "a", "b"]), pd.Index(["a", "b"]))
    array([ 1, -1,  0,  1])
    """
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat = values.array if isinstance(values, pd.Series) else values
        by_category = np.append(positions(cat.categories, labels), -1)
        return by_category[np.asarray(cat.codes)]
    found = pc.index_in(_arrow_strings(values), value_set=_arrow_strings(labels))
    return pc.fill_null(found, -1).to_numpy().astype(np.int64, copy=False)


def _arrow_strings(values) -> pa.Array:
    """``values`` (Series, Index, array or list) as an Arrow large_string array."""
    arr = values.array if isinstance(values, (pd.Series, pd.Index)) else pd.array(values)
    if not (isinstance(arr.dtype, pd.StringDtype) and arr.dtype.storage == "pyarrow"):
        arr = pd.Series(arr).astype("str").array
    out = pa.array(arr)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    return out.cast(pa.large_string())

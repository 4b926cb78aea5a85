"""Parsing raw table columns into canonical types, collecting every problem.

Public entry point: :func:`parse_table`, which returns the parsed frame and
the list of problems found (an empty list means the table is valid on its
own). Checks across tables (items referenced by transactions) live in
:mod:`features.loading`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.bands import band_numbers
from features.contract import BAND, BOOL, DATE, EVENT_TYPES, ID, NUMBER, TEXT, TIMESTAMP
from features.errors import Problem
from features.reading import MAX_BAD_LINES_SHOWN, RawTable, partition_note

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})
# In the large tables, ids and text repeat on many rows: they are kept as categoricals.
LARGE_TABLES = frozenset({"transactions", "offer_events"})
# Ids that are only used to group rows; integer columns are kept as integers.
OPAQUE_KEYS = {("transactions", "basket_id")}


def _is_integer(col: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(col.dtype) and not isinstance(
        col.dtype, pd.CategoricalDtype
    )


def problem_at(raw: RawTable, column: str | None, mask, values, message: str) -> Problem:
    """A problem for the rows where boolean ``mask`` is true, showing the first few."""
    mask = np.asarray(mask, dtype=bool)
    positions = np.flatnonzero(mask)
    shown = positions[:MAX_BAD_LINES_SHOWN]
    vals = np.asarray(values, dtype=object)[shown] if values is not None else ()
    return Problem(
        raw.path.name,
        message,
        column=column,
        rows=raw.row_numbers(shown),
        values=tuple(str(v) for v in vals),
        count=int(len(positions)),
        row_label=raw.row_label,
    )


def parse_table(raw: RawTable) -> tuple[pd.DataFrame, list[Problem]]:
    """Check columns and parse every contract column of ``raw`` into its canonical type.

    Columns outside the contract are kept unchanged. Returns the parsed frame
    and the problems found; the frame is only meaningful when there are none.
    """
    table, frame = raw.table, raw.frame
    problems: list[Problem] = []
    if len(frame) == 0:
        problems.append(Problem(raw.path.name, "the table has no rows; it must not be empty."))
    missing = [c for c in table.required_columns if c not in frame.columns]
    if missing:
        problems.append(
            Problem(
                raw.path.name,
                f"missing required column(s) {', '.join(missing)}; the file has "
                f"{', '.join(map(str, frame.columns)) or 'no columns'}."
                + partition_note(raw.path, missing),
            )
        )
    if problems:
        return frame, problems
    out = {}
    for name in frame.columns:
        spec = next((c for c in table.columns if c.name == name), None)
        if spec is None:
            out[name] = frame[name]
            continue
        parsed, found = _parse_column(raw, spec.name, spec.kind, spec.required)
        out[name] = parsed
        problems += found
    parsed_frame = pd.DataFrame(out, index=frame.index, copy=False)
    if table.key and not problems:
        problems += _check_unique(raw, parsed_frame, table.key)
    if table.name == "offer_events" and not problems:
        bad = ~parsed_frame["event"].isin(EVENT_TYPES)
        if bad.any():
            problems.append(
                problem_at(
                    raw, "event", bad, parsed_frame["event"],
                    f"unknown event type; use one of {', '.join(EVENT_TYPES)}.",
                )
            )
    if table.name == "offers" and not problems:
        problems += _check_offers(raw, parsed_frame)
    return parsed_frame, problems


def _check_offers(raw: RawTable, frame: pd.DataFrame) -> list[Problem]:
    """Depths are shares in [0, 1] and validity spans positive day counts."""
    found = []
    if "depth" in frame:
        depth = frame["depth"]
        bad = depth.notna() & ~depth.between(0.0, 1.0)
        if bad.any():
            found.append(problem_at(
                raw, "depth", bad, depth,
                "depth is the share of the price taken off, between 0 and 1; write 20% as "
                "0.2 (leave it empty when the offer has no depth).",
            ))
    if "valid_days" in frame:
        days = frame["valid_days"]
        bad = days.notna() & ~(days > 0)
        if bad.any():
            found.append(problem_at(
                raw, "valid_days", bad, days,
                "valid_days is how many days the offer can be redeemed after it is sent; "
                "it must be positive (leave it empty for the default).",
            ))
    return found


def _parse_column(raw: RawTable, name: str, kind: str, required: bool):
    col = raw.frame[name]
    problems: list[Problem] = []
    missing = col.isna()
    if kind == ID and (raw.table.name, name) in OPAQUE_KEYS and _is_integer(col):
        parsed = col  # only grouped on, never shown: skip the costly conversion to strings
    elif kind in (ID, TEXT) and raw.table.name in LARGE_TABLES:
        parsed = _string_categorical(col)
        missing = parsed.isna()
    elif kind == ID:
        parsed = _ids_to_str(_integral_floats_to_int(col))
        missing = parsed.isna()
    elif kind in (TIMESTAMP, DATE):
        parsed = _parse_timestamps(col)
        if kind == DATE:
            parsed = parsed.dt.normalize()
        bad = parsed.isna() & ~missing
        if bad.any():
            problems.append(
                problem_at(
                    raw, name, bad, col,
                    "unparsable timestamp; use ISO 8601 such as 2024-03-31 or "
                    "2024-03-31T14:05:00Z.",
                )
            )
    elif kind == NUMBER:
        parsed = pd.to_numeric(col, errors="coerce").astype("float64")
        bad = (parsed.isna() & ~missing) | ~np.isfinite(parsed.fillna(0.0))
        if bad.any():
            problems.append(
                problem_at(raw, name, bad, col, "not a number; write plain decimals like 12.5.")
            )
    elif kind == BAND:
        values, bad = band_numbers(col)
        parsed = pd.Series(values, index=col.index, dtype="float64")
        if bad.any():
            problems.append(
                problem_at(
                    raw, name, bad, col,
                    "not a number or a band of numbers; write 34, 35-44, 65+ or Under 15K "
                    "(leave it empty, or write unknown, when it is not known).",
                )
            )
    elif kind == BOOL:
        parsed, bad = _parse_bools(col)
        if bad.any():
            problems.append(
                problem_at(
                    raw, name, bad, col, "not a yes/no value; use true/false, yes/no or 1/0."
                )
            )
    else:
        parsed = col.astype("string").str.strip()
        missing = parsed.isna() | (parsed == "")
        parsed = parsed.mask(missing, pd.NA)
    if required and missing.any():
        problems.append(
            problem_at(raw, name, missing, col, "missing value in a required column; fill it in.")
        )
    return parsed, problems


def _integral_floats_to_int(col: pd.Series) -> pd.Series:
    """Float ids such as 1029.0 (ints with gaps in a file) back to integers."""
    if pd.api.types.is_float_dtype(col.dtype) and np.all(np.mod(col.dropna(), 1) == 0):
        return col.astype("Int64")
    return col


def _string_categorical(col: pd.Series) -> pd.Series:
    """A categorical of stripped strings (ids as decimal strings, empty = missing).

    Works on the distinct values only, so it is cheap on 100M-row columns.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, uniques = col.cat.codes.to_numpy(), pd.Series(col.cat.categories)
    elif isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":
        codes, uniques = _arrow_factorize(col)
    else:
        codes, uniques = pd.factorize(_integral_floats_to_int(col), use_na_sentinel=True)
        uniques = pd.Series(uniques)
    text = _ids_to_str(_integral_floats_to_int(uniques))
    # Stripping can merge values (" 7" and "7") and empty strings become missing.
    merged, categories = pd.factorize(text, use_na_sentinel=True)
    remap = np.append(merged, -1).astype(np.int32)
    cat = pd.Categorical.from_codes(remap[codes], categories=pd.Index(categories, dtype="str"))
    return pd.Series(cat, index=col.index, name=col.name)


def _arrow_factorize(col: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``pd.factorize`` of an Arrow-backed string column by Arrow's hash kernel (much faster)."""
    arr = pa.array(col.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = pc.dictionary_encode(arr)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    uniques = pd.Series(encoded.dictionary.to_pandas()).astype(col.dtype)
    return codes.astype(np.int64, copy=False), uniques


def _ids_to_str(col: pd.Series) -> pd.Series:
    out = col.astype("string").str.strip()
    return out.mask(out == "", pd.NA)


def _parse_timestamps(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        parsed = col
        if getattr(col.dt, "tz", None) is not None:
            parsed = col.dt.tz_convert("UTC")
    else:
        parsed = pd.to_datetime(col, format="ISO8601", utc=True, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def _parse_bools(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("boolean"), pd.Series(False, index=col.index)
    text = col.astype("string").str.strip().str.lower()
    truth = pd.Series(pd.NA, index=col.index, dtype="boolean")
    truth[text.isin(TRUE_WORDS).fillna(False)] = True
    truth[text.isin(FALSE_WORDS).fillna(False)] = False
    bad = truth.isna() & text.notna() & (text != "")
    return truth, bad.astype(bool)


def _check_unique(raw: RawTable, frame: pd.DataFrame, key: str) -> list[Problem]:
    dup = frame[key].duplicated(keep=False)
    if not dup.any():
        return []
    n_ids = frame.loc[dup, key].nunique()
    return [
        problem_at(
            raw, key, dup, frame[key],
            f"duplicate ids ({n_ids} ids appear more than once); each {key} must appear once.",
        )
    ]

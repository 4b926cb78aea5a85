"""Parsing raw table columns into canonical types, collecting every problem.

Public entry point: :func:`parse_table`, which returns the parsed frame and
the list of problems found (an empty list means the table is valid on its
own). Checks across tables (items referenced by transactions) live in
:mod:`features.loading`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import BOOL, DATE, EVENT_TYPES, ID, NUMBER, TIMESTAMP
from features.errors import Problem
from features.reading import MAX_BAD_LINES_SHOWN, RawTable

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})
CATEGORICAL_IDS = {("transactions", "member_id"), ("transactions", "item_id")}


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
                f"{', '.join(map(str, frame.columns)) or 'no columns'}.",
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
    parsed_frame = pd.DataFrame(out, index=frame.index)
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
    return parsed_frame, problems


def _parse_column(raw: RawTable, name: str, kind: str, required: bool):
    col = raw.frame[name]
    problems: list[Problem] = []
    missing = col.isna()
    if kind == ID:
        parsed = _parse_ids(col, categorical=(raw.table.name, name) in CATEGORICAL_IDS)
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


def _parse_ids(col: pd.Series, categorical: bool) -> pd.Series:
    """Ids as strings; integers (and integral floats) become their decimal string."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        if not pd.api.types.is_string_dtype(cats.dtype):
            cats = _ids_to_str(pd.Series(cats)).array
        col = col.cat.rename_categories(list(cats))
        return col if categorical else col.astype("string")
    if pd.api.types.is_float_dtype(col.dtype):
        if np.all(np.mod(col.dropna(), 1) == 0):
            col = col.astype("Int64")
    if categorical:
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        cats = _ids_to_str(pd.Series(uniques)).array
        return pd.Series(pd.Categorical.from_codes(codes, categories=list(cats)), index=col.index)
    return _ids_to_str(col)


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

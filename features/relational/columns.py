"""Parsing a contract column in SQL: the relational twin of :mod:`features.validation`.

For each contract column of a large table (transactions, offer events) a
:class:`ParsedColumn` gives the SQL of its canonical value and of the checks
:func:`features.validation.parse_table` makes on it, in the same order and
with the same messages, so the two loaders report the same problems. The
expressions read the raw column as ``r_<name>`` and the parsed value as
``v_<name>`` (see :func:`parse_select`).
"""

from __future__ import annotations

from dataclasses import dataclass

from features.contract import DATE, ID, NUMBER, TEXT, TIMESTAMP, Column
from features.relational.scan import Scan, quote
from features.validation import OPAQUE_KEYS

# Python's str.strip() whitespace, for DuckDB's trim (which strips spaces only by default).
# A literal (an expression like chr(9) || ... would be evaluated on every row).
_WS = "' \t\n\x0b\x0c\r'"
_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
_FLOAT = ("FLOAT", "DOUBLE", "REAL")
MISSING = "missing value in a required column; fill it in."
TIMESTAMP_MESSAGE = "unparsable timestamp; use ISO 8601 such as 2024-03-31 or 2024-03-31T14:05:00Z."
NUMBER_MESSAGE = "not a number; write plain decimals like 12.5."


@dataclass(frozen=True)
class Check:
    """Rows where ``condition`` holds are a problem with ``message``, showing ``shown``."""

    column: str
    condition: str
    message: str
    shown: str


@dataclass(frozen=True)
class ParsedColumn:
    """The SQL of one contract column: its canonical value and its checks."""

    name: str
    value: str  # over r_<name>
    checks: tuple[Check, ...]
    plain: str | None = None  # a cheaper value, equal to ``value`` on rows that need no parsing
    text: bool = False  # text parsed by stripping only: checked on its distinct values

    @property
    def needs_parsing(self) -> str | None:
        """The rows where ``plain`` differs from ``value`` (None: ``plain`` is not offered)."""
        if self.plain is None:
            return None
        return f"{self.plain} IS DISTINCT FROM {v(self.name)}"


def r(name: str) -> str:
    return quote(f"r_{name}")


def v(name: str) -> str:
    return quote(f"v_{name}")


def shown_raw(name: str, kind: str = "VARCHAR") -> str:
    """The raw value as the pandas loader shows it (missing: ``nan``, or ``NaT`` for times)."""
    absent = "NaT" if kind.startswith("TIMESTAMP") or kind == "DATE" else "nan"
    return f"coalesce(CAST({r(name)} AS VARCHAR), '{absent}')"


def is_integer_type(kind: str) -> bool:
    return kind in _INTEGER


def is_float_type(kind: str) -> bool:
    return kind in _FLOAT or kind.startswith("DECIMAL")


def parse_column(scan: Scan, spec: Column, integral_floats: bool = False) -> ParsedColumn:
    """The canonical value and checks of ``spec`` in ``scan`` (which must have the column).

    ``integral_floats``: the column is floating point with only whole numbers (ids
    such as ``1029.0``), which the pandas loader turns back into integers.
    """
    name, kind, raw = spec.name, scan.types[spec.name], r(spec.name)
    checks: list[Check] = []
    plain = None
    missing = f"{v(name)} IS NULL"
    if spec.kind == ID and (scan.table.name, name) in OPAQUE_KEYS and is_integer_type(kind):
        value = f"CAST({raw} AS BIGINT)"  # only grouped on: kept as an integer
    elif spec.kind in (ID, TEXT):
        value = _id_text(raw, kind, integral_floats)
        plain = raw if kind == "VARCHAR" else None  # text already stripped: used as it is
    elif spec.kind in (TIMESTAMP, DATE):
        value = _timestamp(raw, kind)
        if spec.kind == DATE:
            value = f"date_trunc('day', {value})"
        missing = f"{raw} IS NULL"
        checks.append(Check(name, f"{v(name)} IS NULL AND {raw} IS NOT NULL", TIMESTAMP_MESSAGE,
                            shown_raw(name)))
    elif spec.kind == NUMBER:
        if kind == "VARCHAR":
            value = f"TRY_CAST(trim({raw}, {_WS}) AS DOUBLE)"
            missing = f"{raw} IS NULL"
            bad = f"({v(name)} IS NULL AND {raw} IS NOT NULL) OR NOT isfinite({v(name)})"
        else:
            # NaN in a numeric column is a missing value, as in pandas; infinity is bad.
            as_double = raw if kind == "DOUBLE" else f"TRY_CAST({raw} AS DOUBLE)"
            value = f"CASE WHEN isnan({as_double}) THEN NULL ELSE {as_double} END"
            plain = as_double  # when there is no NaN to turn into NULL
            bad = f"isinf({as_double})"
        checks.append(Check(name, f"coalesce({bad}, false)", NUMBER_MESSAGE, shown_raw(name)))
    else:  # BOOL: only in the members table, which the pandas loader parses
        raise ValueError(f"column kind {spec.kind!r} is not parsed in SQL")
    if spec.required:
        checks.append(Check(name, missing, MISSING, shown_raw(name, kind)))
    return ParsedColumn(name, value, tuple(checks), plain,
                        text=spec.kind in (ID, TEXT) and plain is not None)


def _id_text(raw: str, kind: str, integral_floats: bool) -> str:
    if is_integer_type(kind):
        return f"CAST({raw} AS VARCHAR)"
    if is_float_type(kind) and integral_floats:
        return f"CASE WHEN isnan({raw}) THEN NULL ELSE CAST(CAST({raw} AS BIGINT) AS VARCHAR) END"
    text = raw if kind == "VARCHAR" else f"CAST({raw} AS VARCHAR)"
    return f"NULLIF(trim({text}, {_WS}), '')"


def _timestamp(raw: str, kind: str) -> str:
    """Naive UTC timestamps (the session time zone is UTC)."""
    if kind == "VARCHAR":
        return f"CAST(TRY_CAST(trim({raw}, {_WS}) AS TIMESTAMPTZ) AS TIMESTAMP)"
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"CAST({raw} AS TIMESTAMP)"
    return f"CAST(TRY_CAST(CAST({raw} AS VARCHAR) AS TIMESTAMPTZ) AS TIMESTAMP)"


def parse_select(columns: list[ParsedColumn], source: str, extra: tuple[str, ...] = (),
                 plain: frozenset[str] = frozenset()) -> str:
    """``SELECT`` of every column raw (``r_``) and parsed (``v_``) from view ``source``.

    Columns named in ``plain`` use their cheaper :attr:`ParsedColumn.plain` value
    (the caller has counted that no row needs parsing).
    """
    raws = [f"{quote(c.name)} AS {r(c.name)}" for c in columns]
    inner = f"SELECT {', '.join([*extra, *raws])} FROM {quote(source)}"
    parsed = [f"{c.plain if c.name in plain else c.value} AS {v(c.name)}" for c in columns]
    return f"SELECT *, {', '.join(parsed)} FROM ({inner})"

"""Checking a large table in SQL: counts in one pass, a few sample rows per problem.

The problems are those of :func:`features.validation.parse_table` (plus the
cross-table checks a caller adds as extra :class:`~features.relational.columns.Check`
objects): the counts come from one aggregate over the file, and only for a
problem found does a second query fetch its first rows (in file order) to show.
"""

from __future__ import annotations

from features.contract import ID
from features.errors import Problem
from features.reading import MAX_BAD_LINES_SHOWN, partition_note
from features.relational.columns import (
    Check,
    ParsedColumn,
    is_float_type,
    parse_column,
    parse_select,
    r,
)
from features.relational.scan import ROW, Scan, quote


def structure_problems(db, scan: Scan) -> list[Problem]:
    """Empty table and missing required columns, as :func:`~features.validation.parse_table`.

    Counting the rows of a CSV file reads it; this runs only when a column is
    missing (otherwise the main aggregate counts the rows).
    """
    missing = [c for c in scan.table.required_columns if c not in scan.types]
    if not missing:
        return []
    problems = []
    if count_rows(db, scan) == 0:
        problems.append(no_rows(scan))
    problems.append(Problem(
        scan.path.name,
        f"missing required column(s) {', '.join(missing)}; the file has "
        f"{', '.join(scan.types) or 'no columns'}." + partition_note(scan.path, missing),
    ))
    return problems


def no_rows(scan: Scan) -> Problem:
    return Problem(scan.path.name, "the table has no rows; it must not be empty.")


def count_rows(db, scan: Scan) -> int:
    return int(db.execute(f"SELECT count(*) FROM {quote(scan.raw)}").fetchone()[0])


def parsed_columns(db, scan: Scan) -> list[ParsedColumn]:
    """The contract columns the file has, in file order."""
    out = []
    for name in scan.types:
        spec = next((c for c in scan.table.columns if c.name == name), None)
        if spec is None:
            continue
        integral = spec.kind == ID and _integral_floats(db, scan, name)
        out.append(parse_column(scan, spec, integral))
    return out


def _integral_floats(db, scan: Scan, name: str) -> bool:
    """Whether a floating point column holds whole numbers only (ids written as 1029.0)."""
    if not is_float_type(scan.types[name]):
        return False
    col = quote(name)
    sql = (f"SELECT coalesce(bool_and({col} = floor({col})), true) FROM {quote(scan.raw)} "
           f"WHERE {col} IS NOT NULL AND NOT isnan({col})")
    return bool(db.execute(sql).fetchone()[0])


def sample_rows(db, scan: Scan, select_sql: str, check: Check) -> tuple[tuple, tuple]:
    """The first rows (file order) where ``check`` holds and the values shown for them."""
    sql = (f"SELECT {ROW}, {check.shown} FROM ({select_sql}) WHERE {check.condition} "
           f"ORDER BY {ROW} LIMIT {MAX_BAD_LINES_SHOWN}")
    rows = db.execute(sql).fetchall()
    return tuple(row[0] for row in rows), tuple(str(row[1]) for row in rows)


def problem_of(db, scan: Scan, select_sql: str, check: Check, count: int) -> Problem:
    """The :class:`Problem` of ``count`` rows failing ``check``, with its first rows shown."""
    positions, values = sample_rows(db, scan, select_sql, check)
    return Problem(
        scan.path.name,
        check.message,
        column=check.column,
        rows=scan.row_numbers(positions),
        values=values,
        count=int(count),
        row_label=scan.row_label,
    )


def numbered_select(columns: list[ParsedColumn], scan: Scan, join: str = "",
                    plain: frozenset[str] = frozenset()) -> str:
    """The parsed columns with the file row position ``_row`` (for samples)."""
    return f"SELECT * FROM ({parse_select(columns, scan.rows, (ROW,), plain)}) {join}"


def plain_text_columns(db, scan: Scan, columns: list[ParsedColumn]) -> set[str]:
    """Text columns whose values need no stripping, judged on their distinct values.

    DuckDB keeps Parquet dictionaries, so the distinct values of an id column of
    100M lines cost little; clean exports then skip the per-line string work.
    """
    plain = set()
    for col in columns:
        if not col.text:
            continue
        sql = (f"SELECT count(*) FROM (SELECT DISTINCT {quote(col.name)} AS {r(col.name)} "
               f"FROM {quote(scan.raw)}) WHERE {col.plain} IS DISTINCT FROM {col.value}")
        if db.execute(sql).fetchone()[0] == 0:
            plain.add(col.name)
    return plain

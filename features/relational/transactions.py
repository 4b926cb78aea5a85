"""The transactions table read, checked and cleaned by DuckDB: lines never come into Python.

:func:`check_transactions` runs one aggregate over the file that counts every
problem of :func:`features.validation.parse_table` and every rule of
:func:`features.cleaning.clean_transactions`; the unknown items of
:func:`features.loading.load_dataset` (and members missing from the members
file) are found on distinct ids, and sample rows are fetched only for the
problems found. :func:`lines_view` then defines the canonical lines
(:mod:`features.relational.tables`: ``member_id``, ``item_id``, ``ts_us``,
``basket_id``, ``quantity``, ``amount``, ``discount``, and ``coupon_discount``
when the file has it) as a view over the file with the cleaning applied, so
every feature query streams the file again.

Cleaning as one predicate: the rules drop returns (quantity or amount < 0),
zero quantities, zero amounts and future lines, in that order, so a kept line
is one with quantity > 0, amount > 0 and timestamp <= now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from features.cleaning import CleaningPolicy
from features.dataset import CleaningReport
from features.errors import Problem
from features.relational.checks import (
    no_rows,
    numbered_select,
    parsed_columns,
    plain_text_columns,
    problem_of,
)
from features.relational.columns import (
    Check,
    ParsedColumn,
    is_integer_type,
    parse_select,
    v,
)
from features.relational.scan import ROW, Scan, quote
from features.relational.tables import OPTIONAL_TX_COLUMNS

KNOWN_ITEMS = "known_items"
LINES = "transactions_lines"
LISTED = "listed_members"
UNKNOWN = f'{v("item_id")} IS NOT NULL AND k_item IS NULL'
# The drop rules in the order features.cleaning applies them (each counts rows not yet dropped).
_Q, _A = v("quantity"), v("amount")
_RETURNS = f"({_Q} < 0 OR {_A} < 0)"
_KEPT = f"({_Q} > 0 AND {_A} > 0 AND ts_us <= $now)"


@dataclass
class Checked:
    """What one pass over the transactions found."""

    problems: list[Problem]  # of the table itself
    rows: int
    columns: list[ParsedColumn]
    counts: dict[str, int]
    across: list[Problem] = field(default_factory=list)  # unknown items
    plain: frozenset[str] = frozenset()  # columns no row of which needs parsing


def check_transactions(db, scan: Scan, items: pd.DataFrame | None, now: pd.Timestamp,
                       policy: CleaningPolicy, listed: pd.Series | None = None) -> Checked:
    """Count problems and cleaning rules of the transactions in ``scan`` in one pass.

    ``items`` (parsed items, or None when they could not be read) enables the
    unknown-items check, as in the pandas loader. ``listed``: the member ids of
    the members file; ids of other members are counted (``unlisted_ids``).
    Both compare distinct ids first (cheap on Parquet dictionaries): rows are
    only joined when some id is unknown.
    """
    columns = parsed_columns(db, scan)
    checks = [check for col in columns for check in col.checks]
    plain = plain_text_columns(db, scan, columns)
    cleaning = _cleaning_counts(scan, policy)
    cleaning.update({f"parse:{c.name}": c.needs_parsing for c in columns
                     if c.needs_parsing and not c.text})
    aggregates = [f"count(*) FILTER (WHERE {c.condition})" for c in checks]
    aggregates += [f"count(*) FILTER (WHERE {cond})" for cond in cleaning.values()]
    parsed = parse_select(columns, scan.raw, plain=plain)
    sql = (f"SELECT count(*), {', '.join(aggregates)} FROM "
           f"(SELECT *, {_ts_us()} AS ts_us FROM ({parsed}))")
    found = db.execute(sql, {"now": _now_us(now)}).fetchone()
    rows, counts = int(found[0]), [int(x) for x in found[1:]]
    if rows == 0:
        return Checked([no_rows(scan)], 0, columns, {})
    numbered = numbered_select(columns, scan)
    problems = [problem_of(db, scan, numbered, c, n) for c, n in zip(checks, counts) if n]
    cleaned = dict(zip(cleaning, counts[len(checks):]))
    plain |= {k.removeprefix("parse:") for k, n in cleaned.items()
              if k.startswith("parse:") and n == 0}
    across = []
    if items is not None and "item_id" in items:
        known = scan.named(KNOWN_ITEMS)
        _register_ids(db, known, items["item_id"], "item_id")
        n_ids = _distinct_outside(db, parsed, "item_id", known)
        if n_ids:  # a check across tables: reported after every table's own problems
            check = Check("item_id", UNKNOWN, _unknown_message(n_ids), v("item_id"))
            join = (f"LEFT JOIN (SELECT item_id AS k_item FROM {quote(known)}) "
                    f"ON {v('item_id')} = k_item")
            n_rows = db.execute(f"SELECT count(*) FROM ({parsed}) {join} "
                                f"WHERE {UNKNOWN}").fetchone()[0]
            joined = numbered_select(columns, scan, join)
            across.append(problem_of(db, scan, joined, check, n_rows))
    if listed is not None:
        _register_ids(db, scan.named(LISTED), listed)
        cleaned["unlisted_ids"] = _distinct_outside(db, parsed, "member_id", scan.named(LISTED))
    return Checked(problems, rows, columns, cleaned, across, frozenset(plain))


def _distinct_outside(db, parsed: str, column: str, table: str) -> int:
    """How many distinct non-missing ``v_<column>`` values registered ``table`` lacks."""
    sql = (f"SELECT count(*) FROM (SELECT DISTINCT {v(column)} AS x FROM ({parsed}) "
           f"WHERE {v(column)} IS NOT NULL) ANTI JOIN {quote(table)} AS t ON x = t.{column}")
    return int(db.execute(sql).fetchone()[0])


def _register_ids(db, name: str, ids: pd.Series, column: str = "member_id") -> None:
    known = ids.dropna().astype("str").drop_duplicates().tolist()
    db.register(name, pa.table({column: pa.array(known, pa.string())}))


def _unknown_message(n_ids: int) -> str:
    return (f"{n_ids} item id(s) are not in the items table; add them to items "
            "(with a category) or remove those lines.")


def _cleaning_counts(scan: Scan, policy: CleaningPolicy) -> dict[str, str]:
    """``{rule: SQL condition}`` of the rules of :func:`features.cleaning.clean_transactions`."""
    rules = {
        "returns": _RETURNS,
        "zero_quantity": f"{_Q} = 0 AND {_A} >= 0",
        "zero_amount": f"{_A} = 0 AND {_Q} > 0",
        "future_timestamp": f"ts_us > $now AND {_Q} > 0 AND {_A} > 0",
        "kept": _KEPT,
        "quantity_reset": f"{_KEPT} AND {_Q} > {float(policy.max_line_quantity)!r}",
    }
    if "discount" in scan.types:
        rules["discount_sign"] = f"{_KEPT} AND {v('discount')} < 0"
    return rules


def _ts_us() -> str:
    return f"epoch_us({v('timestamp')})"


def _now_us(now: pd.Timestamp) -> int:
    """Lines strictly after ``now`` are in the future: ``ts_us > now_us`` (microseconds)."""
    return int(now.value // 1000)


def report_cleaning(checked: Checked, report: CleaningReport) -> int:
    """Record the cleaning counts in ``report`` as the pandas loader does; the lines kept."""
    for rule in ("returns", "zero_quantity", "zero_amount", "future_timestamp"):
        report.drop("transactions", rule, checked.counts[rule])
    report.fix("transactions", "quantity_reset", checked.counts["quantity_reset"])
    report.fix("transactions", "discount_sign", checked.counts.get("discount_sign", 0))
    return checked.counts["kept"]


def lines_view(db, scan: Scan, checked: Checked, now: pd.Timestamp,
               policy: CleaningPolicy) -> str:
    """Create the view of the canonical, cleaned lines over the file; returns its name."""
    names = {c.name for c in checked.columns}
    if "basket_id" not in names:
        basket = "ts_us"  # a basket is a member's purchases at one timestamp
    elif not is_integer_type(scan.types["basket_id"]):
        # Other basket ids are only grouped on (per member): a 63-bit hash of the text.
        basket = (f"CASE WHEN {v('basket_id')} IS NULL THEN -1 "
                  f"ELSE CAST(hash({v('basket_id')}) >> 1 AS BIGINT) END")
    else:
        basket = v("basket_id")
    discount = (f"coalesce(abs({v('discount')}), 0.0)" if "discount" in names
                else "CAST(0.0 AS DOUBLE)")  # a bare 0.0 is a DECIMAL to DuckDB
    # Optional columns as the pandas loader keeps them (missing stays missing).
    optional = "".join(f", CAST({v(c)} AS DOUBLE) AS {c}" for c in OPTIONAL_TX_COLUMNS
                       if c in names)
    limit = float(policy.max_line_quantity)
    kept = _KEPT.replace("$now", str(_now_us(now)))
    sql = (
        f"SELECT {v('member_id')} AS member_id, {v('item_id')} AS item_id, ts_us, "
        f"{basket} AS basket_id, "
        f"CASE WHEN {_Q} > {limit!r} THEN 1.0 ELSE {_Q} END AS quantity, "
        f"{_A} AS amount, {discount} AS discount{optional} "
        f"FROM (SELECT *, {_ts_us()} AS ts_us FROM "
        f"({parse_select(checked.columns, scan.raw, plain=checked.plain)})) WHERE {kept}"
    )
    db.execute(f"CREATE OR REPLACE TEMP VIEW {quote(scan.named(LINES))} AS {sql}")
    return scan.named(LINES)


def members_in_order(db, scan: Scan, checked: Checked, now: pd.Timestamp,
                     listed: pd.Series | None) -> list[str]:
    """Members with kept lines that ``listed`` (the members file's ids) lacks, in order of
    first appearance in the file (any line): the pandas loader's order.

    Per member, so it may leave DuckDB; the lines of listed members are dropped
    by an anti-join before grouping.
    """
    if listed is not None and checked.counts["unlisted_ids"] == 0:
        return []
    kept = _KEPT.replace("$now", str(_now_us(now)))
    anti = ""
    if listed is not None:
        _register_ids(db, scan.named(LISTED), listed)
        anti = f'ANTI JOIN {quote(scan.named(LISTED))} AS l ON {v("member_id")} = l.member_id'
    sql = (
        f"SELECT {v('member_id')} AS m, min({ROW}) AS first FROM "
        f"(SELECT *, {_ts_us()} AS ts_us FROM "
        f"({numbered_select(checked.columns, scan, plain=checked.plain)}) {anti}) "
        f"GROUP BY m HAVING bool_or({kept}) ORDER BY first"
    )
    return [row[0] for row in db.execute(sql).fetchall()]

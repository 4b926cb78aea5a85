"""Loading a data directory on DuckDB: the relational twin of :func:`features.loading.load_dataset`.

DuckDB reads the transactions file itself (``read_csv`` with every cell as
text, or ``read_parquet``), checks it and applies the cleaning policy as
queries (:mod:`features.relational.transactions`); the lines stay in DuckDB as
a view over the file. The small tables (items, members, offers: one row per
item or member) and the offer events go through the pandas loader's own
parsing. The problems raised and the cleaning report are those of
:func:`features.loading.load_dataset`, which the parity tests hold as the oracle.

>>> from features.relational import connect, load_relational   # doctest: +SKIP
>>> data = load_relational(connect(memory_limit="1GB"), "data/completejourney")  # doctest: +SKIP
>>> data.transactions.count().to_pyarrow().as_py()               # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.cleaning import CleaningPolicy
from features.contract import TABLES
from features.dataset import CleaningReport
from features.errors import DataValidationError, Problem
from features.loading import (
    canonical_items,
    canonical_offers,
    check_offer_categories,
    utc_naive,
)
from features.reading import RawTable, find_table_file, read_table_file
from features.relational.checks import structure_problems
from features.relational.events import EVENT_ROW, check_events, events_view
from features.relational.portable import to_scalar
from features.relational.scan import Scan, scan_table
from features.relational.tables import register_frame
from features.relational.transactions import (
    check_transactions,
    lines_view,
    members_in_order,
    report_cleaning,
)
from features.validation import parse_table

logger = logging.getLogger(__name__)
LARGE = ("transactions", "offer_events")  # read by DuckDB; the other tables by pandas
_LOADS = itertools.count(1)  # numbers the loads: their views do not replace each other's


@dataclass
class RelationalData:
    """A data directory loaded on DuckDB: lines as an Ibis table, small tables as frames.

    The form :func:`features.relational.member_features` and
    :func:`features.relational.item_features` take (``transactions`` are the
    canonical lines of :mod:`features.relational.tables`); ``items``,
    ``members``, ``offer_events`` and ``offers`` are the canonical frames of
    :class:`~features.dataset.Dataset`. ``offer_events`` are an Ibis table
    (:mod:`features.relational.events`).
    """

    transactions: object  # Ibis table over the file, cleaned
    items: pd.DataFrame
    members: pd.DataFrame
    offer_events: object  # Ibis table over the file, cleaned (member_id, event, ts_us, ...)
    cleaning: CleaningReport = field(default_factory=CleaningReport)
    source: str = ""
    offers: pd.DataFrame | None = None

    @property
    def last_timestamp(self) -> pd.Timestamp:
        """The last kept line's time (one aggregate over the lines)."""
        last = to_scalar(self.transactions.ts_us.max())
        return pd.Timestamp(last, unit="us")

    def row_counts(self) -> dict[str, int]:
        """Rows per table, as :meth:`features.dataset.Dataset.row_counts` (lines counted by
        one aggregate on the engine, never fetched; DuckDB or Spark)."""
        return {
            "transactions": int(to_scalar(self.transactions.count())),
            "items": len(self.items),
            "members": len(self.members),
            "offer_events": int(to_scalar(self.offer_events.count())),
            "offers": 0 if self.offers is None else len(self.offers),
        }


def load_relational(
    con,
    data_dir: str | os.PathLike,
    *,
    now: pd.Timestamp | str | None = None,
    policy: CleaningPolicy | None = None,
) -> RelationalData:
    """Read, validate and clean a data directory with DuckDB reading the lines.

    Parameters
    ----------
    con : Ibis DuckDB backend
        From :func:`features.relational.connect` (its memory limit applies).
    data_dir, now, policy
        As in :func:`features.loading.load_dataset`.

    Returns
    -------
    RelationalData
        The lines as an Ibis table (a view over the file, never materialised),
        the small tables as canonical frames, and the cleaning report.

    Raises
    ------
    DataValidationError
        With the same problems as :func:`features.loading.load_dataset`.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataValidationError(
            [Problem(str(data_dir), "is not a directory; pass the folder that holds the tables.")]
        )
    now, policy = utc_naive(now), policy or CleaningPolicy()
    db = con.con
    db.execute("SET TimeZone = 'UTC'")
    found: dict[str, list[Problem]] = {name: [] for name in TABLES}
    raws: dict[str, RawTable] = {}
    parsed: dict[str, pd.DataFrame] = {}
    scans: dict[str, Scan | None] = {}
    tag = f"load{next(_LOADS)}"
    for table in TABLES.values():
        path, problem = find_table_file(data_dir, table)
        found[table.name] += [problem] if problem else []
        if path is None:
            continue
        if table.name in LARGE:
            scans[table.name], problem = scan_table(db, path, table, tag)
            found[table.name] += [problem] if problem else []
            if scans[table.name] is not None and (
                structure := structure_problems(db, scans[table.name])
            ):
                found[table.name] += structure
                scans[table.name] = None  # as the pandas loader: no value checks then
            continue
        raw, problem = read_table_file(path, table)
        if problem:
            found[table.name].append(problem)
            continue
        frame, problems = parse_table(raw)
        found[table.name] += problems
        raws[table.name], parsed[table.name] = raw, frame
    checked, scan = None, scans.get("transactions")
    if scan is not None:
        members = parsed.get("members")
        listed = members["member_id"] if members is not None and "member_id" in members else None
        checked = check_transactions(db, scan, parsed.get("items"), now, policy, listed)
        found["transactions"] += checked.problems
    events = None
    if scans.get("offer_events") is not None:
        events = check_events(db, scans["offer_events"])
        found["offer_events"] += events.problems
    problems = [p for name in TABLES for p in found[name]]
    if checked is not None:
        problems += checked.across
    offers = parsed.get("offers")
    if offers is not None and "items" in parsed and "category" in offers and (
        "category" in parsed["items"]
    ):
        problems += check_offer_categories(raws["offers"], offers, parsed["items"])
    if problems:
        raise DataValidationError(problems)
    return _assemble(con, scans, checked, events, parsed, now, policy, str(data_dir))


def _assemble(con, scans, checked, checked_events, parsed, now, policy,
              source) -> RelationalData:
    report = CleaningReport()
    report.rows_in["transactions"] = checked.rows
    for name, frame in parsed.items():
        report.rows_in[name] = len(frame)
    if checked_events is not None:
        report.rows_in["offer_events"] = checked_events.rows
    kept = report_cleaning(checked, report)
    if kept == 0:
        dropped = report.dropped.get("transactions", {})
        why = ", ".join(f"{k}: {n}" for k, n in dropped.items()) or "nothing was read"
        raise DataValidationError(
            [Problem("transactions", "no usable lines are left after cleaning: " + why)]
        )
    db, scan = con.con, scans["transactions"]
    lines = con.table(lines_view(db, scan, checked, now, policy))
    listed = parsed.get("members")
    extra = members_in_order(db, scan, checked, now,
                             None if listed is None else listed["member_id"])
    members = _members(listed, extra)
    if checked_events is None:
        events = register_frame(con, scan.named("offer_events_empty"), _no_events())
    else:
        name, events_kept = events_view(db, scans["offer_events"], checked_events, now, report)
        events = con.table(name)
    items = canonical_items(parsed["items"])
    offers = canonical_offers(parsed.get("offers"))
    report.rows_out["transactions"] = kept
    for name, frame in (("items", items), ("offers", offers)):
        if name in report.rows_in:
            report.rows_out[name] = len(frame)
    if checked_events is not None:
        report.rows_out["offer_events"] = events_kept
    if "members" in report.rows_in:
        report.rows_out["members"] = report.rows_in["members"]
    for line in report.lines():
        logger.info("cleaning: %s", line)
    return RelationalData(lines, items, members, events, report, source, offers)


def _no_events() -> pd.DataFrame:
    return pd.DataFrame({"member_id": pd.Series(dtype="str"), "offer_id": pd.Series(dtype="str"),
                         "event": pd.Series(dtype="str"), "ts_us": pd.Series(dtype="int64"),
                         EVENT_ROW: pd.Series(dtype="int64")})


def _members(members: pd.DataFrame | None, extra: list[str]) -> pd.DataFrame:
    """The members file's rows plus members seen in the lines only (as the pandas loader)."""
    extra = pd.Series(extra, dtype="string", name="member_id")
    if members is None:
        return pd.DataFrame({"member_id": extra})
    members = members.reset_index(drop=True)
    if len(extra):
        members = pd.concat([members, pd.DataFrame({"member_id": extra})], ignore_index=True)
    return members

"""Loading a data directory: read, validate, clean, and return a :class:`Dataset`.

This is the only way the project loads input data, so the same checks and the
same cleaning policy apply everywhere. Loading never writes anything.

>>> from features.loading import load_dataset          # doctest: +SKIP
>>> ds = load_dataset("data/completejourney")         # doctest: +SKIP
>>> ds.cleaning.lines()                                # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from features.cleaning import CleaningPolicy, clean_offer_events, clean_transactions
from features.code_groups import positions
from features.contract import CATEGORY_SEPARATOR, OFFER_EVENTS, TABLES
from features.dataset import CleaningReport, Dataset
from features.errors import DataValidationError, Problem
from features.reading import RawTable, find_table_file, read_table_file
from features.validation import parse_table, problem_at

logger = logging.getLogger(__name__)


def load_dataset(
    data_dir: str | os.PathLike,
    *,
    now: pd.Timestamp | str | None = None,
    policy: CleaningPolicy | None = None,
) -> Dataset:
    """Read, validate and clean a data directory.

    Parameters
    ----------
    data_dir : path
        Directory with ``transactions`` and ``items`` (required) and optionally
        ``members``, ``offer_events`` and ``offers``, each as ``.csv`` or ``.parquet``.
    now : timestamp, optional
        Rows after this time are "in the future" and dropped (default: the
        current UTC time).
    policy : CleaningPolicy, optional
        Parameters of the cleaning rules.

    Returns
    -------
    Dataset
        Canonical tables (see :mod:`features.dataset`) and the cleaning report.

    Raises
    ------
    DataValidationError
        With every problem found, when any table is missing, unreadable or invalid.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataValidationError(
            [Problem(str(data_dir), "is not a directory; pass the folder that holds the tables.")]
        )
    now = utc_naive(now)
    policy = policy or CleaningPolicy()
    parsed: dict[str, pd.DataFrame] = {}
    raws: dict[str, RawTable] = {}
    problems: list[Problem] = []
    for table in TABLES.values():
        path, problem = find_table_file(data_dir, table)
        if problem:
            problems.append(problem)
        if path is None:
            continue
        raw, problem = read_table_file(path, table)
        if problem:
            problems.append(problem)
            continue
        frame, found = parse_table(raw)
        problems += found
        raws[table.name], parsed[table.name] = raw, frame
    problems += _check_across(raws, parsed)
    if problems:
        raise DataValidationError(problems)
    return _assemble(parsed, now, policy, str(data_dir))


def _check_across(raws: dict[str, RawTable], parsed: dict[str, pd.DataFrame]) -> list[Problem]:
    """Checks that need parsed columns; each runs when the columns it needs parsed cleanly."""
    tx, items = parsed.get("transactions"), parsed.get("items")
    if tx is None:
        return []
    # A negative amount is not an error: it is a return or refund (features.cleaning).
    found = []
    if (
        items is not None
        and "item_id" in tx
        and isinstance(tx["item_id"].dtype, pd.CategoricalDtype)
        and "item_id" in items
    ):
        found += _check_items_known(raws["transactions"], tx, items)
    offers = parsed.get("offers")
    if offers is not None and items is not None and "category" in offers and "category" in items:
        found += check_offer_categories(raws["offers"], offers, items)
    return found


def check_offer_categories(raw: RawTable, offers: pd.DataFrame,
                            items: pd.DataFrame) -> list[Problem]:
    """Every category an offer names is a category of the items table."""
    known = set(items["category"].dropna().astype(str))
    unknown = np.array([
        not pd.isna(c) and any(p.strip() and p.strip() not in known
                               for p in str(c).split(CATEGORY_SEPARATOR))
        for c in offers["category"]
    ], dtype=bool)
    if not unknown.any():
        return []
    return [
        problem_at(
            raw, "category", unknown, offers["category"],
            f"{int(unknown.sum())} offer(s) name a category the items table does not have; use "
            f"the items' category names (several separated by '{CATEGORY_SEPARATOR}'), or "
            "leave it empty for an offer on the whole basket.",
        )
    ]


def _check_items_known(raw: RawTable, tx: pd.DataFrame, items: pd.DataFrame) -> list[Problem]:
    cats = tx["item_id"].cat.categories
    unknown_cats = positions(cats, items["item_id"].dropna()) < 0  # Arrow hash: fast on strings
    if not unknown_cats.any():
        return []
    codes = tx["item_id"].cat.codes.to_numpy()
    # A missing id (code -1) is its own problem, not an unknown item (it used to
    # index the last category).
    unknown = unknown_cats[codes] & (codes >= 0)
    n = int(unknown_cats.sum())
    return [
        problem_at(
            raw, "item_id", unknown, tx["item_id"].astype("string"),
            f"{n} item id(s) are not in the items table; add them to items "
            "(with a category) or remove those lines.",
        )
    ]


def _assemble(
    parsed: dict[str, pd.DataFrame], now: pd.Timestamp, policy: CleaningPolicy, source: str
) -> Dataset:
    report = CleaningReport()
    for name, frame in parsed.items():
        report.rows_in[name] = len(frame)
    tx = clean_transactions(parsed["transactions"], now, policy, report)
    if len(tx) == 0:
        raise DataValidationError(
            [Problem("transactions", "no usable lines are left after cleaning: " + _why(report))]
        )
    tx = _canonical_transactions(tx, rows_dropped=len(tx) < report.rows_in["transactions"])
    items = canonical_items(parsed["items"])
    members = _canonical_members(parsed.get("members"), tx)
    events = parsed.get("offer_events")
    if events is None:
        events = empty_events()
    else:
        events = clean_offer_events(events, now, report).reset_index(drop=True)
    offers = canonical_offers(parsed.get("offers"))
    for name, frame in (("transactions", tx), ("items", items), ("offer_events", events),
                        ("offers", offers)):
        if name in report.rows_in:
            report.rows_out[name] = len(frame)
    if "members" in report.rows_in:
        report.rows_out["members"] = report.rows_in["members"]
    for line in report.lines():
        logger.info("cleaning: %s", line)
    return Dataset(tx, items, members, events, report, source, offers)


def _why(report: CleaningReport) -> str:
    dropped = report.dropped.get("transactions", {})
    return ", ".join(f"{k}: {v}" for k, v in dropped.items()) or "nothing was read"


def _canonical_transactions(tx: pd.DataFrame, rows_dropped: bool) -> pd.DataFrame:
    if rows_dropped:
        tx = tx.reset_index(drop=True)
        for col in ("member_id", "item_id"):
            tx[col] = tx[col].cat.remove_unused_categories()
    if "basket_id" in tx:
        key = tx["basket_id"]
        if pd.api.types.is_integer_dtype(key.dtype) and not isinstance(
            key.dtype, pd.CategoricalDtype
        ):
            codes = key  # integer basket ids already identify baskets
        elif isinstance(key.dtype, pd.CategoricalDtype):
            codes = key.cat.codes
        else:
            codes = pd.factorize(key)[0]
        tx["basket_id"] = np.asarray(codes, dtype=np.int64)
    else:
        trips = tx.groupby(["member_id", "timestamp"], observed=True, sort=False)
        tx["basket_id"] = trips.ngroup().astype("int64")
    if "discount" not in tx:
        tx["discount"] = 0.0
    tx["discount"] = tx["discount"].fillna(0.0)
    return tx


def canonical_items(items: pd.DataFrame) -> pd.DataFrame:
    items = items.reset_index(drop=True)
    if "department" not in items:
        items["department"] = items["category"]
    items["department"] = items["department"].fillna(items["category"])
    return items


def _canonical_members(members: pd.DataFrame | None, tx: pd.DataFrame) -> pd.DataFrame:
    seen = pd.Series(tx["member_id"].cat.categories, dtype="string", name="member_id")
    if members is None:
        return pd.DataFrame({"member_id": seen})
    members = members.reset_index(drop=True)
    extra = seen[~seen.isin(members["member_id"].array)]
    if len(extra):
        members = pd.concat([members, pd.DataFrame({"member_id": extra})], ignore_index=True)
    return members


def canonical_offers(offers: pd.DataFrame | None) -> pd.DataFrame | None:
    """The offers table as offer specs: ``category`` split at ``|`` into ``categories``."""
    if offers is None:
        return None
    n = len(offers)
    category = offers["category"] if "category" in offers else pd.Series([pd.NA] * n)
    categories = [
        () if pd.isna(c) else tuple(dict.fromkeys(
            p.strip() for p in str(c).split(CATEGORY_SEPARATOR) if p.strip()))
        for c in category
    ]
    out = pd.DataFrame({
        "offer_id": offers["offer_id"].astype(str).to_numpy(),
        "type": offers["type"].astype(str).to_numpy(),
        "depth": (offers["depth"].to_numpy(dtype="float64", na_value=np.nan)
                  if "depth" in offers else np.full(n, np.nan)),
        "categories": pd.Series(categories, dtype=object).to_numpy(),
        "valid_days": (offers["valid_days"].to_numpy(dtype="float64", na_value=np.nan)
                       if "valid_days" in offers else np.full(n, np.nan)),
    })
    return out


def empty_events() -> pd.DataFrame:
    cols = {c.name: pd.Series(dtype="string") for c in OFFER_EVENTS.columns}
    cols["timestamp"] = pd.Series(dtype="datetime64[ns]")
    return pd.DataFrame(cols)


def utc_naive(now) -> pd.Timestamp:
    ts = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts

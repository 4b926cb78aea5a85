"""The canonical tables (:mod:`features.dataset`) as Ibis tables.

Timestamps become integer microseconds since the epoch (``ts_us``), the unit
every feature expression computes with; ids become strings. The optional
``coupon_discount`` is carried when the input has it (nulls kept).
"""

from __future__ import annotations

import os
from pathlib import Path

import ibis
import pandas as pd

from features.errors import DataError
from features.relational.fetch import is_url
from features.relational.portable import materialize, read_parquet, register_frame, timestamp_us

__all__ = ["materialize", "register_frame", "tables_from_dataset", "tables_from_parquet"]

TX_COLUMNS = ("member_id", "item_id", "timestamp", "basket_id", "quantity", "amount", "discount")
#: Optional line columns carried when the input has them (missing values kept missing,
#: as the pandas loader keeps them): the coupon discount of the coupon-use features.
OPTIONAL_TX_COLUMNS = ("coupon_discount",)


def tables_from_dataset(con, dataset) -> dict:
    """Register a loaded :class:`~features.dataset.Dataset`'s lines and events in ``con``.

    The lines are copied into DuckDB once (Arrow); the features then run there.
    Returns ``{"transactions": ..., "offer_events": ...}`` as Ibis tables.
    """
    tx = dataset.transactions
    frame = pd.DataFrame(
        {
            c: (tx[c].astype("str") if c.endswith("_id") and c != "basket_id" else tx[c])
            for c in (*TX_COLUMNS, *OPTIONAL_TX_COLUMNS)
            if c in tx
        }
    )
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us]")
    out = {"transactions": _canonical_lines(register_frame(con, "transactions", frame))}
    ev = dataset.offer_events
    events = pd.DataFrame(
        {
            "member_id": ev["member_id"].astype("str"),
            "event": ev["event"].astype("str"),
            "timestamp": ev["timestamp"].astype("datetime64[us]"),
        }
    )
    out["offer_events"] = _canonical_events(register_frame(con, "offer_events", events))
    return out


def tables_from_parquet(con, transactions: str | os.PathLike) -> dict:
    """Canonical transactions written as Parquet, read lazily by the engine.

    ``transactions`` is a file or a glob; on Spark also a directory of Parquet
    files, and a URI of any filesystem Spark reads (``hdfs://``, ``s3a://``).

    Raises
    ------
    DataError
        When the file is missing or lacks a required column.
    """
    path = str(transactions)
    local = not is_url(path)
    if local and not any(ch in path for ch in "*?[") and not Path(path).exists():
        raise DataError(f"{path}: no such file; pass canonical transactions as Parquet.")
    table = read_parquet(con, path)
    missing = [c for c in TX_COLUMNS if c not in table.columns and c != "discount"]
    if missing:
        raise DataError(f"{path}: transactions lack column(s) {missing}; they are required.")
    if "discount" not in table.columns:
        table = table.mutate(discount=ibis.literal(0.0))
    return {"transactions": _canonical_lines(table)}


def _canonical_lines(t):
    optional = {c: t[c].cast("float64") for c in OPTIONAL_TX_COLUMNS if c in t.columns}
    return t.select(
        member_id=t.member_id.cast("string"),
        item_id=t.item_id.cast("string"),
        ts_us=timestamp_us(t.timestamp),
        basket_id=t.basket_id.cast("int64"),
        quantity=t.quantity.cast("float64").fill_null(0.0),
        amount=t.amount.cast("float64").fill_null(0.0),
        discount=t.discount.cast("float64").fill_null(0.0),
        **optional,
    ).filter(lambda r: r.ts_us.notnull() & r.member_id.notnull() & r.item_id.notnull())


def _canonical_events(t):
    return t.select(
        member_id=t.member_id.cast("string"), event=t.event, ts_us=timestamp_us(t.timestamp)
    )


def require(table, columns, name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{name} lack column(s) {missing}; they are required.")

"""Stored offer events as an ``offer_events`` table of the data contract (``docs/data.md``).

``offers events export`` writes it into a data directory (or a file), so the
next ``offers train`` learns from what the server recorded.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.errors import DataError
from features.storage import write_frame_atomic
from serving.store.base import EXPORT_COLUMNS

logger = logging.getLogger(__name__)

TABLE = "offer_events"


def events_frame(store) -> pd.DataFrame:
    """Every stored event, oldest first, timestamps as naive UTC (the canonical form)."""
    rows = list(store.iter_rows())
    frame = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None)
    return frame


def output_path(out: str | Path) -> Path:
    """``out`` itself for a ``.csv``/``.parquet`` file; inside a directory, ``offer_events.*``.

    In a directory that already has ``offer_events.parquet`` the Parquet file is
    chosen (a data directory holds one file per table); otherwise CSV.
    """
    out = Path(out)
    if out.suffix.lower() in (".csv", ".parquet"):
        return out
    if (out / f"{TABLE}.parquet").exists():
        return out / f"{TABLE}.parquet"
    return out / f"{TABLE}.csv"


def export_events(store, out: str | Path, *, merge: bool = False,
                  overwrite: bool = False) -> tuple[Path, int]:
    """Write the store's events to ``out``; returns the file written and its row count.

    An existing file is an error unless ``merge`` (keep its rows, add the
    stored events whose ``event_id`` it does not have) or ``overwrite``.
    """
    path = output_path(out)
    frame = events_frame(store)
    if path.exists():
        if not (merge or overwrite):
            raise DataError(f"{path} exists; pass --merge to add the stored events to it or "
                            "--overwrite to replace it.")
        if merge:
            frame = _merged(_read(path), frame)
    if path.suffix.lower() == ".csv":  # ISO 8601, the same for every row
        stamps = pd.to_datetime(frame["timestamp"], format="mixed")
        frame = frame.assign(timestamp=stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f"))
    write_frame_atomic(frame, path)
    logger.info("wrote %d offer events to %s", len(frame), path)
    return path, len(frame)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _merged(existing: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    if "event_id" in existing.columns:
        known = set(existing["event_id"].astype(str))
        new = new[~new["event_id"].isin(known)]
    return pd.concat([existing, new], ignore_index=True)

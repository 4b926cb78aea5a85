"""The small files users hand to commands: TOML settings files, lists of member ids,
exported decision logs and planned sends.

Each gives a clear :class:`~features.errors.ConfigError` or
:class:`~features.errors.DataError` naming the file, never a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML file at ``path`` as a dict; a missing or malformed file is a ConfigError.

    Shared by the training config (:mod:`training.config`) and the server's (:mod:`serving.config`).
    """
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def read_frame(path: str | Path, what: str, **csv_options) -> pd.DataFrame:
    """A ``.parquet``, ``.jsonl`` or (any other name) CSV file as a frame.

    A file that is empty, not UTF-8 or not of its format is a :class:`DataError` naming
    ``what`` and the file, not pandas' or pyarrow's traceback. ``csv_options`` go to
    :func:`pandas.read_csv`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    kind = {".parquet": "Parquet", ".jsonl": "JSON lines"}.get(suffix, "CSV")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_csv(path, **csv_options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{what} {path} is empty; it needs a header line and rows.") from None
    except UnicodeDecodeError:
        raise DataError(f"{what} {path} is not UTF-8 text; re-export it as UTF-8 CSV (or "
                        "Parquet, named .parquet).") from None
    except ValueError as exc:  # pyarrow's ArrowInvalid, pandas' ParserError, bad JSON
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{what} {path} cannot be read as {kind}: {first}") from None


def read_member_ids(path: str | Path) -> np.ndarray:
    """Member ids from a CSV/Parquet file with a ``member_id`` column, or one id per line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"members file {path} does not exist.")
    if path.suffix.lower() == ".parquet":
        frame = read_frame(path, "members file")
    else:
        frame = read_frame(path, "members file", dtype=str, keep_default_na=False)
        if "member_id" not in frame.columns and frame.shape[1] == 1:
            # A bare list of ids: the first line is an id too, not a header.
            frame = pd.read_csv(path, dtype=str, header=None, names=["member_id"],
                                keep_default_na=False)
    if "member_id" not in frame.columns:
        raise DataError(
            f"{path} has no member_id column (columns: {', '.join(map(str, frame.columns))}); "
            "give a member_id column or one id per line."
        )
    ids = frame["member_id"].astype(str).str.strip()
    ids = ids[ids != ""].drop_duplicates()
    if ids.empty:
        raise DataError(f"{path} lists no member ids.")
    return ids.to_numpy(dtype=str)


def read_decision_log(path: str | Path, required: tuple[str, ...], *, hint: str = "",
                      **csv_options) -> pd.DataFrame:
    """A decision log exported by ``offers events export --decisions`` (.csv/.parquet/.jsonl).

    A missing file, or one without the ``required`` columns, is a DataError naming it
    (``hint`` is added to the latter); ``csv_options`` go to :func:`pandas.read_csv`.
    Shared by ``offers lift --arms`` and ``offers replay``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"decision log {path} does not exist; write one with "
                        "`offers events export --decisions --out FILE`.")
    frame = read_frame(path, "decision log", **csv_options)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path} is not a decision log: column(s) {', '.join(missing)} "
                        f"missing{hint}.")
    return frame

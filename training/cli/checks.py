"""Option checks that run before a command does any work (click callbacks).

A wrong ``--out`` extension or an ``--as-of`` that is not a date is a usage
error (exit status 2) at once, not a failure after minutes of loading or
training.
"""

from __future__ import annotations

import click
import pandas as pd

from features.errors import DataError
from features.storage import check_frame_path


def out_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--out``: a .csv or .parquet path."""
    if value is None:
        return None
    try:
        check_frame_path(value)
    except DataError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


def as_of_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--as-of``: a date or time pandas reads (ISO 8601), kept as given."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, OverflowError):
        stamp = None
    if stamp is None or stamp is pd.NaT:
        raise click.BadParameter(f"{value!r} is not a date; use ISO 8601 like 2017-12-01.",
                                 ctx, param)
    return value

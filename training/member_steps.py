"""What the member-sample steps (offer response, uplift) read, on pandas or on an engine.

On pandas they read the loaded :class:`~features.dataset.Dataset`. On a
relational engine (``run.engine_tables``, :mod:`training.engines`) the lines
and the offer events stay on the engine: the steps ask it which members have
events (one row per member comes back), choose their members from those, and
fetch those members' lines and events only
(:meth:`training.engines.EngineTables.member_dataset`), through a
:class:`models.member_source.MemberSource`. They never read
``run.dataset.transactions`` there, nor every offer event.

Imports: :mod:`features`, :mod:`models`.
"""

from __future__ import annotations

import pandas as pd

from models.member_source import MemberSource


def member_source(run) -> MemberSource:
    """The member source of a :class:`training.pipeline.TrainingRun`."""
    tables = run.engine_tables
    if tables is None:
        return MemberSource.of_dataset(run.dataset)
    return MemberSource(offer_events(run), offers_table(run), tables.member_dataset)


def offer_events(run):
    """Every canonical offer event of the run: the pandas frame, or on an engine the table
    there (read through :mod:`models.member_source`'s functions, which reduce it there)."""
    tables = run.engine_tables
    return run.dataset.offer_events if tables is None else tables.small["offer_events"]


def offers_table(run) -> pd.DataFrame | None:
    """The data's offers table (None when it has none)."""
    tables = run.engine_tables
    found = None if tables is None else tables.small.get("offers")
    return run.dataset.offers if found is None else found

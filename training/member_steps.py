"""What the member-sample steps (offer response, uplift) read, on pandas or on an engine.

On pandas they read the loaded :class:`~features.dataset.Dataset`. On a
relational engine (``run.engine_tables``, :mod:`training.engines`) the lines
stay on the engine: the steps read the offer events (a pandas frame, far
smaller than the lines), choose their members from them, and fetch those
members' lines only (:meth:`training.engines.EngineTables.member_dataset`),
through a :class:`models.member_source.MemberSource`. They never read
``run.dataset.transactions`` or ``run.dataset.offer_events`` there.

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


def offer_events(run) -> pd.DataFrame:
    """Every canonical offer event of the run, as a pandas frame."""
    tables = run.engine_tables
    return run.dataset.offer_events if tables is None else tables.small["offer_events"]


def offers_table(run) -> pd.DataFrame | None:
    """The data's offers table (None when it has none)."""
    tables = run.engine_tables
    found = None if tables is None else tables.small.get("offers")
    return run.dataset.offers if found is None else found

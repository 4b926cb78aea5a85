"""The offer event store: durable, idempotent by ``event_id``, shared by every worker.

- :func:`open_store` opens an SQLite file (the default) or a PostgreSQL
  database (``postgresql://...``); both implement :class:`~.sql.SqlEventStore`;
- :mod:`.base` holds what the back ends share (:class:`StoredEvent`, the
  engine's :class:`HistorySnapshot`), :mod:`.export` writes the stored events
  as an ``offer_events`` table.

Modules import downwards only: ``base`` <- ``sql`` <- ``sqlite``/``postgres``
<- this package.

Imports: :mod:`features` and its own modules; never Flask.
"""

from __future__ import annotations

import os

from features.errors import ConfigError, EventConflict
from serving.store.base import AddResult, HistorySnapshot, StoredEvent
from serving.store.export import export_events

__all__ = ["AddResult", "EventConflict", "HistorySnapshot", "StoredEvent", "export_events",
           "open_store"]


def open_store(location: str | os.PathLike):
    """An event store at ``location``: a ``postgresql://`` URL or an SQLite file path.

    ``sqlite:///abs/path`` URLs are accepted too. The schema is created if missing.

    >>> import tempfile, pathlib
    >>> store = open_store(pathlib.Path(tempfile.mkdtemp()) / "events.sqlite3")
    >>> store.count()
    0
    >>> store.close()
    """
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from serving.store.postgres import PostgresEventStore

        return PostgresEventStore(text)
    from serving.store.sqlite import SqliteEventStore

    if text.startswith("sqlite:///"):
        text = text[len("sqlite://"):]
    elif "://" in text:
        raise ConfigError(f"unsupported event store URL scheme in {text.split('://')[0]!r}; "
                          "use a file path, sqlite:///path or postgresql://...")
    return SqliteEventStore(text)


"""``offers events export``: the events the server stored, as an ``offer_events`` table."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("events")
def events_group() -> None:
    """Offer events recorded by the serving API."""


@events_group.command("export")
@click.option("--db", required=True, envvar="OFFERS_EVENTS_DB", show_envvar=True,
              help="The event store: an SQLite file or a postgresql:// URL.")
@click.option("--out", required=True, type=click.Path(),
              help="A data directory (writes offer_events.csv there) or a .csv/.parquet file.")
@click.option("--merge", is_flag=True,
              help="Keep the rows of an existing file; add stored events it lacks (by event_id).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def export(db: str, out: str, merge: bool, overwrite: bool) -> None:
    """Write the stored events in the data contract's offer_events format (docs/data.md)."""
    from serving.store import open_store
    from serving.store.export import export_events

    if merge and overwrite:
        raise click.UsageError("--merge and --overwrite exclude each other.")
    if "://" not in db and not Path(db).is_file():
        raise click.ClickException(f"event store {db} does not exist.")
    store = open_store(db)
    try:
        path, rows = export_events(store, out, merge=merge, overwrite=overwrite)
    finally:
        store.close()
    click.echo(f"wrote {rows} offer events to {path}")

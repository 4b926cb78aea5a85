"""``offers events export``: the events the server stored, as an ``offer_events`` table."""

from __future__ import annotations

from pathlib import Path

import click

from features.errors import DataError


def _check_out(out: str, decisions: bool) -> None:
    """``--out``: a file with a suffix the export writes, or a directory (an existing one, a
    name without a suffix, or one ending in ``/``); checked before the store is opened, so
    ``--out events.json`` is an error, not a directory named so."""
    suffixes = (".csv", ".parquet", ".jsonl") if decisions else (".csv", ".parquet")
    path = Path(out)
    if (path.suffix and path.suffix.lower() not in suffixes and not out.endswith(("/", "\\"))
            and not path.is_dir()):
        raise DataError(f"--out {out}: use {', '.join(suffixes)} or a directory.")


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
@click.option("--decisions", is_flag=True,
              help="Export the decision log (candidates, scores, propensities; for "
                   "`offers replay`) instead of the events: a .csv/.parquet/.jsonl file, or "
                   "decision_log.csv in a directory.")
def export(db: str, out: str, merge: bool, overwrite: bool, decisions: bool) -> None:
    """Write the stored events in the data contract's offer_events format (docs/data.md)."""
    from serving.store import open_store
    from serving.store.export import export_events

    if merge and overwrite:
        raise click.UsageError("--merge and --overwrite exclude each other.")
    if merge and decisions:
        raise click.UsageError("--merge applies to events only; use --overwrite with "
                               "--decisions.")
    _check_out(out, decisions)
    if "://" not in db and not Path(db).is_file():
        raise click.ClickException(f"event store {db} does not exist.")
    store = open_store(db)
    try:
        if decisions:
            from serving.store.decisions import export_decisions

            path, rows = export_decisions(store, out, overwrite=overwrite)
        else:
            path, rows = export_events(store, out, merge=merge, overwrite=overwrite)
    finally:
        store.close()
    click.echo(f"wrote {rows} {'decisions' if decisions else 'offer events'} to {path}")

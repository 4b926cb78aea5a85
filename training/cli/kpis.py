"""``offers kpis``: print the loyalty-program KPIs of a data directory.

The figures are defined in ``docs/kpis.md`` and computed by
:func:`features.kpis.program_kpis` (``--engine pandas``) or, with the files read,
checked and reduced by DuckDB so that no line is held in memory,
:func:`features.relational.program_kpis` (``--engine duckdb``): the same table.
This module only loads, formats and prints.
"""

from __future__ import annotations

import json
import math

import click
import pandas as pd

from features.errors import OffersError
from features.kpis import PERIODS, program_kpis

FORMATS = ("table", "csv", "json")

# Table layout: (column, header, format) in two blocks so each fits a terminal.
_MEMBER_BLOCK = (
    ("members_at_start", "members@start", "{:,.0f}"),
    ("active_members", "active", "{:,.0f}"),
    ("new_members", "new", "{:,.0f}"),
    ("retained_members", "retained", "{:,.0f}"),
    ("retention_rate", "retention%", "{:.1f}"),
    ("churn_rate", "churn%", "{:.1f}"),
    ("repeat_purchase_rate", "repeat%", "{:.1f}"),
    ("active_90d", "active_90d", "{:,.0f}"),
)
_SALES_BLOCK = (
    ("revenue", "revenue", "{:,.2f}"),
    ("baskets", "baskets", "{:,.0f}"),
    ("average_order_value", "avg_order", "{:,.2f}"),
    ("purchase_frequency", "baskets/active", "{:.2f}"),
    ("offers_sent", "offers_sent", "{:,.0f}"),
    ("offers_redeemed", "redeemed", "{:,.0f}"),
    ("offer_redemption_rate", "redemption%", "{:.1f}"),
)


@click.command("kpis")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--period",
    type=click.Choice(list(PERIODS)),
    default="month",
    show_default=True,
    help="Calendar period of one row.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for reading, csv or json for other tools.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "pandas", "duckdb"]),
    default="auto",
    show_default=True,
    help="pandas loads the lines in memory; duckdb reads, checks and aggregates the files "
    "out of core (for data larger than memory): the same figures. auto: as offers train's "
    "(pandas up to 5,000,000 transaction lines, duckdb above or with --memory-limit); a "
    "choice of duckdb is said on stderr.",
)
@click.option(
    "--memory-limit",
    default=None,
    metavar="SIZE",
    help="DuckDB memory limit, e.g. 2GB; above it DuckDB spills to disk.",
)
def kpis(data_dir: str, period: str, fmt: str, engine: str, memory_limit: str | None) -> None:
    """Print retention, churn, activity, sales and offer KPIs of DATA_DIR per period.

    Definitions of every figure: docs/kpis.md. Rates are percentages; an
    empty cell (n/a, null) means the figure is undefined for that period,
    e.g. retention when nobody was a member at the period start.
    """
    if engine == "auto":
        from training.engine_choice import choose_engine

        choice = choose_engine(data_dir, memory_limit=memory_limit)
        engine = choice.engine
        if engine == "duckdb":  # stderr: the table, CSV or JSON on stdout stays as it was
            click.echo(f"engine: duckdb (auto: {choice.reason})", err=True)
    if memory_limit and engine != "duckdb":
        raise click.UsageError("--memory-limit applies to --engine duckdb only.")
    try:
        table = _duckdb_kpis(data_dir, period, memory_limit) if engine == "duckdb" else \
            _pandas_kpis(data_dir, period)
    except OffersError as exc:
        raise click.ClickException(str(exc)) from exc

    if fmt == "csv":
        click.echo(format_csv(table), nl=False)
    elif fmt == "json":
        click.echo(format_json(table))
    else:
        click.echo(format_table(table, period))


def _pandas_kpis(data_dir: str, period: str) -> pd.DataFrame:
    from features.loading import load_dataset

    return program_kpis(load_dataset(data_dir), period=period)


def _duckdb_kpis(data_dir: str, period: str, memory_limit: str | None) -> pd.DataFrame:
    from features.relational import connect, load_relational
    from features.relational import program_kpis as engine_kpis

    con = connect(memory_limit=memory_limit)
    try:
        data = load_relational(con, data_dir)
        return engine_kpis(data.transactions, data.members, data.offer_events, period)
    finally:
        con.disconnect()


def format_csv(table: pd.DataFrame) -> str:
    """KPIs as CSV: dates as ``YYYY-MM-DD``, undefined figures as empty cells."""
    out = table.copy()
    for column in ("start", "end"):
        out[column] = out[column].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False, float_format="%.15g", lineterminator="\n")


def format_json(table: pd.DataFrame) -> str:
    """KPIs as a JSON list of records: dates as ``YYYY-MM-DD``, undefined figures as null."""
    records = []
    for row in table.to_dict(orient="records"):
        record = {}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                value = value.strftime("%Y-%m-%d")
            elif hasattr(value, "item"):
                value = value.item()
            if isinstance(value, float) and math.isnan(value):
                value = None
            record[key] = value
        records.append(record)
    return json.dumps(records, indent=2)


def format_table(table: pd.DataFrame, period: str) -> str:
    """KPIs as two aligned text blocks (members, then sales and offers)."""
    marks = ["*" if partial else " " for partial in table["partial"]]
    labels = [label + mark for label, mark in zip(table["period"], marks)]
    blocks = []
    for title, spec in (("Members", _MEMBER_BLOCK), ("Sales and offers", _SALES_BLOCK)):
        shown = pd.DataFrame({"period": labels})
        for column, header, fmt in spec:
            shown[header] = [
                "n/a" if pd.isna(v) else fmt.format(v) for v in table[column].tolist()
            ]
        blocks.append(f"{title} per {period}\n{shown.to_string(index=False)}")
    text = "\n\n".join(blocks)
    if table["partial"].any():
        text += "\n\n* partial period: the transactions do not cover all of it."
    text += "\nRates in %; n/a = undefined (zero denominator). Definitions: docs/kpis.md"
    return text

"""Turn a CSV file of order lines (or several), as most shops export them, into a data directory.

The file has one row per order line and a header row; the caller names which
columns hold the member, the time, the item and the money (see
:class:`CsvMapping`). The importer writes ``transactions.parquet`` and an
``items.parquet`` derived from the lines; the loader builds the members from
the transactions.

Rules:

- ``quantity`` is 1 on every line when there is no quantity column.
- Without an item column (a CLV-only export: customer, date, amount) every
  line is one item, :data:`ANY_ITEM`; training then skips the item recommender.
- Without a category column every item is its own category (offers and
  category recommendations then name the item).
- Returns are kept as they are written (negative quantity and/or amount); the
  loader's cleaning policy drops and counts them (``docs/data.md``).
- Exactly one of an amount column (what the line cost in total) or a price
  column (the unit price) is given; with a unit price, ``amount = price x quantity``.
- An item's ``category`` is the value most of its lines give in the category
  column (ties: alphabetically first; ``"uncategorised"`` when empty); its ``price``
  is the median unit price over its lines with a positive quantity.
- Times are ISO 8601 unless a ``strftime`` format is given; time zones are
  converted to UTC and dropped.
- Lines with an empty member id (guest orders) are skipped and counted; empty
  item ids, unreadable times and non-numeric numbers are errors that name the
  offending lines (the header is line 1). Completely blank lines are ignored.
- Member, item and order ids that are all whole numbers written as decimals
  (``17850.0``, as a spreadsheet or pandas writes an integer column with gaps)
  are read as the whole numbers (``17850``), so they match the shop's own ids; the
  summary says so.

The file is UTF-8 (a byte-order mark is fine) and comma-separated with a dot as
decimal separator unless :class:`training.importers.csv_reading.CsvFormat` says
otherwise (``--encoding``, ``--delimiter``, ``--decimal``: a semicolon-separated
export with decimal commas from a European shop, or a Windows-1252 one). It is
read, converted and written :data:`CHUNK_LINES` lines at a time
(:mod:`training.importers.csv_reading`), the items summed over the chunks
(:mod:`training.importers.item_stats`).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError, DataValidationError, Problem
from features.frame_sink import FrameSink
from features.storage import atomic_directory, write_frame
from training.importers.csv_ids import WholeNumberIds, strip_parquet_ids
from training.importers.csv_reading import CHUNK_LINES, CsvFormat, read_order_line_chunks
from training.importers.item_stats import ItemStats
from training.importers.summary import ImportSummary
from training.progress import track

logger = logging.getLogger(__name__)

#: The one item of an export without an item column.
ANY_ITEM = "any purchase"
_SHOWN = 5  # offending lines shown per problem


@dataclass(frozen=True)
class CsvMapping:
    """Which column of the file holds which field.

    Parameters
    ----------
    member_col, time_col : str
        Columns with the member id and the time of the line.
    item_col : str or None
        Column with the item id; without one every line is :data:`ANY_ITEM`.
    quantity_col : str or None
        Column with the quantity; without one every line has quantity 1.
    amount_col : str or None
        Column with the line's total amount. Give this or ``price_col``.
    price_col : str or None
        Column with the unit price; the amount is price x quantity.
    category_col : str or None
        Column with the item's category.
    name_col : str or None
        Column with the item's name (a product description): offers and
        recommendations show it; without a category column it is also the
        item's category.
    basket_col : str or None
        Column with the order (basket) id.
    date_format : str or None
        A ``strftime`` format for the time column, e.g. ``"%d/%m/%Y %H:%M"``;
        ISO 8601 when omitted.
    """

    member_col: str
    time_col: str
    item_col: str | None = None
    quantity_col: str | None = None
    amount_col: str | None = None
    price_col: str | None = None
    category_col: str | None = None
    basket_col: str | None = None
    date_format: str | None = None
    name_col: str | None = None

    def validate(self) -> None:
        """Raise :class:`ConfigError` unless exactly one of amount and price is given."""
        if self.amount_col and self.price_col:
            raise ConfigError(
                f"Both an amount column ({self.amount_col!r}) and a price column "
                f"({self.price_col!r}) were given; give exactly one: --amount-col for the "
                "line total, or --price-col for the unit price."
            )
        if not self.amount_col and not self.price_col:
            raise ConfigError(
                "Neither an amount column nor a price column was given; give exactly one: "
                "--amount-col for the line total, or --price-col for the unit price."
            )

    def id_columns(self) -> dict[str, str]:
        """The mapped id columns as ``{field: column name}`` (member, item, order)."""
        found = {"member": self.member_col, "item": self.item_col, "order": self.basket_col}
        return {name: column for name, column in found.items() if column}

    def columns(self) -> dict[str, str]:
        """The mapped columns as ``{option name: column name}``."""
        options = {
            "--member-col": self.member_col,
            "--time-col": self.time_col,
            "--item-col": self.item_col,
            "--quantity-col": self.quantity_col,
            "--amount-col": self.amount_col,
            "--price-col": self.price_col,
            "--category-col": self.category_col,
            "--name-col": self.name_col,
            "--basket-col": self.basket_col,
        }
        return {option: column for option, column in options.items() if column}


def convert_order_lines(
    lines: pd.DataFrame, mapping: CsvMapping, *, file: str = "input", decimal: str = "."
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Map order lines onto the ``transactions`` and ``items`` tables.

    Parameters
    ----------
    lines : DataFrame
        As :func:`training.importers.csv_reading.read_order_line_chunks` gives each
        chunk: string columns, indexed by line number.
    mapping : CsvMapping
        Which column holds which field.
    file : str
        Name of the file, used in error messages.
    decimal : str
        The numbers' decimal separator, ``"."`` or ``","`` (:class:`CsvFormat`).

    Returns
    -------
    transactions : DataFrame
        ``member_id``, ``timestamp``, ``item_id``, ``quantity``, ``amount`` and,
        when mapped, ``basket_id``; one row per line kept.
    items : DataFrame
        ``item_id``, ``category``, ``price`` (and ``name`` with a name column); one row
        per item.
    skipped : dict of str to int
        Lines left out, by reason.

    Raises
    ------
    ConfigError
        If both or neither of the amount and price columns are given.
    DataError
        If a mapped column is missing from ``lines``.
    DataValidationError
        Listing every bad value found (times, numbers, empty item ids).

    Examples
    --------
    >>> lines = pd.DataFrame({"cust": ["a", "b"], "when": ["2024-01-02", "2024-01-03"],
    ...                       "sku": ["x", "x"], "total": ["3.5", "4.5"]}, index=[2, 3])
    >>> m = CsvMapping("cust", "when", "sku", amount_col="total")
    >>> tx, items, skipped = convert_order_lines(lines, m)
    >>> items[["item_id", "category", "price"]].to_dict("records")
    [{'item_id': 'x', 'category': 'x', 'price': 4.0}]
    """
    mapping.validate()
    _check_columns(lines, mapping, file)
    converted = _convert(lines, mapping, file, decimal)
    if converted.problems:
        raise DataValidationError(problems=converted.problems)
    stats = _item_stats(mapping)
    converted.count_items(stats)
    return converted.transactions.reset_index(drop=True), stats.table(), converted.skipped


@dataclass
class _Converted:
    """One chunk of lines mapped onto ``transactions`` (problems collected, not raised)."""

    transactions: pd.DataFrame
    category: pd.Series | None
    unit_price: pd.Series
    skipped: dict[str, int]
    problems: list[Problem]
    name: pd.Series | None = None

    def count_items(self, stats: ItemStats) -> None:
        tx = self.transactions
        stats.add(tx["item_id"], self.category, self.unit_price, tx["quantity"], self.name)


def _item_stats(mapping: CsvMapping) -> ItemStats:
    return ItemStats(with_categories=mapping.category_col is not None,
                     with_names=mapping.name_col is not None)


def _convert(lines: pd.DataFrame, mapping: CsvMapping, file: str, decimal: str) -> _Converted:
    skipped: dict[str, int] = {}
    no_member = lines[mapping.member_col].isna()
    if no_member.any():
        skipped[f"empty member id in column '{mapping.member_col}'"] = int(no_member.sum())
        lines = lines[~no_member]

    problems: list[Problem] = []
    if mapping.item_col:
        item_id = lines[mapping.item_col]
    else:
        item_id = pd.Series(ANY_ITEM, index=lines.index, dtype=object)
    empty_item = item_id.isna()
    if empty_item.any():
        problems.append(
            _problem(file, mapping.item_col, empty_item, lines[mapping.item_col],
                     "item id is empty; every order line needs an item id")
        )
    timestamp = _parse_times(lines, mapping, file, problems)
    quantity = _parse_number(lines, mapping.quantity_col, file, problems, decimal)
    if quantity is None:
        quantity = pd.Series(1.0, index=lines.index)
    if mapping.amount_col:
        amount = _parse_number(lines, mapping.amount_col, file, problems, decimal)
        unit_price = amount / quantity.where(quantity != 0)
    else:
        unit_price = _parse_number(lines, mapping.price_col, file, problems, decimal)
        amount = unit_price * quantity
    transactions = pd.DataFrame(
        {
            "member_id": lines[mapping.member_col],
            "timestamp": timestamp,
            "item_id": item_id,
            "quantity": quantity.astype("float64"),
            "amount": amount.astype("float64"),
        }
    )
    if mapping.basket_col:
        transactions["basket_id"] = lines[mapping.basket_col]
    category = lines[mapping.category_col] if mapping.category_col else None
    name = lines[mapping.name_col] if mapping.name_col else None
    return _Converted(transactions, category, unit_price, skipped, problems, name)


def import_csv(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    mapping: CsvMapping,
    *,
    overwrite: bool = False,
    fmt: CsvFormat = CsvFormat(),
    chunk_lines: int = CHUNK_LINES,
) -> ImportSummary:
    """Convert a CSV file of order lines, or several, into a data directory of Parquet files.

    Parameters
    ----------
    path : path or sequence of paths
        The CSV file (UTF-8, comma-separated, header row), or files with the same
        mapped columns (a shop's monthly exports), read in order into one table;
        problems name the file they are in.
    out_dir : path
        The data directory to create; gets ``transactions.parquet`` and
        ``items.parquet``.
    mapping : CsvMapping
        Which column holds which field.
    overwrite : bool
        Replace ``out_dir`` if it exists and is not empty.
    fmt : CsvFormat
        The file's encoding, field separator and decimal separator.
    chunk_lines : int
        Lines read, converted and written at a time (:data:`CHUNK_LINES`): the
        memory the import needs does not grow with the file.

    Returns
    -------
    ImportSummary
        Rows written per table and lines skipped.

    Raises
    ------
    ConfigError
        If both or neither of the amount and price columns are given, or ``fmt``
        is not usable.
    DataError
        If the file is missing or unreadable, a mapped column is missing, a
        value is bad (:class:`DataValidationError`, every problem listed) or
        ``out_dir`` exists and is not empty without ``overwrite``.
    """
    mapping.validate()
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    if not paths:
        raise DataError("no CSV file given; give one or more files of order lines.")
    # Every file is checked before anything is written (a missing one, a bad format).
    readers = [read_order_line_chunks(p, fmt, chunk_lines) for p in paths]
    named = str(paths[0]) if len(paths) == 1 else f"the {len(paths)} files"
    ids, problems = WholeNumberIds(mapping.id_columns()), _Problems()
    stats = _item_stats(mapping)
    skipped: dict[str, int] = {}
    n_lines = n_rows = n_returns = 0
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        # One row group a chunk; the checks below raise inside, so no file is left.
        with FrameSink(tmp / "transactions.parquet") as written:
            for source, chunks in zip(paths, readers):
                file = source.name
                if source.stat().st_size > 64 << 20:  # a large file shows its progress
                    chunks = track(chunks, f"reading {file} ({chunk_lines:,} lines a step)")
                for lines in chunks:
                    _check_columns(lines, mapping, file)
                    n_lines += len(lines)
                    ids.see(lines)
                    converted = _convert(lines, mapping, file, fmt.decimal)
                    for reason, n in converted.skipped.items():
                        skipped[reason] = skipped.get(reason, 0) + n
                    problems.add(converted.problems)
                    if problems:  # read on to list every problem; write nothing more
                        continue
                    tx = converted.transactions
                    converted.count_items(stats)
                    written.write(tx)
                    n_rows += len(tx)
                    n_returns += int(((tx["quantity"] < 0) | (tx["amount"] < 0)).sum())
            if not n_lines:
                raise DataError(f"{named} "
                                f"{'has a header' if len(paths) == 1 else 'have headers'} "
                                "but no order lines; nothing to import.")
            if problems:
                raise DataValidationError(problems=problems.found())
            if not n_rows:
                raise DataError(
                    f"{named}: no order line has a member id in column "
                    f"'{mapping.member_col}'; check --member-col."
                )
        items = stats.table()
        if ids.columns:  # ids like 17850.0 everywhere: read as 17850, in both tables
            strip_parquet_ids(tmp / "transactions.parquet", [
                field for field, column in _ID_FIELDS.items()
                if getattr(mapping, column) in ids.columns])
            if mapping.item_col in ids.columns:
                items["item_id"] = ids.strip(items["item_id"])
        write_frame(items, tmp / "items.parquet")
    notes = ids.notes()
    if len(paths) > 1:
        notes.insert(0, f"{len(paths)} files read in the order given, into one table")
    if not mapping.quantity_col:
        notes.append("no quantity column: every line has quantity 1")
    if not mapping.item_col:
        notes.append(f"no item column: every line is one item, {ANY_ITEM!r} (training skips "
                     "item recommendations)")
    if not mapping.category_col and mapping.name_col:
        notes.append(f"no category column: assumed every item is its own category, called "
                     f"by its name (column '{mapping.name_col}')")
    elif not mapping.category_col:
        notes.append("no category column: assumed every item is its own category "
                      "(offers and category recommendations name the item; --name-col "
                      "gives them the product's name)")
    if mapping.name_col and items["name"].isna().any():
        notes.append(f"{int(items['name'].isna().sum()):,} item(s) with no name in column "
                     f"'{mapping.name_col}': shown by their id")
    if n_returns:
        notes.append(f"{n_returns:,} return line(s) (negative quantity or amount): loading "
                     "drops and counts them (docs/data.md)")
    summary = ImportSummary(
        out_dir=Path(out_dir),
        rows={"transactions": n_rows, "items": len(items)},
        skipped=skipped,
        notes=notes,
    )
    logger.info("wrote %s: %s", out_dir, summary.rows)
    return summary


#: The transactions' id fields and the mapping attribute naming each one's column.
_ID_FIELDS = {"member_id": "member_col", "item_id": "item_col", "basket_id": "basket_col"}


class _Problems:
    """Problems of every chunk, one per (column, message): the first few lines of all
    chunks and the count over all of them."""

    def __init__(self):
        self._found: dict[tuple, Problem] = {}

    def add(self, problems: list[Problem]) -> None:
        for p in problems:
            key = (p.file, p.column, p.message)
            seen = self._found.get(key)
            if seen is None:
                self._found[key] = p
                continue
            room = max(_SHOWN - len(seen.rows), 0)
            self._found[key] = dataclasses.replace(
                seen, rows=seen.rows + p.rows[:room], values=seen.values + p.values[:room],
                count=seen.count + p.count)

    def __bool__(self) -> bool:
        return bool(self._found)

    def found(self) -> list[Problem]:
        return list(self._found.values())


def _check_columns(lines: pd.DataFrame, mapping: CsvMapping, file: str) -> None:
    have = list(lines.columns)
    missing = {opt: col for opt, col in mapping.columns().items() if col not in have}
    if not missing:
        return
    one = have[0] if len(have) == 1 else ""
    semicolons = ";" in one
    # Several names in one header cell: the file is separated by tabs or spaces.
    spaced = not semicolons and len(one.split()) > 1
    parts = []
    for option, column in missing.items():
        close = ([] if semicolons or spaced
                 else difflib.get_close_matches(column, have, n=1, cutoff=0.6))
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"{option} {column!r}{hint}")
    text = (
        f"{file}: column(s) not found: {'; '.join(parts)}. "
        f"The file has the columns: {', '.join(repr(c) for c in have)}."
    )
    if semicolons:
        text += (" The file looks semicolon-separated: pass --delimiter ';' (and --decimal ',' "
                 "if its numbers have decimal commas).")
    elif spaced:
        text += (" The file looks tab-separated: pass --delimiter tab." if "\t" in one else
                 " The file looks separated by spaces: pass --delimiter whitespace.")
    raise DataError(text)


def _problem(
    file: str, column: str, bad: pd.Series, values: pd.Series, message: str
) -> Problem:
    """A Problem naming the first few offending lines (``bad`` is a boolean mask)."""
    where = bad[bad].index[:_SHOWN]
    return Problem(
        file=file,
        column=column,
        message=message,
        rows=tuple(int(i) for i in where),
        values=tuple("" if pd.isna(v) else str(v) for v in values.loc[where]),
        count=int(bad.sum()),
        row_label="line",
    )


def _parse_times(
    lines: pd.DataFrame, mapping: CsvMapping, file: str, problems: list[Problem]
) -> pd.Series:
    raw = lines[mapping.time_col]
    fmt = mapping.date_format or "ISO8601"
    try:
        parsed = pd.to_datetime(raw, format=fmt, errors="coerce", utc=True)
    except ValueError as exc:
        raise ConfigError(f"--date-format {fmt!r} is not a usable format: {exc}") from exc
    bad = parsed.isna()
    if bad.any():
        how = (
            f"with --date-format {mapping.date_format!r}"
            if mapping.date_format
            else "as ISO 8601 (e.g. 2024-03-31 or 2024-03-31T14:05:00); "
            "pass --date-format, e.g. '%d/%m/%Y %H:%M'"
        )
        message = f"times could not be read {how}"
        problems.append(_problem(file, mapping.time_col, bad, raw, message))
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


def _parse_number(
    lines: pd.DataFrame, column: str | None, file: str, problems: list[Problem],
    decimal: str = ".",
) -> pd.Series | None:
    if column is None:
        return None
    raw = lines[column]
    text = raw
    if decimal == ",":  # 1.234,50 and 1 234,50 (spaces, also non-breaking) are 1234.5
        text = raw.str.replace(r"[.\s\u00a0\u202f]", "", regex=True).str.replace(",", ".")
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = parsed.isna() | ~np.isfinite(parsed)
    if bad.any():
        how = ("use plain numbers with a comma as decimal separator and no currency symbols"
               if decimal == "," else
               "use plain numbers with a dot as decimal separator and no currency symbols or "
               "thousands separators")
        if decimal == "." and raw[bad].str.fullmatch(r"-?[\d.\s]*\d,\d+").any():
            how += " (the file's numbers look like decimal commas: pass --decimal ',')"
        problems.append(_problem(file, column, bad, raw, f"values are empty or not numbers; {how}"))
    return parsed

"""Member, item and order ids written as decimals of whole numbers (``17850.0``), read as the
numbers, in a CSV import read chunk by chunk.

Imports: nothing of the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


class WholeNumberIds:
    """Which id columns hold only whole numbers written as decimals, seen chunk by chunk.

    Member, item and order ids like ``17850.0`` (how a spreadsheet or pandas writes an
    integer column with gaps) are read as ``17850``, so they match the shop's own ids,
    but only in a column where every non-empty value has that form: then no two ids
    can merge.

    >>> ids = WholeNumberIds({"member": "c", "item": "sku"})
    >>> ids.see(pd.DataFrame({"c": ["17850.0", None], "sku": ["1.0", "2.0"]}))
    >>> ids.see(pd.DataFrame({"c": ["13047.0"], "sku": ["85123A"]}))
    >>> ids.columns
    ['c']
    >>> WholeNumberIds.strip(pd.Series(["17850.0", "-3.00"])).tolist()
    ['17850', '-3']
    >>> ids.notes()
    ["member ids in column 'c' are whole numbers written as decimals (17850.0): read as 17850"]
    """

    def __init__(self, id_columns: dict[str, str]):
        """``id_columns``: ``{what the ids are ("member"): the column holding them}``."""
        self._names = {column: name for name, column in id_columns.items()}
        self._decimal = dict.fromkeys(self._names, True)
        self._example: dict[str, str] = {}

    def see(self, lines: pd.DataFrame) -> None:
        """Look at one chunk's raw ids."""
        for column, still in self._decimal.items():
            if not still or column not in lines:
                continue
            present = lines[column].dropna()
            if present.empty:
                continue
            self._decimal[column] = bool(present.str.fullmatch(r"-?\d+\.0+").all())
            self._example.setdefault(column, str(present.iloc[0]))

    @property
    def columns(self) -> list[str]:
        """The columns to read as whole numbers (every value seen was one, at least one)."""
        return [c for c, still in self._decimal.items() if still and c in self._example]

    @staticmethod
    def strip(values):
        """``17850.0`` as ``17850`` (a pandas or Arrow array of strings)."""
        if isinstance(values, pd.Series):
            return values.str.replace(r"\.0+$", "", regex=True)
        import pyarrow.compute as pc

        return pc.replace_substring_regex(values, r"\.0+$", "")

    def notes(self) -> list[str]:
        return [f"{self._names[c]} ids in column {c!r} are whole numbers written as decimals "
                f"({self._example[c]}): read as "
                f"{self.strip(pd.Series([self._example[c]])).iloc[0]}" for c in self.columns]


def strip_parquet_ids(path: Path, fields: list[str]) -> None:
    """``17850.0`` as ``17850`` in the ``fields`` of a written Parquet file, a row group at
    a time (:class:`WholeNumberIds`)."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    rewritten = path.with_name(f".{path.name}.ids")
    with pq.ParquetWriter(rewritten, source.schema_arrow) as writer:
        for group in range(source.num_row_groups):
            table = source.read_row_group(group)
            for name in fields:
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, WholeNumberIds.strip(table[name]))
            writer.write_table(table)
    source.close()
    os.replace(rewritten, path)

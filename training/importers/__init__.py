"""Importers: turn outside data into a data directory that follows the contract.

- :func:`import_completejourney`: the public 84.51 "The Complete Journey" data.
- :func:`import_csv`: one CSV file of order lines, as most shops export them.

Both write through :func:`features.storage.atomic_directory` (nothing is ever
half-written) and return an :class:`ImportSummary`.

Imports: :mod:`features` and :mod:`training` only.
"""

from training.importers.completejourney import convert_completejourney, import_completejourney
from training.importers.csv_reading import WHITESPACE, CsvFormat
from training.importers.flat_csv import CsvMapping, convert_order_lines, import_csv
from training.importers.summary import ImportSummary

__all__ = [
    "CsvFormat",
    "CsvMapping",
    "ImportSummary",
    "WHITESPACE",
    "convert_completejourney",
    "convert_order_lines",
    "import_completejourney",
    "import_csv",
]

"""Reading a shop's CSV export: its format (encoding, separators) and its lines in chunks.

Every value is read as a string, stripped, with empty cells as NA, indexed by
the line number in the file (the header is line 1), :data:`CHUNK_LINES` lines
at a time so that the file's size is bounded by the disk, not the memory
(:mod:`training.importers.flat_csv` converts and writes each chunk). A file
compressed as ``.gz``, ``.bz2``, ``.xz`` or ``.zip`` (one file inside) is read
as it is, decompressed on the way.

Imports: :mod:`features`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError


@dataclass(frozen=True)
class CsvFormat:
    """How the file is written: its text encoding, field separator and decimal separator.

    Parameters
    ----------
    encoding : str
        A Python codec name (``"utf-8"``, ``"cp1252"``, ``"latin-1"``); UTF-8 may
        start with a byte-order mark.
    delimiter : str
        The one character between fields (``","``, ``";"``, ``"\\t"``, ``"|"``), or
        :data:`WHITESPACE`: runs of spaces and tabs, as in a space-aligned text export.
    decimal : str
        ``"."`` or ``","``. With ``","`` a dot or a space inside a number separates
        thousands (``1.234,50`` and ``1 234,50`` are 1234.5).
    """

    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."

    def validate(self) -> None:
        """Raise :class:`ConfigError` for an unknown codec or a bad separator."""
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError as exc:
            raise ConfigError(f"--encoding {self.encoding!r} is not a known text encoding; "
                              "use e.g. utf-8, cp1252 or latin-1.") from exc
        if self.delimiter != WHITESPACE and (len(self.delimiter) != 1
                                              or self.delimiter in "\"\r\n "):
            raise ConfigError(f"--delimiter {self.delimiter!r} must be one character, such "
                              "as ',', ';', '|' or a tab ('\\t'), and not a quote; or "
                              "'whitespace' for columns separated by spaces.")
        if self.decimal not in (".", ","):
            raise ConfigError(f"--decimal {self.decimal!r} must be '.' or ','.")
        if self.decimal == self.delimiter:
            raise ConfigError(f"--decimal and --delimiter are both {self.decimal!r}; a file "
                              "with decimal commas separates its fields with another "
                              "character, usually ';' (--delimiter ';').")

    @property
    def separator(self) -> str:
        """The ``sep`` of ``pandas.read_csv``."""
        return r"\s+" if self.delimiter == WHITESPACE else self.delimiter


#: ``--delimiter whitespace``: fields separated by runs of spaces and tabs, leading ones
#: ignored (a space-aligned or fixed-width text export whose values hold no space).
WHITESPACE = "whitespace"

#: Lines read, converted and written at a time: the import's memory does not grow with the
#: file (about 400 bytes a line in flight, so some 100 MB a chunk).
CHUNK_LINES = 250_000


def read_order_line_chunks(path: str | os.PathLike, fmt: CsvFormat = CsvFormat(),
                           chunk_lines: int = CHUNK_LINES):
    """Read a CSV file ``chunk_lines`` lines at a time, every value as a string.

    Parameters
    ----------
    path : path
        A file with a header row, written as ``fmt`` says (by default UTF-8,
        optionally with BOM, and comma-separated).
    fmt : CsvFormat
    chunk_lines : int

    Returns
    -------
    iterator of DataFrame
        At least one chunk, maybe empty: one row per non-blank line, all columns
        ``str`` (NA for empty cells), indexed by the line number in the file (the
        header is line 1).

    Raises
    ------
    DataError
        At once if the file is missing (and ConfigError if ``fmt`` is not usable);
        when the chunk that holds it is read, if the file is empty, not in its
        encoding or not valid CSV.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"{path} {what}; give the path of a CSV file of order lines.")
    fmt.validate()
    return _chunks(path, fmt, chunk_lines)


def _chunks(path: Path, fmt: CsvFormat, chunk_lines: int):
    utf8 = codecs_name(fmt.encoding) == "utf-8"
    try:
        reader = pd.read_csv(
            path,
            dtype=str,
            sep=fmt.separator,
            encoding="utf-8-sig" if utf8 else fmt.encoding,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            chunksize=chunk_lines,
        )
        with reader:
            first, yielded = 2, False  # the line number of the chunk's first row
            for frame in reader:
                frame.index = pd.RangeIndex(first, first + len(frame), name="line")
                first += len(frame)
                frame.columns = [str(c).strip() for c in frame.columns]
                for column in frame.columns:
                    frame[column] = frame[column].str.strip().replace("", np.nan)
                yielded = True
                yield frame[frame.notna().any(axis=1)]
            if not yielded:  # a header alone gives no chunk
                yield pd.DataFrame(columns=_header(path, fmt, utf8), dtype=str)
    except UnicodeDecodeError as exc:
        where = _first_undecodable(path, fmt.encoding)
        if utf8:
            raise DataError(
                f"{path} is not UTF-8 encoded ({where}); give its encoding, e.g. "
                "--encoding cp1252 (Windows, Western Europe), or re-save it as UTF-8."
            ) from exc
        raise DataError(f"{path} is not {fmt.encoding} encoded ({where}); give its "
                        "encoding with --encoding.") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} is empty; it needs a header row and order lines.") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path} is not a valid CSV file: {exc}") from exc


def _header(path: Path, fmt: CsvFormat, utf8: bool) -> list[str]:
    """The column names of a file that has a header and no line."""
    columns = pd.read_csv(path, dtype=str, sep=fmt.separator, nrows=0,
                          encoding="utf-8-sig" if utf8 else fmt.encoding).columns
    return [str(c).strip() for c in columns]


def codecs_name(encoding: str) -> str:
    """The codec's canonical name (``"UTF8"`` and ``"utf_8"`` are ``"utf-8"``)."""
    import codecs

    return codecs.lookup(encoding).name


def _first_undecodable(path: Path, encoding: str) -> str:
    """Where the first byte that ``encoding`` cannot read is, as text for an error message
    (in the decompressed text of a ``.gz``, ``.bz2``, ``.xz`` or ``.zip`` file, as pandas
    reads it)."""
    with _open_bytes(path) as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return f"line {number}: byte 0x{raw[exc.start:exc.start + 1].hex()} in {raw[:60]!r}"
    return f"a byte sequence that is not {encoding}"


def _open_bytes(path: Path):
    """The file's bytes, decompressed by its suffix as ``pandas.read_csv`` infers it."""
    import bz2
    import gzip
    import lzma
    import zipfile

    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix == ".xz":
        return lzma.open(path, "rb")
    if suffix == ".zip":
        archive = zipfile.ZipFile(path)
        return archive.open(archive.namelist()[0])
    return path.open("rb")

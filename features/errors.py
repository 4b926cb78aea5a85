"""The project's exception tree: every exception the project raises on purpose is here.

Every error a user can cause derives from :class:`OffersError`; errors about bad
input also derive from :class:`ValueError` so callers may catch either. The
module sits in the lowest layer (:mod:`features`) so that every layer can
raise and catch the same classes; the command line prints any of them as one
``error: ...`` line (exit status 1) and the API answers them as JSON.

OffersError
├── DataError (ValueError)            bad input data
│   └── DataValidationError           a data directory failed its checks (has ``problems``)
├── ConfigError (ValueError)          a bad option, config file or catalog
├── NotFittedError (ValueError)       a model used before ``fit``
├── ArtifactError                     a model version is missing, incomplete, altered or
│                                     incompatible (refused before anything is unpickled)
├── EventConflict (ValueError)        an ``event_id`` already stored for a different event
└── ApiError                          an HTTP error answered as JSON (has ``status_code``)
    └── StoreUnavailable              the event store cannot be reached now (503, retry later)
"""

from __future__ import annotations

from dataclasses import dataclass, field


class OffersError(Exception):
    """Base class of every error this project raises on purpose."""


class DataError(OffersError, ValueError):
    """Input data is missing, malformed or inconsistent."""


class ConfigError(OffersError, ValueError):
    """An option, configuration file or catalog is invalid."""


class NotFittedError(OffersError, ValueError):
    """A model was used before it was fitted."""


class ArtifactError(OffersError):
    """An artifact version is missing, incomplete, tampered with or incompatible."""


class EventConflict(OffersError, ValueError):
    """An ``event_id`` already stored for a different event."""


class ApiError(OffersError):
    """An error answered to the client as JSON with ``status_code``.

    Parameters
    ----------
    message : str
        What went wrong and how to fix it, shown to the client.
    status_code : int
        The HTTP status (4xx for the client's mistakes).
    code : str or None
        A stable machine-readable code; by default derived from the status
        (``serving.api.errors.CODES``).
    headers : dict or None
        Extra response headers (``WWW-Authenticate`` on 401).
    """

    def __init__(self, message: str, status_code: int = 400, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.headers = headers or {}


class StoreUnavailable(ApiError):
    """The event store cannot be reached (database down or restarting): 503, retry later.

    Nothing was stored by the request that met it; the store reconnects by itself
    once the database is back.
    """

    def __init__(self, message: str, retry_after_s: int = 5):
        super().__init__(message, 503, "store_unavailable",
                         {"Retry-After": str(retry_after_s)})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one table of a data directory.

    Parameters
    ----------
    file : str
        The file (or table name when there is no file) the problem is in.
    message : str
        What is wrong and how to fix it.
    column : str or None
        The offending column, if the problem is about one.
    rows : tuple of int
        First few offending rows: line numbers for CSV files (the header is
        line 1), 1-based row numbers for Parquet files.
    values : tuple of str
        The offending values at those rows.
    count : int
        How many rows are affected in total.
    """

    file: str
    message: str
    column: str | None = None
    rows: tuple[int, ...] = ()
    values: tuple[str, ...] = ()
    count: int = 0
    row_label: str = "row"

    def __str__(self) -> str:
        where = self.file if self.column is None else f"{self.file}, column '{self.column}'"
        text = f"{where}: {self.message}"
        if self.rows:
            shown = ", ".join(
                f"{self.row_label} {r} ({v!r})" if v is not None else f"{self.row_label} {r}"
                for r, v in zip(self.rows, self.values or (None,) * len(self.rows))
            )
            more = f" and {self.count - len(self.rows)} more" if self.count > len(self.rows) else ""
            noun = "row" if self.count == 1 else "rows"
            text += f" [{self.count} {noun}: {shown}{more}]"
        return text


@dataclass
class DataValidationError(DataError):
    """A data directory failed validation; ``problems`` lists every failure found."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{len(self.problems)} problem(s) in the input data:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

"""Log lines for operators: plain text (the default) or one JSON object per line.

``offers serve --log-format json`` sends every line as JSON, the project's own
(access lines of :mod:`serving.api.hooks`, reloads, errors) and gunicorn's
(its error log: start-up, workers booting and exiting; its access log, when
one is configured). Each object has ``time`` (UTC, ISO 8601), ``level``,
``logger`` and ``message``; an access line adds ``request_id``, ``method``,
``path``, ``route``, ``status``, ``duration_ms`` and ``member_id`` (when the
path names a well-formed one). Headers, API keys, query strings and bodies are
never logged.

>>> import logging
>>> record = logging.LogRecord("serving.access", logging.INFO, __file__, 1, "GET %s", ("/x",),
...                            None)
>>> record.status = 404
>>> line = JsonFormatter().format(record)
>>> sorted(json.loads(line))
['level', 'logger', 'message', 'status', 'time']
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone

from gunicorn import glogging

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELDS = ("request_id", "method", "path", "route", "status", "duration_ms", "member_id")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time, level, logger, message and the request fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, timezone.utc)
        doc = {"time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        fields = record.__dict__
        for name in FIELDS:
            value = fields.get(name)
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """:data:`TEXT_FORMAT` lines, their local time formatted once a second, not once a line.

    The text is :class:`logging.Formatter`'s (``2026-12-04 20:30:01,123``); an access line
    per request made ``time.localtime`` and ``strftime`` a measurable part of a request.
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None or self.converter is not time.localtime:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached = self._second  # one tuple: read and replaced whole, safe across threads
        if cached[0] != second:
            cached = (second, time.strftime(self.default_time_format, time.localtime(second)))
            self._second = cached
        return self.default_msec_format % (cached[1], record.msecs)


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; use one of {', '.join(FORMATS)}.")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str = "text", level: int = logging.WARNING) -> None:
    """The root handler on stderr in ``log_format``; the serving package's INFO lines on."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("serving").setLevel(logging.INFO)  # access lines and reloads


class JsonGunicornLogger(glogging.Logger):
    """Gunicorn's logger with its error and access lines written as JSON objects."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

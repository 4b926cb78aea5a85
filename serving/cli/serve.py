"""``offers serve`` (the HTTP API under gunicorn) and ``offers apikey`` (make an API key)."""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys

import click

from features.errors import OffersError


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Gunicorn worker processes.")
@click.option("--worker-class", default="gthread", show_default=True,
              type=click.Choice(["gthread", "sync"]),
              help="gthread: THREADS requests per worker, idle connections parked, a read "
                   "deadline per request; sync: one request per worker, only behind a "
                   "buffering proxy (docs/operations.md).")
@click.option("--threads", default=16, show_default=True, type=click.IntRange(1, 256),
              help="Threads per gthread worker.")
@click.option("--timeout", "worker_timeout", default=60, show_default=True,
              type=click.IntRange(5, 3600),
              help="Seconds a worker may stay silent before it is restarted.")
@click.option("--keep-alive", "keepalive", default=5, show_default=True,
              type=click.IntRange(0, 300),
              help="Seconds an idle (or not yet sending) connection is kept open.")
@click.option("--read-timeout", default=10.0, show_default=True,
              type=click.FloatRange(0.5, 600),
              help="Seconds a client has to send a whole request (gthread).")
@click.option("--signing-key-file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Refuse versions not signed with the key in this file "
                                 "(else OFFERS_SIGNING_KEY[_FILE]).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              help="A TOML serving config (api_keys, events_db, limits; see docs/api.md).")
@click.option("--events-db", default=None,
              help="Event store: an SQLite file path or a postgresql:// URL "
                   "(default: instance/events.sqlite3, or OFFERS_EVENTS_DB).")
@click.option("--version", "model_version", default=None,
              help="Serve this version instead of the one `current` points at.")
@click.option("--open", "open_access", is_flag=True,
              help="Serve WITHOUT API keys (anyone who can connect may do anything).")
@click.option("--dev", is_flag=True,
              help="Flask's development server (one process) instead of gunicorn.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="json: one JSON object per line (ours and gunicorn's), for log collectors.")
def serve(artifacts_dir: str, workers: int, worker_class: str, threads: int,
          worker_timeout: int, keepalive: int, read_timeout: float,
          signing_key_file: str | None, port: int, host: str, config_file: str | None,
          events_db: str | None, model_version: str | None, open_access: bool,
          dev: bool, log_format: str) -> None:
    """Serve offers, recommendations and profiles over HTTP from ARTIFACTS_DIR.

    API keys come from OFFERS_API_KEYS='KEY:read,events;KEY2:admin' or the
    config file; without one the server refuses to start unless --open. The
    API is described at /docs and /openapi.json. Send SIGHUP to the master
    process, or POST /v1/admin/reload, to switch to a newly trained version.
    """
    from serving.config import load_serve_config
    from serving.log_format import configure_logging
    from serving.server import run_dev, run_gunicorn
    from training.artifacts.signing import KEY_FILE_ENV

    if signing_key_file:  # the environment carries it to every worker and loader
        os.environ[KEY_FILE_ENV] = os.path.abspath(signing_key_file)

    # The access log and reload messages are INFO records of the serving package.
    configure_logging(log_format, logging.WARNING)
    try:
        check_port_free(host, port)  # before loading anything: one clear line, no retry loop
        config = load_serve_config(
            config_file, ARTIFACTS_DIR=artifacts_dir, EVENTS_DB=events_db,
            MODEL_VERSION=model_version, AUTH_OPEN=True if open_access else None)
        if not config["API_KEYS"] and not config["AUTH_OPEN"]:
            raise click.ClickException(
                "no API key configured: set OFFERS_API_KEYS='KEY:read,events,admin' "
                "(make a key with `offers apikey`) or [api_keys] in --config; "
                "or pass --open to serve without keys.")
        if dev:
            run_dev(config, host, port)
        else:
            run_gunicorn(config, host, port, workers, timeout=worker_timeout,
                         worker_class=worker_class, threads=threads, keepalive=keepalive,
                         read_timeout=read_timeout, log_format=log_format)
    except (click.ClickException, OffersError) as exc:
        if log_format != "json" or isinstance(exc, click.UsageError):
            raise  # the one `error: ...` line of every command (offers.cli)
        # --log-format json promises JSON lines only: a refused start is one JSON object too.
        logging.getLogger("serving.serve").error(
            exc.format_message() if isinstance(exc, click.ClickException) else str(exc))
        sys.exit(1)


def check_port_free(host: str, port: int) -> None:
    """A :class:`click.ClickException` when ``host:port`` cannot be listened on.

    Gunicorn would otherwise log "Connection in use" and retry for five attempts.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on host {host!r}: {exc.strerror}; "
                                   "pick another with --host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(f"port {port} on {host} is in use; pick another "
                                           "with --port") from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}; "
                                       "pick another with --host or --port") from None


@click.command()
@click.option("--scopes", default="read,events,admin", show_default=True,
              help="Comma-separated scopes: read, events, admin.")
def apikey(scopes: str) -> None:
    """Print a new random API key as an OFFERS_API_KEYS entry (KEY:scopes)."""
    from serving.api.auth import new_api_key
    from serving.config import check_api_keys

    key = new_api_key()
    names = [s.strip() for s in scopes.split(",") if s.strip()]
    check_api_keys({key: names})
    click.echo(f"{key}:{','.join(names)}")

"""Running the app under gunicorn (``offers serve``), or Flask's development server (``--dev``).

Before any worker starts, the master verifies the version to serve and opens the
event store once (a clean error instead of workers failing to boot), makes a run
directory holding the workers' shared *target file* (see :mod:`serving.model_state`)
and the Prometheus multi-process files, and limits BLAS to one thread per worker.

The master also loads the model (:func:`~serving.model_state.load_served`)
and freezes the garbage collector's view of everything loaded
(:func:`gc.freeze`) before forking: each worker builds its own app (event
store connections, metrics) but takes that already loaded model, so the
member table, the engine's precomputed scores and the imported code stay in
pages shared by every worker (copy-on-write, never written) instead of one
copy per worker. ``bench/bench_serve.py`` measures what a worker adds.

SIGHUP to the master (``kill -HUP PID``): the master loads ``current`` beside
nothing else, verifies it and runs a smoke prediction; only if that passes does
it become the target, and the model the next workers take. Gunicorn then
starts fresh workers and stops the old ones gracefully, each finishing its
request. A broken version is refused and the new workers serve the old one
again. A worker told to switch by the target file (``POST /v1/admin/reload``)
loads the version itself, in its own memory.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication

from serving.model_state import load_served, one_line, read_target, write_target
from training.artifacts.signing import KEY_ENV, KEY_FILE_ENV, signing_key
from training.artifacts.store import current_version, open_version

logger = logging.getLogger(__name__)

BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class OffersServer(BaseApplication):
    """A gunicorn application whose workers each call :func:`serving.create_app`."""

    def __init__(self, config: dict[str, Any], options: dict[str, Any], preloaded: Any = None):
        self.config = config
        self.options = options
        self.preloaded = preloaded  # the master's Served, inherited by the workers it forks
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from serving import create_app

        return create_app(self.config, preloaded=self.preloaded)


def prepare(config: dict[str, Any]) -> str:
    """Verify the version to serve, write the target file; return the run directory."""
    log_signing()
    version = config["MODEL_VERSION"] or current_version(config["ARTIFACTS_DIR"])
    open_version(config["ARTIFACTS_DIR"], version)  # ArtifactError with a clear message
    check_event_store(config["EVENTS_DB"])
    run_dir = tempfile.mkdtemp(prefix="offers-serve-")
    config["MODEL_STATE_FILE"] = os.path.join(run_dir, "model-target.json")
    write_target(config["MODEL_STATE_FILE"], version or "")
    os.makedirs(os.path.join(run_dir, "metrics"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(run_dir, "metrics")
    for name in BLAS_ENV:
        os.environ[name] = str(config["BLAS_THREADS"])
    return run_dir


def check_event_store(location: str | None) -> None:
    """Open the configured event store once, so that one that cannot be used (a file that is
    not an SQLite database, a bad URL) is one ``error:`` line, not every worker failing to
    boot with a traceback. A database that is only unreachable now is left to the workers
    (they answer 503 until it is back)."""
    if not location:  # the app's default file under its instance path: created by it
        return
    from features.errors import StoreUnavailable
    from serving.store import open_store

    try:
        open_store(location).close()
    except StoreUnavailable as exc:
        logger.warning("event store %s is unavailable at start: %s", location, exc)


def log_signing() -> None:
    """Say once whether versions must be signed (ConfigError for an unreadable key)."""
    if signing_key() is None:
        logger.warning("no signing key configured (%s or %s): model versions are checked "
                       "against their hashes but not their signature", KEY_ENV, KEY_FILE_ENV)
    else:
        logger.info("signing key configured: unsigned or wrongly signed versions are refused")


def run_gunicorn(config: dict[str, Any], host: str, port: int, workers: int,
                 timeout: int = 60, worker_class: str = "gthread", threads: int = 16,
                 keepalive: int = 5, read_timeout: float = 10.0,
                 log_format: str = "text") -> None:
    """Serve until stopped (SIGINT/SIGTERM); SIGHUP reloads ``current`` as described above.

    ``worker_class`` ``gthread`` (the default) serves ``threads`` requests per
    worker, parks idle connections in a poller (not a thread) and closes a
    connection whose request (headers and body) has not arrived within
    ``read_timeout`` seconds (:class:`~serving.slow_clients.DeadlineThreadWorker`),
    so slow or stuck clients cannot hold every worker; ``sync`` is one request
    per worker with no read deadline (use it only behind a buffering proxy).
    ``log_format`` ``json`` makes gunicorn's own lines JSON objects too.
    """
    run_dir = prepare(config)
    master = os.getpid()
    try:
        _run(config, run_dir, host, port, workers, timeout, worker_class, threads, keepalive,
             read_timeout, log_format)
    finally:
        # Workers are forked inside run() and leave it through SystemExit too: only the
        # master may remove the directory the workers share.
        if os.getpid() == master:
            shutil.rmtree(run_dir, ignore_errors=True)


def _run(config, run_dir, host, port, workers, timeout, worker_class, threads, keepalive,
         read_timeout, log_format) -> None:
    from serving import create_app  # noqa: F401  (imported here to share its code pages)
    from serving.engine import load_catalog
    from serving.slow_clients import DeadlineThreadWorker

    catalog = load_catalog(config["CATALOG_PATH"])

    def on_reload(arbiter) -> None:
        old = read_target(config["MODEL_STATE_FILE"])
        try:
            target = current_version(config["ARTIFACTS_DIR"])
            served = load_served(config["ARTIFACTS_DIR"], target, catalog, config["ENGINE"])
        except Exception as exc:  # refuse: the workers restart on the old version
            logger.error("SIGHUP: refused the new version, staying on %s: %s", old,
                         one_line(exc))
            return
        server.preloaded = served
        write_target(config["MODEL_STATE_FILE"], target)
        logger.info("SIGHUP: switching workers from %s to %s", old, target)

    def pre_fork(arbiter, worker) -> None:
        gc.freeze()  # objects loaded so far are never collected: their pages stay shared

    def child_exit(arbiter, worker) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

    options = {
        "bind": f"{host}:{port}", "workers": workers, "timeout": timeout,
        "graceful_timeout": 30, "keepalive": keepalive, "on_reload": on_reload,
        "child_exit": child_exit, "pre_fork": pre_fork, "control_socket_disable": True,
        "proc_name": "offers-serve", "errorlog": "-", "loglevel": "info",
    }
    if worker_class == "gthread":
        DeadlineThreadWorker.read_timeout = read_timeout
        options.update(worker_class=DeadlineThreadWorker, threads=threads)
    else:
        options.update(worker_class="sync")
    if log_format == "json":  # gunicorn's own lines as JSON objects too (serving.log_format)
        from serving.log_format import JsonGunicornLogger

        options["logger_class"] = JsonGunicornLogger
    first = load_served(config["ARTIFACTS_DIR"], read_target(config["MODEL_STATE_FILE"]),
                        catalog, config["ENGINE"])
    server = OffersServer(config, options, preloaded=first)
    server.run()


def run_dev(config: dict[str, Any], host: str, port: int) -> None:
    """Flask's development server: one process, threads, SIGHUP reloads. Not for production."""
    from serving import create_app

    config = {**config, "SIGHUP_RELOAD": True}
    app = create_app(config)
    logger.warning("development server: use `offers serve` without --dev in production")
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)

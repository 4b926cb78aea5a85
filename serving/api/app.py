"""The serving API: per-member offers, recommendations and profiles over HTTP.

:func:`create_app` builds the Flask app (the Flask tutorial's shape): the
model, the offer catalog, the event store, the API keys and the metrics are
set up once and kept on ``app.extensions``; one blueprint per resource
answers the requests. Run it with ``offers serve ARTIFACTS_DIR`` (gunicorn),
or, from another WSGI server, ``serving:create_app()`` with the settings in
the environment (``OFFERS_ARTIFACTS_DIR``, ``OFFERS_SERVE_CONFIG``,
``OFFERS_API_KEYS``, ``OFFERS_EVENTS_DB``). The API is described in
``docs/api.md`` and, live, at ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from flask import Flask

from features.errors import ConfigError

logger = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None, *, preloaded: Any = None) -> Flask:
    """Build the app from ``test_config`` (upper-case keys) or from the environment.

    ``preloaded`` is a :class:`~serving.model_state.Served` already loaded by
    this process (``offers serve`` loads the model in the gunicorn master, so
    that the forked workers share its memory); it is used when its version is
    the one to serve, otherwise the version is loaded here.

    Raises
    ------
    ConfigError
        No artifacts directory, no API key (and not explicitly open), bad settings.
    ArtifactError
        The model version cannot be loaded, verified or smoke-checked.
    """
    from threadpoolctl import threadpool_limits

    from serving.api import (
        admin,
        batch,
        campaigns,
        docs,
        events,
        health,
        members,
        metrics,
        score_sends,
    )
    from serving.api.auth import KeyRing
    from serving.api.errors import register_error_handlers
    from serving.api.fast_path import FastPath
    from serving.api.hooks import register_hooks
    from serving.api.json_response import FastJSONProvider
    from serving.config import DEFAULTS, check_api_keys, load_serve_config
    from serving.engine import load_catalog
    from serving.engine.arms import parse_ab_test
    from serving.model_state import ModelHolder, read_target
    from serving.store import open_store

    app = Flask("serving")  # the instance folder stays beside the serving package
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_mapping(load_serve_config(
            os.environ.get("OFFERS_SERVE_CONFIG"),
            ARTIFACTS_DIR=os.environ.get("OFFERS_ARTIFACTS_DIR")))
    else:
        app.config.from_mapping(test_config)
    config = app.config
    check_api_keys(config["API_KEYS"])
    if not config["ARTIFACTS_DIR"]:
        raise ConfigError("no artifacts directory: give ARTIFACTS_DIR (offers serve DIR, or "
                          "OFFERS_ARTIFACTS_DIR).")
    if not config["API_KEYS"] and not config["AUTH_OPEN"]:
        raise ConfigError("no API key configured: set OFFERS_API_KEYS='KEY:read,events,admin' "
                          "(make one with `offers apikey`) or [api_keys] in the config file; "
                          "to serve without keys pass --open.")
    if config["AUTH_OPEN"]:
        logger.warning("serving WITHOUT API keys (--open): anyone who can connect can read "
                       "profiles, post events and reload the model")
    app.json = FastJSONProvider(app)  # orjson-encoded responses, same bytes
    threadpool_limits(limits=config["BLAS_THREADS"])  # numpy/BLAS: one thread per worker

    app.extensions["offers_keys"] = KeyRing(config["API_KEYS"])
    app.extensions["offers_metrics"] = app_metrics = metrics.Metrics()
    app.extensions["offers_catalog"] = catalog = load_catalog(config["CATALOG_PATH"])
    holder = ModelHolder(config["ARTIFACTS_DIR"], catalog, config["ENGINE"],
                         state_file=config["MODEL_STATE_FILE"],
                         check_seconds=config["MODEL_CHECK_SECONDS"],
                         on_swap=app_metrics.swapped, preloaded=preloaded)
    holder.reload(read_target(config["MODEL_STATE_FILE"]) or config["MODEL_VERSION"],
                  publish=False)
    app.extensions["offers_model"] = holder
    app.extensions["offers_store"] = open_store(
        config["EVENTS_DB"] or os.path.join(app.instance_path, "events.sqlite3"))
    if config["DECISION_LOG"]:  # decisions with propensities, written off the request path
        from serving.store.decisions import DecisionWriter

        app.extensions["offers_decisions"] = DecisionWriter(app.extensions["offers_store"])
    split = parse_ab_test(config["AB_TEST"])
    if split is not None:  # A/B test of versions or catalogs: each arm's engine, verified now
        from serving.arm_engines import ArmEngines

        app.extensions["offers_arms"] = ArmEngines(split, config["ARTIFACTS_DIR"],
                                                   holder.served.version, catalog,
                                                   config["ENGINE"])

    register_error_handlers(app)
    register_hooks(app)
    for module in (members, batch, score_sends, campaigns, events, admin, health, metrics,
                   docs):
        app.register_blueprint(module.bp)
    campaigns.init_app(app)  # campaign jobs: their table, their runner, interrupted ones failed
    # The 200 answers of the two hot GETs without Flask's routing (serving/api/fast_path.py).
    app.wsgi_app = FastPath(app, app.wsgi_app)
    if config["SIGHUP_RELOAD"]:
        _reload_on_sighup(holder)
    return app


def _reload_on_sighup(holder) -> None:
    """SIGHUP reloads ``current`` in a thread (single-process servers; gunicorn has its own)."""
    if threading.current_thread() is not threading.main_thread():
        logger.warning("not in the main thread: SIGHUP will not reload the model")
        return

    def reload_in_background() -> None:
        try:
            holder.reload()
        except Exception:  # logged by reload; the old version keeps serving
            pass

    signal.signal(signal.SIGHUP, lambda signum, frame: threading.Thread(
        target=reload_in_background, name="sighup-reload", daemon=True).start())

"""The serving configuration: defaults, a TOML file, the environment, then the command line.

Example ``serve.toml`` (every key optional; ``offers serve --config serve.toml``)::

    events_db = "instance/events.sqlite3"   # or "postgresql://user@db.internal/offers"
    version = ""                  # serve this version instead of `current`
    batch_max_members = 1000      # members per JSON batch request
    stream_max_members = 50000    # members per streamed (NDJSON) batch request
    events_max_per_request = 1000
    max_body_bytes = 1048576
    campaign_max_members = 50000  # member_ids per POST /v1/campaigns
    campaign_page_max = 10000     # offers per page of a campaign's offers
    decision_log = true           # log every decision (candidates, propensities) for replay

    [ab_test]                     # optional: arms by a stable member hash (serving/engine/arms.py)
    name = "december"
    arms = [{name = "A", share = 0.5}, {name = "B", share = 0.5, catalog = "new.yaml"}]

    [engine]
    epsilon = 0.0                 # share of decisions that explore (first offer drawn at random)

    [api_keys]                    # key = scopes: read, events, admin
    "kq3...long-random-key" = ["read", "events"]

The environment adds keys (``OFFERS_API_KEYS='key1:read,events;key2:admin'``)
and may name the event store (``OFFERS_EVENTS_DB``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from features.errors import ConfigError
from features.files import read_toml

SCOPES = ("read", "events", "admin")
MIN_KEY_LENGTH = 16

DEFAULTS: dict[str, Any] = {
    "ARTIFACTS_DIR": None,
    "MODEL_VERSION": None,          # None: the version `current` points at
    "MODEL_STATE_FILE": None,       # shared by the workers of one server (set by `offers serve`)
    "MODEL_CHECK_SECONDS": 1.0,     # how often a worker looks at MODEL_STATE_FILE
    "EVENTS_DB": None,              # None: <instance path>/events.sqlite3
    "API_KEYS": {},                 # key -> list of scopes
    "AUTH_OPEN": False,             # serve without keys (must be asked for explicitly)
    "MAX_CONTENT_LENGTH": 1 << 20,  # bytes per request body (Flask enforces it: 413)
    "STREAM_MAX_BYTES": 8 << 20,    # bytes of a streamed batch request body
    "BATCH_MAX_MEMBERS": 1000,
    "STREAM_MAX_MEMBERS": 50_000,
    "EVENTS_MAX_PER_REQUEST": 1000,
    "CATALOG_PATH": None,           # None: the catalog shipped with the offer engine
    "ENGINE": {},                   # options passed to the offer engine
    "BLAS_THREADS": 1,
    "SIGHUP_RELOAD": False,         # install a SIGHUP handler (single-process servers)
    "CAMPAIGN_MAX_MEMBERS": 50_000,  # member_ids per POST /v1/campaigns (segments: no cap)
    "CAMPAIGN_PAGE_MAX": 10_000,    # offers per page of GET /v1/campaigns/{id}/offers
    "CAMPAIGN_PROCESSES": 1,        # processes a campaign job scores with (forks past 100k)
    "CAMPAIGN_JOBS_INLINE": False,  # run campaign jobs inside the request (tests)
    "CAMPAIGN_JOB_HEARTBEAT_SECONDS": 10.0,  # how often a worker says its jobs still run
    "CAMPAIGN_JOB_STALE_SECONDS": 300.0,     # silent this long: the job's process is gone
    "CAMPAIGN_JOB_KEEP_DAYS": 30.0,  # finished jobs and their offers are deleted after this
    "DECISION_LOG": True,           # log decisions to the event store's decision_log table
    "AB_TEST": None,                # [ab_test]: members split between versions or catalogs
}

# TOML key -> config key
FILE_KEYS = {
    "artifacts_dir": "ARTIFACTS_DIR", "version": "MODEL_VERSION", "events_db": "EVENTS_DB",
    "api_keys": "API_KEYS", "open": "AUTH_OPEN", "max_body_bytes": "MAX_CONTENT_LENGTH",
    "stream_max_bytes": "STREAM_MAX_BYTES", "batch_max_members": "BATCH_MAX_MEMBERS",
    "stream_max_members": "STREAM_MAX_MEMBERS",
    "events_max_per_request": "EVENTS_MAX_PER_REQUEST", "catalog": "CATALOG_PATH",
    "engine": "ENGINE", "blas_threads": "BLAS_THREADS",
    "model_check_seconds": "MODEL_CHECK_SECONDS",
    "campaign_max_members": "CAMPAIGN_MAX_MEMBERS", "campaign_page_max": "CAMPAIGN_PAGE_MAX",
    "campaign_processes": "CAMPAIGN_PROCESSES",
    "campaign_job_stale_seconds": "CAMPAIGN_JOB_STALE_SECONDS",
    "campaign_job_keep_days": "CAMPAIGN_JOB_KEEP_DAYS",
    "decision_log": "DECISION_LOG", "ab_test": "AB_TEST",
}  # fmt: skip


def load_serve_config(path: str | os.PathLike | None = None,
                      env: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Defaults, then the TOML file at ``path``, then ``env``, then non-None ``overrides``.

    ``overrides`` use the upper-case config keys (``ARTIFACTS_DIR=...``).
    Unknown keys and malformed API keys are :class:`ConfigError`.
    """
    config = dict(DEFAULTS, API_KEYS={})
    if path is not None:
        config.update(_read_file(Path(path)))
    env = os.environ if env is None else env
    if env.get("OFFERS_API_KEYS"):
        config["API_KEYS"] = {**config["API_KEYS"], **parse_api_keys(env["OFFERS_API_KEYS"])}
    if env.get("OFFERS_EVENTS_DB"):
        config["EVENTS_DB"] = env["OFFERS_EVENTS_DB"]
    for key, value in overrides.items():
        if key not in DEFAULTS:
            raise ConfigError(f"unknown serving setting {key!r}; known: {', '.join(DEFAULTS)}")
        if value is not None:
            config[key] = value
    check_api_keys(config["API_KEYS"])
    return config


def _read_file(path: Path) -> dict[str, Any]:
    loaded = read_toml(path)
    unknown = sorted(set(loaded) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(FILE_KEYS)}.")
    return {FILE_KEYS[key]: value for key, value in loaded.items()}


def parse_api_keys(text: str) -> dict[str, list[str]]:
    """``'key1:read,events;key2:admin'`` -> ``{'key1': ['read', 'events'], 'key2': ['admin']}``.

    >>> parse_api_keys("k" * 16 + ":read,events")
    {'kkkkkkkkkkkkkkkk': ['read', 'events']}
    """
    keys: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, scopes = part.rpartition(":")
        if not sep or not key:
            raise ConfigError("OFFERS_API_KEYS entries look like KEY:scope,scope separated by "
                              f"';' (scopes: {', '.join(SCOPES)}); an entry has no ':'.")
        keys[key.strip()] = [s.strip() for s in scopes.split(",") if s.strip()]
    return keys


def check_api_keys(keys: Any) -> None:
    """Refuse short keys, unknown scopes and keys without scopes (the key itself is not shown)."""
    if not isinstance(keys, dict):
        raise ConfigError("api_keys must be a table of KEY = [scopes].")
    for n, (key, scopes) in enumerate(keys.items(), start=1):
        if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            raise ConfigError(f"API key #{n} is shorter than {MIN_KEY_LENGTH} characters; "
                              "generate one with `offers apikey`.")
        if not isinstance(scopes, list) or not scopes:
            raise ConfigError(f"API key #{n} has no scopes; give some of {', '.join(SCOPES)}.")
        bad = [s for s in scopes if s not in SCOPES]
        if bad:
            raise ConfigError(f"API key #{n} has unknown scope(s) {', '.join(map(str, bad))}; "
                              f"use {', '.join(SCOPES)}.")

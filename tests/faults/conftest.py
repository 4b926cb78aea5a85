"""Fixtures of the fault tests: broken copies of a version, app configs, a real `offers serve`.

The trained version comes from ``tests/conftest.py`` (``trained_artifacts``,
``artifacts_copy``); each test breaks its own copy. Helpers and keys are in
``fault_helpers.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fault_helpers import KEYS, Server, rewrite_manifest


@pytest.fixture
def clone(artifacts_copy):
    """``clone(name)``: a valid copy of the trained version under a new name; its path."""
    root, version = artifacts_copy

    def make(name: str) -> Path:
        dst = root / name
        shutil.copytree(root / version, dst)
        rewrite_manifest(dst, lambda m: m.update(version=name))
        return dst

    return make


@pytest.fixture
def app_config(tmp_path):
    """``app_config(artifacts_dir, **overrides)``: a test app's config with the keys above."""

    def make(artifacts_dir, **overrides) -> dict:
        return {"ARTIFACTS_DIR": str(artifacts_dir),
                "EVENTS_DB": str(tmp_path / "events.sqlite3"), "API_KEYS": KEYS,
                "TESTING": True, **overrides}

    return make


@pytest.fixture
def make_app(app_config):
    """``make_app(artifacts_dir, **overrides)``: an app (its event store closed afterwards)."""
    from serving import create_app

    made = []

    def make(artifacts_dir, **overrides):
        app = create_app(app_config(artifacts_dir, **overrides))
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["offers_store"].close()


@pytest.fixture
def serve_env(monkeypatch):
    """Restore the variables ``offers serve`` sets in its own process (run in-process here)."""
    from serving.server import BLAS_ENV

    for name in ("PROMETHEUS_MULTIPROC_DIR", *BLAS_ENV):
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if not os.environ[name]:
            monkeypatch.delenv(name)


@pytest.fixture
def serve(tmp_path):
    """``serve(artifacts_dir, *options, env=None)``: start `offers serve`; stopped afterwards."""
    started = []

    def start(artifacts, *args, env=None) -> Server:
        server = Server(Path(artifacts), tmp_path, *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()




@pytest.fixture(scope="module")
def own_postgres():
    """A PostgreSQL server the test may stop and start (``stop()``, ``start()``, ``url``).

    Skips without the server programs, except under CI (then it fails, as the
    other PostgreSQL tests do).
    """
    from fault_helpers import OwnPostgres, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no PostgreSQL server programs are installed")
        pytest.skip("no PostgreSQL server programs (initdb) installed")
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="offers-faults-pg-"))
    server = OwnPostgres(bindir, tmp)
    yield server
    try:
        server.stop("immediate")
    except Exception:  # already stopped by the test
        pass
    shutil.rmtree(tmp, ignore_errors=True)

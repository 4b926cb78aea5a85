"""Fixtures of the serving tests: app configs, request headers and cloned versions.

The trained artifacts they serve come from the top-level ``tests/conftest.py``
(``trained_artifacts``, ``artifacts_copy``); the keys are in ``keys.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from keys import KEYS


@pytest.fixture
def app(make_config, trained_artifacts, tmp_path):
    """A fresh app over the trained version with the test keys, its event store closed after
    the test (modules that need another app define their own ``app``)."""
    from serving import create_app

    app = create_app(make_config(trained_artifacts[0], tmp_path))
    yield app
    app.extensions["offers_store"].close()


@pytest.fixture(scope="session")
def auth():
    """``auth(key)``: the Authorization header for ``key``."""

    def header(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    return header


@pytest.fixture(scope="session")
def make_config():
    """``make_config(artifacts_dir, tmp_path, **overrides)``: a test app's config.

    The given artifacts, an SQLite store under ``tmp_path``, the test keys, small caps.
    """

    def make(artifacts_dir, tmp_path, **overrides) -> dict:
        return {
            "ARTIFACTS_DIR": str(artifacts_dir),
            "EVENTS_DB": str(tmp_path / "events.sqlite3"),
            "API_KEYS": KEYS,
            "BATCH_MAX_MEMBERS": 10,
            "STREAM_MAX_MEMBERS": 50,
            "EVENTS_MAX_PER_REQUEST": 20,
            "TESTING": True,
            **overrides,
        }

    return make


@pytest.fixture(scope="session")
def clone_version():
    """``clone_version(artifacts_dir, version, new_version, corrupt=False)``: copy a version.

    The copy is a valid version under the new name unless ``corrupt`` (then its
    member table no longer matches its hash).
    """

    def clone(artifacts_dir, version: str, new_version: str, corrupt: bool = False) -> str:
        root = Path(artifacts_dir)
        dst = root / new_version
        shutil.copytree(root / version, dst)
        manifest = json.loads((dst / "manifest.json").read_text())
        manifest["version"] = new_version
        (dst / "manifest.json").write_text(json.dumps(manifest))
        if corrupt:
            with open(dst / "members.parquet", "ab") as fh:
                fh.write(b"tampered")
        return new_version

    return clone

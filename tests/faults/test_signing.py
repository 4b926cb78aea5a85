"""Signed manifests: with a key configured, only versions signed with it load anywhere.

The attack the hashes alone miss (issue 16): files replaced *and* the
manifest's hashes rewritten. Serving never unpickles: a version whose joblib
files are garbage (hashes updated) still serves.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from click.testing import CliRunner
from fault_helpers import ADMIN, READ, SIGNING_KEY, free_port, rehash

from features.errors import ArtifactError, ConfigError
from serving.model_state import load_served
from serving.server import log_signing
from training.artifacts import open_version, start_version
from training.artifacts.signing import (
    KEY_ENV,
    KEY_FILE_ENV,
    SIGNATURE,
    sign_manifest,
    signing_key,
)


def sign(version_dir, key: str = SIGNING_KEY) -> None:
    data = (version_dir / "manifest.json").read_bytes()
    (version_dir / SIGNATURE).write_text(sign_manifest(data, key.encode()))


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


@pytest.fixture
def with_key(monkeypatch, no_key):
    monkeypatch.setenv(KEY_ENV, SIGNING_KEY)


@pytest.fixture(scope="module")
def catalog():
    from serving.engine import load_catalog

    return load_catalog(None)


def _replace_members(version_dir) -> None:
    """An attacker's member table: valid Parquet, every churn risk set to 0, hash rewritten."""
    import pandas as pd

    members = pd.read_parquet(version_dir / "members.parquet")
    members["churn_risk"] = 0.0
    members.to_parquet(version_dir / "members.parquet", index=False)
    rehash(version_dir, "members.parquet")


def test_the_writer_signs_and_loaders_check_the_signature(tmp_path, with_key, monkeypatch):
    writer = start_version(tmp_path)
    writer.save_array("a", np.arange(3))
    writer.commit({})
    version_dir = tmp_path / writer.version
    assert (version_dir / SIGNATURE).read_text().startswith("hmac-sha256:")
    assert open_version(tmp_path).load_array("a").tolist() == [0, 1, 2]
    monkeypatch.setenv(KEY_ENV, "another-key-of-enough-length")
    with pytest.raises(ArtifactError, match="does not match") as refused:
        open_version(tmp_path)
    assert writer.version in str(refused.value) and SIGNING_KEY not in str(refused.value)
    monkeypatch.delenv(KEY_ENV)
    assert open_version(tmp_path).version == writer.version  # no key: hashes only


def test_rewritten_files_and_hashes_are_refused_only_with_a_key(clone, artifacts_copy, catalog,
                                                               no_key, monkeypatch):
    root, _ = artifacts_copy
    name = "20990101T000000000000Z-sig1"
    version_dir = clone(name)
    sign(version_dir)
    _replace_members(version_dir)
    served = load_served(str(root), name, catalog, {})  # no key: the rewrite goes unnoticed
    assert served.version == name
    monkeypatch.setenv(KEY_ENV, SIGNING_KEY)
    with pytest.raises(ArtifactError) as refused:
        load_served(str(root), name, catalog, {})
    message = str(refused.value)
    assert name in message and SIGNATURE in message and "does not match" in message
    assert SIGNING_KEY not in message


def test_an_unsigned_version_is_refused_everywhere_when_a_key_is_set(
        clone, artifacts_copy, catalog, make_app, with_key, serve_env, caplog):
    from offers.cli import main

    root, unsigned = artifacts_copy
    signed = "20990101T000000000000Z-sig2"
    sign(clone(signed))
    with pytest.raises(ArtifactError, match="is not signed"):
        open_version(root, unsigned)
    result = CliRunner().invoke(main, ["serve", str(root), "--version", unsigned, "--open",
                                  "--port", str(free_port())])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("error: ")] == [
        line for line in result.output.splitlines() if "is not signed" in line]
    app = make_app(root, MODEL_VERSION=signed)
    client = app.test_client()
    answer = client.post("/v1/admin/reload", json={"version": unsigned},
                         headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 422
    assert "is not signed" in answer.get_json()["error"]["message"]
    model = client.get("/v1/model", headers={"Authorization": f"Bearer {READ}"}).get_json()
    assert model["version"] == signed
    assert SIGNING_KEY not in caplog.text and SIGNING_KEY not in result.output


def test_serving_never_unpickles(clone, artifacts_copy, catalog, with_key, monkeypatch):
    import joblib

    root, _ = artifacts_copy
    name = "20990101T000000000000Z-sig3"
    version_dir = clone(name)
    pickles = sorted(p.name for p in version_dir.glob("*.joblib"))
    assert pickles  # training writes some: the test would prove nothing otherwise
    for filename in pickles:
        (version_dir / filename).write_bytes(b"not a pickle: unpickling this fails")
    rehash(version_dir, *pickles)
    sign(version_dir)

    def refuse(*args, **kwargs):
        raise AssertionError("serving unpickled a joblib file")

    monkeypatch.setattr(joblib, "load", refuse)
    served = load_served(str(root), name, catalog, {})
    assert served.version == name and served.bundle.recommend("1", k=2)


def test_the_key_comes_from_a_file_and_bad_keys_are_named_not_shown(tmp_path, no_key):
    key_file = tmp_path / "signing.key"
    key_file.write_text(SIGNING_KEY + "\n")
    assert signing_key({KEY_FILE_ENV: str(key_file)}) == SIGNING_KEY.encode()
    assert signing_key({}) is None
    with pytest.raises(ConfigError, match="shorter than 16") as short:
        signing_key({KEY_ENV: "short-key"})
    assert "short-key" not in str(short.value)
    with pytest.raises(ConfigError, match="cannot read the signing key file"):
        signing_key({KEY_FILE_ENV: str(tmp_path / "missing.key")})


def test_start_up_says_whether_versions_must_be_signed(no_key, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="serving.server"):
        log_signing()
        monkeypatch.setenv(KEY_ENV, SIGNING_KEY)
        log_signing()
    messages = [r.getMessage() for r in caplog.records if r.name == "serving.server"]
    assert len(messages) == 2
    assert "no signing key configured" in messages[0]
    assert "unsigned or wrongly signed versions are refused" in messages[1]
    assert SIGNING_KEY not in caplog.text


def test_offers_train_signs_with_a_key_file(make_data_dir, tmp_path, no_key, monkeypatch):
    """The option reaches the pipeline's writer (the pipeline itself is stubbed: fast)."""
    import training.pipeline
    from offers.cli import main

    def fake_train(data_dir, artifacts_dir, as_of=None, config=None):
        writer = start_version(artifacts_dir)  # what the pipeline calls
        writer.save_array("a", np.arange(2))
        writer.commit({})
        raise SystemExit(0)  # stop before the CLI prints the metrics of a real run

    monkeypatch.setattr(training.pipeline, "train", fake_train)
    key_file = tmp_path / "signing.key"
    key_file.write_text(SIGNING_KEY)
    out = tmp_path / "artifacts"
    monkeypatch.setenv(KEY_FILE_ENV, "")  # the option sets it; restored afterwards
    result = CliRunner().invoke(main, ["train", str(make_data_dir()), "--out", str(out),
                                       "--signing-key-file", str(key_file)])
    assert result.exit_code == 0, result.output
    opened = open_version(out)  # verified with the key from the file
    assert (opened.path / SIGNATURE).is_file()
    monkeypatch.setenv(KEY_FILE_ENV, "")
    monkeypatch.setenv(KEY_ENV, "a-different-key-0123456789")
    with pytest.raises(ArtifactError, match="does not match"):
        open_version(out)
    short = tmp_path / "short.key"
    short.write_text("short")
    result = CliRunner().invoke(main, ["train", str(make_data_dir("d2")), "--out", str(out),
                                       "--signing-key-file", str(short)])
    assert result.exit_code == 1 and "shorter than 16 bytes" in result.output

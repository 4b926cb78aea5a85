"""Versioned artifacts: atomic versions, the current pointer, verification before loading."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from training import artifacts
from training.artifacts.store import ArtifactError


def write(root, value=1.0, make_current=True):
    writer = artifacts.start_version(root)
    writer.save_array("factors", np.full((3, 2), value, dtype=np.float32))
    writer.save_joblib("model", LogisticRegression(C=value))
    writer.save_json("metrics", {"auc": value})
    writer.commit({"as_of": "2024-01-01", "metrics": {"auc": value}}, make_current=make_current)
    return writer.version


def test_version_roundtrip_with_memory_mapped_arrays(tmp_path):
    version = write(tmp_path)
    assert artifacts.current_version(tmp_path) == version
    opened = artifacts.open_version(tmp_path)
    factors = opened.load_array("factors")
    assert isinstance(factors, np.memmap) and factors.tolist() == [[1.0, 1.0]] * 3
    assert opened.load_joblib("model").C == 1.0
    assert opened.load_json("metrics") == {"auc": 1.0}
    manifest = opened.manifest
    assert set(manifest["files"]) == {"factors.npy", "model.joblib", "metrics.json"}
    assert manifest["as_of"] == "2024-01-01" and "scikit-learn" in manifest["libraries"]


def test_tampered_joblib_file_is_refused_before_loading(tmp_path):
    version = write(tmp_path)
    path = tmp_path / version / "model.joblib"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ArtifactError, match="model.joblib does not match its SHA-256"):
        artifacts.open_version(tmp_path)


def test_missing_and_unexpected_files_are_refused(tmp_path):
    version = write(tmp_path)
    (tmp_path / version / "extra.npy").write_bytes(b"x")
    with pytest.raises(ArtifactError, match=r"unexpected: \['extra.npy'\]"):
        artifacts.open_version(tmp_path)
    (tmp_path / version / "extra.npy").unlink()
    (tmp_path / version / "factors.npy").unlink()
    with pytest.raises(ArtifactError, match=r"missing: \['factors.npy'\]"):
        artifacts.open_version(tmp_path)


def test_library_version_mismatch_is_refused(tmp_path):
    version = write(tmp_path)
    manifest_path = tmp_path / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["libraries"]["scikit-learn"] = "0.1.0"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="written with scikit-learn 0.1.0"):
        artifacts.open_version(tmp_path)


def test_failed_training_leaves_previous_version_current_and_nothing_half_written(tmp_path):
    first = write(tmp_path)
    writer = artifacts.start_version(tmp_path)
    writer.save_array("factors", np.zeros(3))
    writer.abort()
    # A run killed without cleaning up leaves a temporary directory: the next run removes
    # it once its process is gone, never while it runs (it writes from its first step).
    running = artifacts.start_version(tmp_path)
    running.save_array("factors", np.zeros(3))
    killed = artifacts.start_version(tmp_path)
    killed.save_array("factors", np.zeros(3))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dead = killed.path.with_name(killed.path.name.rpartition(":")[0] + f":{gone}")
    killed.path.rename(dead)
    legacy = tmp_path / ".tmp-20240101T000000000000Z-abcd"  # named before owners were
    legacy.mkdir()
    assert artifacts.current_version(tmp_path) == first
    assert [m["version"] for m in artifacts.list_versions(tmp_path)] == [first]
    artifacts.start_version(tmp_path).abort()
    assert sorted(os.listdir(tmp_path)) == sorted([first, "current", running.path.name])
    assert running.commit({"as_of": "2026-01-01"}).name == running.version


def test_rollback_to_previous_and_named_versions(tmp_path):
    first = write(tmp_path, 1.0)
    second = write(tmp_path, 2.0)
    assert artifacts.current_version(tmp_path) == second
    assert artifacts.rollback(tmp_path) == first
    assert artifacts.open_version(tmp_path).load_json("metrics") == {"auc": 1.0}
    with pytest.raises(ArtifactError, match="no version before"):
        artifacts.rollback(tmp_path)
    assert artifacts.rollback(tmp_path, second) == second
    with pytest.raises(ArtifactError, match="unknown version 'nope'"):
        artifacts.rollback(tmp_path, "nope")


def test_rollback_in_a_directory_without_versions_says_so(tmp_path):
    """It said "no version before None to roll back to; name one of: " (issue 14: errors
    that say what to do)."""
    for version in (None, "v1"):
        with pytest.raises(ArtifactError) as refused:
            artifacts.rollback(tmp_path, version)
        assert str(refused.value) == (f"{tmp_path} has no versions to roll back to; train one "
                                      "with `offers train`.")


def test_empty_directory_has_no_current_version(tmp_path):
    with pytest.raises(ArtifactError, match="has no current version; train one"):
        artifacts.open_version(tmp_path)

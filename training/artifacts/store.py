"""Versioned model artifacts: written atomically, verified before anything is loaded.

Layout::

    ARTIFACTS_DIR/
        current -> 20261122T101500123456Z-3f9a     (symlink, switched atomically)
        20261122T101500123456Z-3f9a/
            manifest.json                      (metadata + SHA-256 of every file)
            *.npy  *.parquet  *.joblib  *.json  report.html

A version is written into a hidden temporary directory and renamed into place
only when complete; ``current`` is switched after that. A failed or
interrupted training therefore leaves the previous version current and no
half-written version behind (stale temporary directories of a killed run are
removed by the next one). Loading checks every file's hash and the library
versions recorded in the manifest before it reads anything: a joblib file runs
code when loaded, so one that fails its hash is never opened.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from features.errors import ArtifactError
from training.artifacts.schema import FORMAT_VERSION

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CURRENT = "current"
TMP_PREFIX = ".tmp-"
# Libraries whose pickled objects or array layouts must match between writer and reader.
CHECKED_LIBRARIES = ("scikit-learn", "numpy", "implicit")


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    names = (
        "offer-recommender", "numpy", "pandas", "scikit-learn", "implicit", "pyarrow", "joblib"
    )
    return {name: version(name) for name in names}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _compatible(written: str, running: str) -> bool:
    """Same major.minor: pickles and array layouts are not promised across minor releases."""
    return written.split(".")[:2] == running.split(".")[:2]


class VersionWriter:
    """Collects the files of one new version in a temporary directory.

    Use :func:`write_version`; call ``save_*`` for each file, then
    :meth:`commit`.
    """

    def __init__(self, root: Path, version: str):
        self.root = root
        self.version = version
        self.path = root / f"{TMP_PREFIX}{version}"
        self.path.mkdir(parents=True)

    def file(self, name: str) -> Path:
        if "/" in name or name.startswith(".") or name == MANIFEST:
            raise ValueError(f"invalid artifact file name {name!r}")
        return self.path / name

    def save_array(self, name: str, array: np.ndarray) -> None:
        # np.asarray keeps 0-d arrays 0-d (ascontiguousarray would make them 1-d).
        np.save(self.file(f"{name}.npy"), np.asarray(array, order="C"), allow_pickle=False)

    def save_frame(self, name: str, frame: pd.DataFrame) -> None:
        frame.to_parquet(self.file(f"{name}.parquet"), index=False)

    def save_joblib(self, name: str, obj: Any) -> None:
        joblib.dump(obj, self.file(f"{name}.joblib"))

    def save_json(self, name: str, obj: Any) -> None:
        self.file(f"{name}.json").write_text(json.dumps(obj, indent=2, default=str))

    def save_text(self, filename: str, text: str) -> None:
        self.file(filename).write_text(text, encoding="utf-8")

    def commit(self, manifest: dict[str, Any], make_current: bool = True) -> Path:
        """Hash every file, write the manifest, move the version into place, switch ``current``."""
        files = sorted(p for p in self.path.iterdir() if p.is_file())
        manifest = {
            "format": FORMAT_VERSION,
            "version": self.version,
            "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "libraries": library_versions(),
            **manifest,
            "files": {p.name: sha256_file(p) for p in files},
        }
        (self.path / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        _fsync_dir_files(self.path)
        final = self.root / self.version
        os.rename(self.path, final)
        if make_current:
            set_current(self.root, self.version)
        logger.info("wrote artifact version %s", self.version)
        return final

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def new_version_id() -> str:
    """A sortable id: UTC time to the microsecond, then a random suffix."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}Z-" + secrets.token_hex(2)


def start_version(artifacts_dir: str | os.PathLike) -> VersionWriter:
    """Begin a new version under ``artifacts_dir`` (removing leftovers of killed runs)."""
    root = Path(artifacts_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{TMP_PREFIX}*"):
        logger.info("removing %s left by an interrupted training", stale.name)
        shutil.rmtree(stale, ignore_errors=True)
    return VersionWriter(root, new_version_id())


def set_current(artifacts_dir: str | os.PathLike, version: str) -> None:
    """Point ``current`` at ``version`` with an atomic rename of a new symlink."""
    root = Path(artifacts_dir)
    if not (root / version / MANIFEST).is_file():
        raise ArtifactError(f"version {version!r} is not a complete version in {root}")
    tmp = root / f"{TMP_PREFIX}current-{secrets.token_hex(4)}"
    os.symlink(version, tmp)
    os.replace(tmp, root / CURRENT)


def current_version(artifacts_dir: str | os.PathLike) -> str | None:
    link = Path(artifacts_dir) / CURRENT
    return os.readlink(link) if link.is_symlink() else None


def list_versions(artifacts_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Manifests of every complete version, oldest first."""
    root = Path(artifacts_dir)
    if not root.is_dir():
        raise ArtifactError(
            f"{root} is not an artifacts directory; train first with `offers train`."
        )
    out = []
    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.is_symlink() and (path / MANIFEST).is_file():
            out.append(json.loads((path / MANIFEST).read_text()))
    return out


def rollback(artifacts_dir: str | os.PathLike, version: str | None = None) -> str:
    """Point ``current`` at ``version`` or, by default, at the version before the current one."""
    versions = [m["version"] for m in list_versions(artifacts_dir)]
    if version is None:
        now = current_version(artifacts_dir)
        if now not in versions or versions.index(now) == 0:
            raise ArtifactError(
                f"no version before {now!r} to roll back to; name one of: {', '.join(versions)}"
            )
        version = versions[versions.index(now) - 1]
    elif version not in versions:
        raise ArtifactError(f"unknown version {version!r}; known: {', '.join(versions) or 'none'}")
    open_version(artifacts_dir, version)  # verify before switching
    set_current(artifacts_dir, version)
    return version


@dataclass
class ArtifactVersion:
    """A verified version: read its files with the ``load_*`` methods."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def _checked(self, filename: str) -> Path:
        if filename not in self.manifest["files"]:
            raise ArtifactError(f"{self.path.name} has no file {filename!r}")
        return self.path / filename

    def has(self, filename: str) -> bool:
        return filename in self.manifest["files"]

    def load_array(self, name: str, mmap: bool = True) -> np.ndarray:
        """An array, memory-mapped read-only by default (workers share the pages).

        0-d arrays (scalars such as a model's class name) are read into memory:
        numpy would memory-map them with shape (1,).
        """
        path = self._checked(f"{name}.npy")
        if mmap and _npy_shape(path) == ():
            mmap = False
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)

    def load_frame(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self._checked(f"{name}.parquet"))

    def load_json(self, name: str) -> Any:
        return json.loads(self._checked(f"{name}.json").read_text())

    def load_joblib(self, name: str) -> Any:
        """Load a joblib file from bytes whose hash was checked just now (no check/use race)."""
        filename = f"{name}.joblib"
        data = self._checked(filename).read_bytes()
        if hashlib.sha256(data).hexdigest() != self.manifest["files"][filename]:
            raise ArtifactError(
                f"{self.path / filename} does not match its SHA-256; refusing to load it."
            )
        return joblib.load(io.BytesIO(data))


def open_version(artifacts_dir: str | os.PathLike, version: str | None = None) -> ArtifactVersion:
    """Open ``version`` (default: ``current``) after verifying hashes and library versions.

    Raises
    ------
    ArtifactError
        When the version is missing or incomplete, a file is missing, extra or
        does not match its hash, or it was written by incompatible libraries.
    """
    root = Path(artifacts_dir)
    version = version or current_version(root)
    if version is None:
        raise ArtifactError(f"{root} has no current version; train one with `offers train`.")
    path = root / version
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"{path} is not a complete artifact version (no {MANIFEST}).")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has artifact format {manifest.get('format')!r}, this program reads "
            f"{FORMAT_VERSION}; retrain with this version."
        )
    running = library_versions()
    for lib in CHECKED_LIBRARIES:
        written = manifest["libraries"].get(lib, "?")
        if not _compatible(written, running[lib]):
            raise ArtifactError(
                f"{path} was written with {lib} {written} but {running[lib]} is installed; "
                "retrain, or install the versions it was trained with."
            )
    present = {p.name for p in path.iterdir() if p.is_file()} - {MANIFEST}
    expected = set(manifest["files"])
    if present != expected:
        raise ArtifactError(
            f"{path} does not hold exactly the files its manifest lists "
            f"(missing: {sorted(expected - present)}, unexpected: {sorted(present - expected)})."
        )
    for name, digest in manifest["files"].items():
        if sha256_file(path / name) != digest:
            raise ArtifactError(f"{path / name} does not match its SHA-256 in the manifest; "
                                "the file was changed or corrupted. Retrain or roll back.")
    return ArtifactVersion(path, manifest)


def _npy_shape(path: Path) -> tuple[int, ...]:
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0 if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, _, _ = read_header(fh)
    return shape


def _fsync_dir_files(path: Path) -> None:
    for p in path.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())

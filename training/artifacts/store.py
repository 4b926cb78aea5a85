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
removed by the next one). A write that fails (a full disk: ``ENOSPC``) is an
:class:`ArtifactError` naming the file, and leaves nothing behind.

Loading checks every file's hash and the library versions recorded in the
manifest before it reads anything: a joblib file runs code when loaded, so one
that fails its hash is never opened. With a signing key configured
(:mod:`.signing`), the manifest is signed on commit and a version whose
``manifest.sig`` is missing or wrong is refused before its hashes are even
trusted. Every way a version can be broken (no or unreadable manifest, a
missing entry or a wrong type in it, a missing, extra or altered file, a file
that cannot be parsed) is one :class:`ArtifactError` line naming the version,
the file and what to do.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import ArtifactError
from training.artifacts import signing
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

    def __init__(self, root: Path, version: str, signing_key: bytes | None = None):
        self.root = root
        self.version = version
        self.signing_key = signing_key
        # The owner in the name: a later run removes the directory only once its process
        # is gone (:func:`_abandoned`); a run writes into it from its first step.
        self.path = root / f"{TMP_PREFIX}{version}@{socket.gethostname()}:{os.getpid()}"
        with self._writing(self.path.name):
            self.path.mkdir(parents=True)

    @contextmanager
    def _writing(self, name: str):
        """Turn a failed write (a full disk, a read-only directory) into one clear error."""
        try:
            yield
        except OSError as exc:
            raise ArtifactError(
                f"cannot write {name} of the new version {self.version} in {self.root}: "
                f"{exc.strerror or exc}; free space (or fix permissions) and train again. "
                "The current version is unchanged.") from exc

    def file(self, name: str) -> Path:
        if "/" in name or name.startswith(".") or name in (MANIFEST, signing.SIGNATURE):
            raise ValueError(f"invalid artifact file name {name!r}")
        return self.path / name

    def save_array(self, name: str, array: np.ndarray) -> None:
        # np.asarray keeps 0-d arrays 0-d (ascontiguousarray would make them 1-d).
        with self._writing(f"{name}.npy"):
            np.save(self.file(f"{name}.npy"), np.asarray(array, order="C"), allow_pickle=False)

    def save_frame(self, name: str, frame: pd.DataFrame) -> None:
        with self._writing(f"{name}.parquet"):
            frame.to_parquet(self.file(f"{name}.parquet"), index=False)

    def save_joblib(self, name: str, obj: Any) -> None:
        with self._writing(f"{name}.joblib"):
            joblib.dump(obj, self.file(f"{name}.joblib"))

    def save_json(self, name: str, obj: Any) -> None:
        with self._writing(f"{name}.json"):
            self.file(f"{name}.json").write_text(json.dumps(obj, indent=2, default=str))

    def save_text(self, filename: str, text: str) -> None:
        with self._writing(filename):
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
        data = json.dumps(manifest, indent=2, default=str).encode()
        with self._writing(MANIFEST):
            (self.path / MANIFEST).write_bytes(data)
            if self.signing_key is not None:
                (self.path / signing.SIGNATURE).write_text(
                    signing.sign_manifest(data, self.signing_key), encoding="ascii")
            _fsync_dir_files(self.path)
            final = self.root / self.version
            os.rename(self.path, final)
        if make_current:
            with self._writing(CURRENT):
                set_current(self.root, self.version)
        logger.info("wrote artifact version %s", self.version)
        return final

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def new_version_id() -> str:
    """A sortable id: UTC time to the microsecond, then a random suffix."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}Z-" + secrets.token_hex(2)


def start_version(artifacts_dir: str | os.PathLike,
                  signing_key: bytes | None = None) -> VersionWriter:
    """Begin a new version under ``artifacts_dir`` (removing leftovers of killed runs).

    The version is signed with ``signing_key``, by default the key configured
    in the environment (:func:`.signing.signing_key`; unsigned when there is none).
    """
    root = Path(artifacts_dir)
    key = signing_key if signing_key is not None else signing.signing_key()
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{TMP_PREFIX}*"):
        if _abandoned(stale):
            logger.info("removing %s left by an interrupted training", stale.name)
            shutil.rmtree(stale, ignore_errors=True)
    return VersionWriter(root, new_version_id(), signing_key=key)


def _abandoned(path: Path) -> bool:
    """Whether a temporary version was left by a training that is no longer running.

    Its name ends ``@host:pid``: abandoned when written on this host by a process that
    is gone. One of another host (a shared directory) is kept for a day, then taken as
    abandoned; one without an owner (written before owners were named) is abandoned.
    """
    host, sep, pid = path.name.rpartition("@")[2].rpartition(":")
    if not sep or not pid.isdigit() or int(pid) <= 0:
        return True
    if host != socket.gethostname():
        try:
            return datetime.now().timestamp() - path.stat().st_mtime > 86_400
        except OSError:
            return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: running
        return False
    return False


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
            try:
                out.append(_parse_manifest(path, (path / MANIFEST).read_bytes()))
            except (ArtifactError, OSError) as exc:
                logger.warning("skipping %s: %s", path.name, exc)
    return out


def rollback(artifacts_dir: str | os.PathLike, version: str | None = None) -> str:
    """Point ``current`` at ``version`` or, by default, at the version before the current one."""
    versions = [m["version"] for m in list_versions(artifacts_dir)]
    if not versions:
        raise ArtifactError(f"{artifacts_dir} has no versions to roll back to; train one with "
                            "`offers train`.")
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
            raise ArtifactError(f"version {self.path.name} has no file {filename!r}; it was "
                                "written by another program version: retrain.")
        return self.path / filename

    @contextmanager
    def _reading(self, filename: str):
        """Turn a file that cannot be parsed into one :class:`ArtifactError` naming it."""
        try:
            yield
        except ArtifactError:
            raise
        except Exception as exc:
            detail = " ".join(str(exc).split())[:300]
            raise ArtifactError(
                f"version {self.path.name}: {filename} cannot be read "
                f"({type(exc).__name__}: {detail}); retrain, or roll back with "
                "`offers rollback`.") from exc

    def has(self, filename: str) -> bool:
        return filename in self.manifest["files"]

    def load_array(self, name: str, mmap: bool = True) -> np.ndarray:
        """An array, memory-mapped read-only by default (workers share the pages).

        0-d arrays (scalars such as a model's class name) are read into memory:
        numpy would memory-map them with shape (1,).
        """
        path = self._checked(f"{name}.npy")
        with self._reading(path.name):
            return read_array(path, mmap)

    def load_frame(self, name: str) -> pd.DataFrame:
        path = self._checked(f"{name}.parquet")
        with self._reading(path.name):
            return pd.read_parquet(path)

    def load_table(self, name: str) -> pa.Table:
        """A Parquet file as an Arrow table: no pandas conversion (no Python object per string)."""
        path = self._checked(f"{name}.parquet")
        with self._reading(path.name):
            return pq.read_table(path)

    def load_json(self, name: str) -> Any:
        path = self._checked(f"{name}.json")
        with self._reading(path.name):
            return json.loads(path.read_text(encoding="utf-8"))

    def load_joblib(self, name: str) -> Any:
        """Load a joblib file from bytes whose hash was checked just now (no check/use race)."""
        filename = f"{name}.joblib"
        data = self._checked(filename).read_bytes()
        if hashlib.sha256(data).hexdigest() != self.manifest["files"][filename]:
            raise ArtifactError(
                f"{self.path / filename} does not match its SHA-256; refusing to load it."
            )
        with self._reading(filename):
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
        raise ArtifactError(f"{path} is not a complete artifact version (no {MANIFEST}); "
                            "train again or roll back with `offers rollback`.")
    try:
        data = manifest_path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"version {version}: cannot read {MANIFEST} ({exc.strerror}); "
                            "fix its permissions, retrain or roll back.") from None
    signing.check_signature(path, data, signing.signing_key())
    manifest = _parse_manifest(path, data)
    running = library_versions()
    for lib in CHECKED_LIBRARIES:
        written = manifest["libraries"].get(lib, "?")
        if not _compatible(str(written), running[lib]):
            raise ArtifactError(
                f"{path} was written with {lib} {written} but {running[lib]} is installed; "
                "retrain, or install the versions it was trained with."
            )
    present = {p.name for p in path.iterdir() if p.is_file()} - {MANIFEST, signing.SIGNATURE}
    expected = set(manifest["files"])
    if present != expected:
        raise ArtifactError(
            f"{path} does not hold exactly the files its manifest lists "
            f"(missing: {sorted(expected - present)}, unexpected: {sorted(present - expected)}); "
            "restore the version as it was written, retrain, or roll back."
        )
    for name, digest in manifest["files"].items():
        try:
            actual = sha256_file(path / name)
        except OSError as exc:
            raise ArtifactError(f"version {version}: cannot read {name} ({exc.strerror}); "
                                "fix its permissions, retrain or roll back.") from None
        if actual != digest:
            raise ArtifactError(f"{path / name} does not match its SHA-256 in the manifest; "
                                "the file was changed or corrupted. Retrain or roll back.")
    return ArtifactVersion(path, manifest)


# Manifest entries every reader relies on, and their types.
REQUIRED = {"format": int, "version": str, "libraries": dict, "files": dict}


def _parse_manifest(path: Path, data: bytes) -> dict[str, Any]:
    """The manifest of the version at ``path`` from its bytes, checked for shape.

    Raises :class:`ArtifactError` naming the version and the problem when it is
    not JSON, not an object, of another format, or misses or mistypes an entry.
    """
    where = f"version {path.name}: {MANIFEST}"
    fix = "restore it, retrain, or roll back with `offers rollback`."
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{where} is not valid JSON ({exc}); it was truncated or "
                            f"altered: {fix}") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{where} is not a JSON object; {fix}")
    if "format" in manifest and manifest["format"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has artifact format {manifest.get('format')!r}, this program reads "
            f"{FORMAT_VERSION}; retrain with this version."
        )
    for key, kind in REQUIRED.items():
        if key not in manifest:
            raise ArtifactError(f"{where} has no {key!r} entry; {fix}")
        if not isinstance(manifest[key], kind) or isinstance(manifest[key], bool):
            raise ArtifactError(f"{where}: {key!r} should be a {kind.__name__}, not "
                                f"{type(manifest[key]).__name__}; {fix}")
    bad = [name for name, digest in manifest["files"].items()
           if not isinstance(digest, str) or "/" in name or name.startswith(".")
           or name in (MANIFEST, signing.SIGNATURE)]
    if bad:
        raise ArtifactError(f"{where} lists bad file entries {sorted(map(str, bad))[:5]}; {fix}")
    if manifest["version"] != path.name:
        raise ArtifactError(f"{where} names version {manifest['version']!r}, not its directory "
                            f"name; {fix}")
    return manifest


def read_array(path: Path, mmap: bool = True) -> np.ndarray:
    """A ``.npy`` file, memory-mapped read-only unless ``mmap`` is false or it is 0-d
    (numpy would memory-map a scalar with shape (1,))."""
    if mmap and _npy_shape(path) == ():
        mmap = False
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


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

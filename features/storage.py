"""Writing files and directories so that nothing is ever half-written.

Everything the project writes goes to a temporary sibling first and is moved
into place with an atomic rename once complete; a failure or an interrupt
leaves the previous content (or nothing) behind, never a partial result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from features.errors import DataError


@contextlib.contextmanager
def atomic_directory(out_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``out_dir`` when the block succeeds.

    Parameters
    ----------
    out_dir : path
        The directory to create.
    overwrite : bool
        Replace ``out_dir`` if it exists and is not empty. Without it an
        existing non-empty directory is an error and is left untouched.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_directory(root / "out") as tmp:
    ...     _ = (tmp / "a.txt").write_text("hi")
    >>> (root / "out" / "a.txt").read_text()
    'hi'
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a directory; choose another output path.")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DataError(
            f"{out} already exists and is not empty; pass --overwrite to replace it "
            "or choose another output directory."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; give it the usual permissions
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


FRAME_SUFFIXES = (".csv", ".parquet")


def check_frame_path(path: str | os.PathLike) -> Path:
    """``path`` if :func:`write_frame` can write it (by extension), else :class:`DataError`.

    Commands call it before any work, so a wrong ``--out`` fails in a second, not
    after training or scoring.
    """
    path = Path(path)
    if path.suffix.lower() not in FRAME_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {path.suffix.lower()!r}; "
                        "use .csv or .parquet.")
    return path


def write_frame(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a frame as CSV or Parquet, chosen by the path's extension.

    Writes are not atomic on their own: call inside :func:`atomic_directory`
    or write to a temporary name and rename.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet.")


def write_frame_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a frame (CSV or Parquet by extension) through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}{path.suffix}"
    try:
        write_frame(frame, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

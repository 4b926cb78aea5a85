"""The model a worker serves, and switching it without downtime.

A :class:`Served` is immutable: a verified model bundle and the offer engine
built on it. Each request takes the current one once (``g.served``) and uses
it to the end, so a swap never changes the model under a running request, and
the old one is freed when its last request finishes.

:meth:`ModelHolder.reload` loads the new version *beside* the old one,
verifies it (hashes and library versions, then a smoke prediction) and only
then swaps; a failure leaves the old one serving and raises.

Workers of one server agree through a small *target file* (``MODEL_STATE_FILE``,
written atomically by whoever switched successfully: an admin reload in any
worker, or the server's SIGHUP handler). Every worker looks at the file's
stat at most once per ``check_seconds`` and, when the target differs from what
it serves, reloads it in a background thread while it keeps answering.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from features.errors import ConfigError, DataError
from features.storage import atomic_write_bytes
from training.artifacts.store import ArtifactError, current_version

logger = logging.getLogger(__name__)

FIX = "retrain, or roll back with `offers rollback`."
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Served:
    bundle: Any
    engine: Any
    loaded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def version(self) -> str:
        return self.bundle.version


def load_served(artifacts_dir: str, version: str, catalog: Any, engine_config: dict) -> Served:
    """Load, verify and smoke-check ``version``; raise :class:`ArtifactError` if it is unusable."""
    from serving.engine import OfferEngine, load_bundle

    if not VERSION_PATTERN.match(version) or ".." in version:
        raise ArtifactError(f"{version!r} is not a version name; list them with `offers versions`.")
    try:
        bundle = load_bundle(artifacts_dir, version)
    except ArtifactError:
        raise
    except Exception as exc:  # a table of the wrong shape, a column missing: not servable
        raise ArtifactError(f"version {version} cannot be served ({type(exc).__name__}: "
                            f"{one_line(exc)}); {FIX}") from exc
    try:
        bundle.smoke_check()  # its DataError already says "version X failed its smoke check"
    except DataError as exc:
        raise ArtifactError(f"{one_line(exc)}; {FIX}") from exc
    except Exception as exc:
        raise ArtifactError(f"version {version} failed its smoke check: "
                            f"{type(exc).__name__}: {one_line(exc)}; {FIX}") from exc
    return Served(bundle, OfferEngine(bundle, catalog, engine_options(engine_config)))


def one_line(exc: BaseException, limit: int = 400) -> str:
    """An exception's message on one line (log lines and JSON errors stay one line)."""
    return " ".join(str(exc).split())[:limit]


def engine_options(options: dict) -> Any:
    """The ``[engine]`` settings as the engine's config (unknown keys: ConfigError)."""
    from serving.engine import EngineConfig

    try:
        return EngineConfig(**options)
    except TypeError as exc:
        raise ConfigError(f"bad [engine] setting: {exc}") from None


def read_target(state_file: str | None) -> str | None:
    """The version the workers should serve, from the target file (None if there is none)."""
    if not state_file:
        return None
    try:
        with open(state_file, encoding="utf-8") as fh:
            return json.load(fh).get("version")
    except (FileNotFoundError, ValueError):
        return None


def write_target(state_file: str, version: str) -> None:
    record = {"version": version, "at": datetime.now(timezone.utc).isoformat()}
    atomic_write_bytes(state_file, json.dumps(record).encode())


class ModelHolder:
    """The :class:`Served` model of one worker, swapped atomically by :meth:`reload`.

    ``preloaded`` is a :class:`Served` the process already holds (under
    ``offers serve``, the one the gunicorn master loaded before forking): a
    reload to its version takes it instead of loading the files again.
    """

    def __init__(self, artifacts_dir: str, catalog: Any, engine_config: dict,
                 state_file: str | None = None, check_seconds: float = 1.0, on_swap=None,
                 preloaded: Served | None = None):
        self.artifacts_dir = str(artifacts_dir)
        self.preloaded = preloaded
        self.catalog = catalog
        self.engine_config = engine_config
        self.state_file = state_file
        self.check_seconds = check_seconds
        self.on_swap = on_swap  # called with (old_version, new_version) after a swap
        self.served: Served | None = None
        self.failed: dict[str, str] = {}  # version -> why it was refused
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._stat: tuple | None = None
        self._loading = False

    def resolve(self, version: str | None) -> str:
        """``version``, or the one ``current`` points at."""
        resolved = version or current_version(self.artifacts_dir)
        if resolved is None:
            raise ArtifactError(f"{self.artifacts_dir} has no current version; train one with "
                                "`offers train`.")
        return resolved

    def reload(self, version: str | None = None, publish: bool = True) -> tuple[str | None, str]:
        """Load ``version`` (default: ``current``) beside the old one, verify it, swap.

        Returns ``(old_version, new_version)``. With ``publish`` the new version
        is written to the target file, so the other workers follow.
        """
        version = self.resolve(version)
        with self._lock:
            old = self.served
            try:
                if self.preloaded is not None and self.preloaded.version == version:
                    new = self.preloaded
                else:
                    new = load_served(self.artifacts_dir, version, self.catalog,
                                      self.engine_config)
            except Exception as exc:
                self.failed[version] = str(exc)
                logger.error("refused model version %s, still serving %s: %s", version,
                             old.version if old else None, exc)
                raise
            self.served = new
            self.failed.pop(version, None)
        if publish and self.state_file:
            write_target(self.state_file, version)
        logger.info("serving model version %s (was %s)", version, old.version if old else None)
        if self.on_swap:
            self.on_swap(old.version if old else None, version)
        return (old.version if old else None), version

    def poll(self) -> None:
        """Cheap per-request check: follow the target file when it names another version."""
        now = time.monotonic()
        if not self.state_file or now < self._next_check or self._loading:
            return
        self._next_check = now + self.check_seconds
        try:
            st = os.stat(self.state_file)
        except FileNotFoundError:
            return
        stat = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stat == self._stat:
            return
        target = read_target(self.state_file)
        if target and self.served and target != self.served.version and target not in self.failed:
            self._loading = True
            threading.Thread(target=self._follow, args=(target, stat), daemon=True,
                             name="model-reload").start()
        else:
            self._stat = stat

    def _follow(self, target: str, stat: tuple) -> None:
        try:
            self.reload(target, publish=False)
        except Exception:  # logged by reload; the old version keeps serving
            pass
        finally:
            self._stat = stat
            self._loading = False

"""The engines of an A/B test's arms (``[ab_test]``, :mod:`serving.engine.arms`).

- an arm without ``version`` or ``catalog`` uses the served engine (and so
  follows reloads);
- an arm with only a ``catalog`` gets an engine on the *served* bundle with
  its catalog, rebuilt (once, under a lock) when a reload changes the served
  version, so both arms always run the same model;
- an arm with a ``version`` is pinned to it: loaded and verified at start-up
  like the served version, and not changed by ``/v1/admin/reload`` (restart
  the server to change it).

Every catalog is read and validated at start-up: a bad one stops the server.
"""

from __future__ import annotations

import threading
from typing import Any

from serving.engine.arms import ArmSplit
from serving.model_state import engine_options, load_served


class ArmEngines:
    """``route(member_id, served_engine) -> (arm name, engine)``."""

    def __init__(self, split: ArmSplit, artifacts_dir: str, served_version: str, catalog: Any,
                 engine_config: dict) -> None:
        from serving.engine import load_catalog

        self.split = split
        self.engine_config = engine_config
        self.pinned: dict[str, Any] = {}       # arm -> engine of its own version
        self.catalogs: dict[str, Any] = {}     # arm -> its catalog (served bundle)
        self._follow: dict[str, Any] = {}      # arm -> engine on the served bundle
        self._lock = threading.Lock()
        for arm in split.arms:
            if arm.version is None and arm.catalog is None:
                continue
            arm_catalog = load_catalog(arm.catalog) if arm.catalog else catalog
            if arm.version is not None:
                self.pinned[arm.name] = load_served(artifacts_dir, arm.version, arm_catalog,
                                                    engine_config).engine
            else:
                self.catalogs[arm.name] = arm_catalog

    def route(self, member_id: str, served_engine) -> tuple[str, Any]:
        name = self.split.assign(member_id).name
        if name in self.pinned:
            return name, self.pinned[name]
        if name in self.catalogs:
            return name, self._on_served(name, served_engine)
        return name, served_engine

    def _on_served(self, name: str, served_engine) -> Any:
        engine = self._follow.get(name)
        if engine is not None and engine.bundle is served_engine.bundle:
            return engine
        from serving.engine import OfferEngine

        with self._lock:  # one rebuild per reload, not one per concurrent request
            engine = self._follow.get(name)
            if engine is None or engine.bundle is not served_engine.bundle:
                engine = OfferEngine(served_engine.bundle, self.catalogs[name],
                                     engine_options(self.engine_config))
                self._follow[name] = engine
        return engine

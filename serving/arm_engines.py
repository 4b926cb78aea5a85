"""The engines of an A/B test's arms (``[ab_test]``, :mod:`serving.engine.arms`).

An arm without ``version`` or ``catalog`` uses what the server serves (and so
follows reloads); an arm with either gets its own engine, loaded and verified
at start-up like the served version. Known limit: those engines are not
reloaded by ``/v1/admin/reload`` (restart the server to change them).
"""

from __future__ import annotations

from typing import Any

from serving.engine.arms import ArmSplit
from serving.model_state import load_served


class ArmEngines:
    """``route(member_id, served_engine) -> (arm name, engine)``."""

    def __init__(self, split: ArmSplit, artifacts_dir: str, served_version: str, catalog: Any,
                 engine_config: dict) -> None:
        from serving.engine import load_catalog

        self.split = split
        self.engines: dict[str, Any] = {}
        for arm in split.arms:
            if arm.version is None and arm.catalog is None:
                continue
            arm_catalog = load_catalog(arm.catalog) if arm.catalog else catalog
            served = load_served(artifacts_dir, arm.version or served_version, arm_catalog,
                                 engine_config)
            self.engines[arm.name] = served.engine

    def route(self, member_id: str, served_engine) -> tuple[str, Any]:
        arm = self.split.assign(member_id)
        return arm.name, self.engines.get(arm.name, served_engine)

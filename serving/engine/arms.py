"""A/B tests of model versions or catalogs: members split into arms by a stable hash.

``[ab_test]`` in the serving config::

    [ab_test]
    name = "catalog-december"            # part of the hash: a new test reshuffles members
    [[ab_test.arms]]
    name = "A"                           # no version/catalog: what the server serves
    share = 0.5
    [[ab_test.arms]]
    name = "B"
    share = 0.5
    catalog = "catalogs/december.yaml"   # and/or version = "20261201T..."

A member's arm is ``sha256(name, member_id)`` mapped onto the cumulative
shares: the same member always lands in the same arm, on every worker and
after restarts. Shares must sum to 1. Each decision records its arm in the
decision log; ``offers lift --arms`` compares the arms.

Imports: the standard library and :mod:`features` only.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from features.errors import ConfigError

_ARM_KEYS = {"name", "share", "version", "catalog"}


@dataclass(frozen=True)
class Arm:
    name: str
    share: float
    version: str | None = None
    catalog: str | None = None


@dataclass(frozen=True)
class ArmSplit:
    """The arms of one test and the member -> arm rule."""

    name: str
    arms: tuple[Arm, ...]

    def assign(self, member_id: str) -> Arm:
        """The arm of ``member_id`` (stable: a hash of the test name and the id)."""
        digest = hashlib.sha256(f"{self.name}\x1f{member_id}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2.0**64
        edge = 0.0
        for arm in self.arms:
            edge += arm.share
            if u < edge:
                return arm
        return self.arms[-1]  # rounding of the shares' sum


def parse_ab_test(spec: Any) -> ArmSplit | None:
    """``[ab_test]`` as an :class:`ArmSplit` (None when absent or empty).

    Raises
    ------
    ConfigError
        Saying what is wrong: no name, fewer than two arms, an arm without a
        name or share, duplicate names, an unknown key, shares not summing to 1.
    """
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise ConfigError("[ab_test] must be a table with a name and [[ab_test.arms]].")
    unknown = sorted(set(spec) - {"name", "arms"})
    if unknown:
        raise ConfigError(f"[ab_test]: unknown key(s) {', '.join(unknown)}; use name and arms.")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("[ab_test] needs a name (it is part of the hash that splits members).")
    raw = spec.get("arms")
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConfigError("[ab_test] needs at least two [[ab_test.arms]], each with a name and "
                          "a share.")
    arms = []
    for n, arm in enumerate(raw, start=1):
        if not isinstance(arm, dict):
            raise ConfigError(f"[ab_test] arm #{n} must be a table with name and share.")
        bad = sorted(set(arm) - _ARM_KEYS)
        if bad:
            raise ConfigError(f"[ab_test] arm #{n}: unknown key(s) {', '.join(bad)}; use "
                              f"{', '.join(sorted(_ARM_KEYS))}.")
        label = arm.get("name")
        if not isinstance(label, str) or not label:
            raise ConfigError(f"[ab_test] arm #{n} has no name.")
        share = arm.get("share")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or \
                not 0 < share <= 1:
            raise ConfigError(f"[ab_test] arm {label!r}: share={share!r} should be a number "
                              "in (0, 1].")
        for key in ("version", "catalog"):
            if arm.get(key) is not None and not isinstance(arm[key], str):
                raise ConfigError(f"[ab_test] arm {label!r}: {key} should be a string.")
        arms.append(Arm(label, float(share), arm.get("version"), arm.get("catalog")))
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ConfigError(f"[ab_test] arm names must differ; got {', '.join(names)}.")
    total = sum(a.share for a in arms)
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ConfigError(f"[ab_test] arm shares sum to {total:g}; they must sum to 1 "
                          f"({' + '.join(f'{a.share:g}' for a in arms)}).")
    return ArmSplit(name, tuple(arms))

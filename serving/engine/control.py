"""Deterministic control groups: the same member and campaign always land on the same side.

A member is held out of a campaign when ``control_score(member, campaign) <
share``. The score is a uniform number in [0, 1) from a BLAKE2b hash of the
campaign and member ids: stable across processes, machines and Python
versions (unlike ``hash()``), independent between campaigns, and
recomputable later by :mod:`features.lift`.
"""

from __future__ import annotations

import hashlib

import numpy as np

_SCALE = float(2**64)


def control_score(member_id: str, campaign: str) -> float:
    """Uniform in [0, 1), fixed for a (member, campaign) pair.

    >>> control_score("1", "always-on") == control_score("1", "always-on")
    True
    """
    digest = hashlib.blake2b(f"{campaign}\x1f{member_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def in_control(member_id: str, campaign: str, share: float) -> bool:
    """True when the member is held out of ``campaign`` (receives no offer)."""
    return share > 0 and control_score(str(member_id), campaign) < share


def control_mask(member_ids, campaign: str, share: float) -> np.ndarray:
    """:func:`in_control` for many members, shape (n,) bool."""
    if share <= 0:
        return np.zeros(len(member_ids), dtype=bool)
    prefix = f"{campaign}\x1f"
    blake = hashlib.blake2b
    scores = np.fromiter(
        (int.from_bytes(blake((prefix + str(m)).encode(), digest_size=8).digest(), "big")
         for m in member_ids), dtype=np.float64, count=len(member_ids),
    )
    return scores / _SCALE < share

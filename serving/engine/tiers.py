"""The program's tier ladder: each member's tier and what is left to reach the next one.

A catalog may define tiers (``tiers.levels``: names with a minimum on a
basis, ``annual_spend`` or ``points_balance``). A member's tier is the one the
data records when it names a tier of the ladder; otherwise (no tier in the
data, as in the Complete Journey import) it is derived from the basis. The
annual spend is ``monetary_total`` scaled to one year of membership
(``monetary_total * 365 / max(tenure_days, 365)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serving.engine.catalog.schema import Tier
from serving.engine.member_table import MemberTable


def annual_spend(members: MemberTable) -> np.ndarray:
    """Spend per member over a year of membership, shape (n,); NaN when unknown."""
    total = members.numeric["monetary_total"]
    tenure = members.numeric["tenure_days"]
    years = np.where(np.isfinite(tenure), np.maximum(tenure, 365.0), 365.0) / 365.0
    return total / years


@dataclass(frozen=True)
class TierLadder:
    """Tiers in increasing order of ``min`` on ``basis``.

    Attributes
    ----------
    tiers : tuple of Tier
    basis : {"annual_spend", "points_balance"}
    """

    tiers: tuple[Tier, ...]
    basis: str

    def levels(self, members: MemberTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per member: tier index (-1 unknown), basis value and gap to the next tier.

        Returns
        -------
        tier : ndarray of int64, shape (n,)
        value : ndarray of float64, shape (n,)
            The basis (NaN when unknown).
        gap : ndarray of float64, shape (n,)
            What is left to reach the next tier; NaN at the top tier, when the
            basis is unknown or the recorded tier is already past it.
        """
        value = (annual_spend(members) if self.basis == "annual_spend"
                 else members.numeric["points_balance"].copy())
        mins = np.array([t.min for t in self.tiers])
        derived = np.where(np.isfinite(value),
                           np.searchsorted(mins, np.nan_to_num(value, nan=0.0), side="right") - 1,
                           -1)
        lookup = {t.name.lower(): i for i, t in enumerate(self.tiers)}
        recorded_names = members.names["tier"]
        code_to_level = np.array([lookup.get(name.lower(), -1) for name in recorded_names] + [-1])
        recorded = code_to_level[members.codes["tier"]]  # code -1 picks the trailing -1
        tier = np.where(recorded >= 0, recorded, derived).astype(np.int64)
        has_next = (tier >= 0) & (tier < len(self.tiers) - 1)
        next_min = mins[np.minimum(tier + 1, len(mins) - 1)]
        gap = np.where(has_next, next_min - value, np.nan)
        gap[~(gap > 0)] = np.nan
        return tier, value, gap

    def progress(self, bundle, row: int) -> dict:
        """Tier fields of one member's profile (see :meth:`ModelBundle.profile`)."""
        tier, value, gap = self.levels(_one_row(bundle.members, row))
        t = int(tier[0])
        nxt = self.tiers[t + 1].name if 0 <= t < len(self.tiers) - 1 else None
        return {
            "tier": self.tiers[t].name if t >= 0 else None,
            "tier_basis": self.basis,
            "tier_basis_value": float(value[0]) if np.isfinite(value[0]) else None,
            "next_tier": nxt,
            "to_next_tier": float(gap[0]) if np.isfinite(gap[0]) else None,
        }


def _one_row(members: MemberTable, row: int) -> MemberTable:
    """A one-member view of ``members`` (the arrays sliced, names shared)."""
    s = slice(row, row + 1)
    return MemberTable(
        members.ids[s], {k: v[s] for k, v in members.numeric.items()},
        {k: v[s] for k, v in members.codes.items()}, members.names,
        {k: v[s] for k, v in members.text.items()}, {k: v[s] for k, v in members.consent.items()},
        members.cluster[s], {k: v[s] for k, v in members.lists.items()},
    )

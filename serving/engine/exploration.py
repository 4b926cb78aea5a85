"""Exploration among eligible offers and the record of each decision (for off-policy evaluation).

With ``epsilon`` > 0 (``[engine] epsilon``; default 0: no exploration) the
first offer of a decision is, with probability ``epsilon``, drawn uniformly
among the member's eligible offers instead of the best one; the other slots
are then filled greedily as usual. The draw is a hash of the decision id and
``seed``, so a decision can be reproduced and tests can check it.

A :class:`DecisionRecord` keeps what replay needs: the candidate set (every
eligible offer with its score and P(redeem)) and, for each offer shown, the
probability with which it was shown there. The first offer's ``propensity``
is its marginal probability, ``(1 - epsilon) [greedy] + epsilon / n``; the
later offers' is conditional on the first (1.0: they are chosen greedily).

Imports: numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import orjson

from features.errors import ConfigError


@dataclass(frozen=True)
class DecisionRecord:
    """One decision as logged: who, when, what could have been shown and what was."""

    decision_id: str
    decided_at: str
    member_id: str
    channel: str | None
    campaign_id: str | None
    model_version: str | None
    source: str = "api"  # api | campaign
    epsilon: float = 0.0
    suppressed: str | None = None
    arm: str | None = None
    #: ``{"offer_id", "score", "p_redeem"}`` of every eligible offer, best first.
    candidates: list[dict[str, Any]] = field(default_factory=list)
    #: ``{"offer_id", "propensity"}`` of every offer shown, in order.
    shown: list[dict[str, Any]] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        """The record with its lists as JSON text (one database or CSV row).

        Shallow on purpose (``dataclasses.asdict`` deep-copies the lists: slow).
        """
        row = {f: getattr(self, f) for f in _FIELDS}
        row["candidates"] = orjson.dumps(self.candidates).decode()
        row["shown"] = orjson.dumps(self.shown).decode()
        return row


_FIELDS = tuple(f.name for f in fields(DecisionRecord))


def check_epsilon(epsilon: float) -> float:
    """``epsilon`` as a float in [0, 1], else a ConfigError saying so."""
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"epsilon={epsilon!r} should be a share of decisions from 0 to 1 "
                          "(0: never explore; 0.05 is a common choice).")
    return value


def draw(decision_id: str, seed: int) -> tuple[float, int]:
    """A uniform number in [0, 1) and a large integer, fixed by ``decision_id`` and ``seed``."""
    digest = hashlib.sha256(f"{seed}\x1f{decision_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64, int.from_bytes(digest[8:16], "big")


def explore_first(greedy: list[int], eligible: np.ndarray, epsilon: float, decision_id: str,
                  seed: int) -> tuple[int | None, float]:
    """The first offer (a template index) and its propensity.

    ``greedy`` is the greedy choice, ``eligible`` the template indices the
    member may get. With ``epsilon`` 0 the greedy first offer has propensity 1.
    """
    if not greedy or len(eligible) == 0:
        return None, 1.0
    best, n = greedy[0], len(eligible)
    if epsilon <= 0:
        return best, 1.0
    u, k = draw(decision_id, seed)
    first = int(eligible[k % n]) if u < epsilon else best
    return first, (1.0 - epsilon) * (first == best) + epsilon / n


def campaign_records(offers, holdouts, *, job_id: str, model_version: str,
                     decided_at: str) -> list[DecisionRecord]:
    """One record per member of a campaign allocation (``CampaignResult`` frames).

    Campaign allocation is deterministic (no exploration), so each offer shown
    has propensity 1 and the candidates are the offers allocated; the decision
    id is ``<job_id>:<member_id>`` (writing a job twice logs it once).
    """
    out: list[DecisionRecord] = []
    for member_id, rows in offers.groupby("member_id", sort=False):
        first = rows.iloc[0]
        items = [{"offer_id": str(o), "score": round(float(ev), 4), "p_redeem": round(float(p), 4)}
                 for o, ev, p in zip(rows["offer_id"], rows["expected_value"], rows["p_redeem"])]
        out.append(DecisionRecord(
            decision_id=f"{job_id}:{member_id}", decided_at=decided_at, member_id=str(member_id),
            channel=str(first["channel"]), campaign_id=str(first["campaign_id"]),
            model_version=model_version, source="campaign", candidates=items,
            shown=[{"offer_id": c["offer_id"], "propensity": 1.0} for c in items]))
    for member_id, rows in holdouts.groupby("member_id", sort=False):
        out.append(DecisionRecord(
            decision_id=f"{job_id}:{member_id}", decided_at=decided_at, member_id=str(member_id),
            channel=None, campaign_id=str(rows["campaign_id"].iloc[0]),
            model_version=model_version, source="campaign", suppressed="control_group"))
    return out

"""A decision's log record, kept as the arrays the decision already has until it is written.

An offers request that logs its decision (issue 15) used to build the whole
:class:`~serving.engine.exploration.DecisionRecord` before answering: the
candidates sorted, rounded and turned into one dict each, the offers shown into
more dicts, a frozen dataclass around them. The request only needs to hand
them over. :class:`PendingRecord` keeps what the decision computed anyway (the
eligible templates, their scores and P(redeem), the offers chosen and the first
one's propensity) as a few references; the decision-log writer's thread builds
the record (:meth:`PendingRecord.record`, :meth:`PendingRecord.to_row`) when
it writes, off the request (issue 14). The record built is the one
:meth:`OfferEngine.decide_with_record <serving.engine.engine.OfferEngine.decide_with_record>`
returns (the same code builds both).

Imports: numpy, orjson and :mod:`serving.engine.exploration`.
"""

from __future__ import annotations

import numpy as np
import orjson

from serving.engine.exploration import DecisionRecord


class PendingRecord:
    """What a :class:`DecisionRecord` is built from, not yet built.

    Parameters
    ----------
    decision : Decision
        The decision logged (its ids, time, channel, campaign, version and
        ``suppressed`` are read now; its offers are not kept).
    epsilon : float
        The engine's exploration share.
    offer_ids : ndarray of str, shape (n_templates,)
        The catalog's offer ids by template (the engine's; never modified).
    priority : ndarray, shape (n_templates,)
        The templates' priorities (break ties between equal scores).
    eligible : ndarray of int, shape (n_eligible,), optional
        Templates the member could get; None for a suppressed decision.
    ev, p : ndarray of float, shape (n_eligible,), optional
        Expected value and P(redeem) of each eligible template (copies).
    chosen : list of int
        Templates shown, in order.
    propensity : float
        Probability with which the first offer was shown.
    """

    __slots__ = ("decision_id", "decided_at", "member_id", "channel", "campaign_id",
                 "model_version", "epsilon", "suppressed", "arm", "_offer_ids", "_priority",
                 "_eligible", "_ev", "_p", "_chosen", "_propensity", "_plan")

    def __init__(self, decision, epsilon: float, offer_ids: np.ndarray,
                 priority: np.ndarray, eligible: np.ndarray | None = None,
                 ev: np.ndarray | None = None, p: np.ndarray | None = None,
                 chosen: list[int] | None = None, propensity: float = 1.0) -> None:
        self.decision_id, self.decided_at = decision.decision_id, decision.decided_at
        self.member_id, self.channel = decision.member_id, decision.channel
        self.campaign_id, self.model_version = decision.campaign_id, decision.model_version
        self.suppressed, self.epsilon, self.arm = decision.suppressed, epsilon, None
        self._offer_ids, self._priority = offer_ids, priority
        self._eligible, self._ev, self._p = eligible, ev, p
        self._chosen, self._propensity = chosen or [], propensity
        self._plan = None  # the OfferPlan of a planned decision (of_plan)

    @classmethod
    def of_plan(cls, decision, epsilon: float, offer_ids: np.ndarray, priority: np.ndarray,
                eligible: list[int], plan, chosen: list[int]) -> PendingRecord:
        """A record of a decision taken from ``plan`` (an
        :class:`~serving.engine.offer_plan.OfferPlan`, no exploration): ``eligible`` already in
        the greedy order; the plan's entries of each template (offer id, rounded score and
        P(redeem), and their JSON text) are read when the record is built."""
        record = cls(decision, epsilon, offer_ids, priority, eligible, None, None, chosen)
        record._plan = plan
        return record

    def with_arm(self, arm: str) -> PendingRecord:
        """This record naming the A/B test's ``arm`` (set in place: a request's own record)."""
        self.arm = arm
        return self

    def record(self) -> DecisionRecord:
        """The :class:`DecisionRecord`: candidates best first (the greedy order), rounded."""
        candidates, shown = self._lists()
        return DecisionRecord(
            decision_id=self.decision_id, decided_at=self.decided_at, member_id=self.member_id,
            channel=self.channel, campaign_id=self.campaign_id, model_version=self.model_version,
            epsilon=self.epsilon, suppressed=self.suppressed, arm=self.arm,
            candidates=candidates, shown=shown)

    def to_row(self) -> dict:
        """:meth:`DecisionRecord.to_row` of :meth:`record` (what the decision log writes),
        without the dataclass in between."""
        if self._plan is not None:  # the plan's JSON entries joined: orjson's text of the lists
            candidate_json, shown_json = self._plan.candidate_json, self._plan.shown_json
            candidates = "[" + ",".join([candidate_json[t] for t in self._eligible]) + "]"
            shown = "[" + ",".join([shown_json[t] for t in self._chosen]) + "]"
        else:
            lists = self._lists()
            candidates, shown = orjson.dumps(lists[0]).decode(), orjson.dumps(lists[1]).decode()
        return {"decision_id": self.decision_id, "decided_at": self.decided_at,
                "member_id": self.member_id, "channel": self.channel,
                "campaign_id": self.campaign_id, "model_version": self.model_version,
                "source": "api", "epsilon": self.epsilon, "suppressed": self.suppressed,
                "arm": self.arm, "candidates": candidates, "shown": shown}

    def _lists(self) -> tuple[list[dict], list[dict]]:
        candidates: list[dict] = []
        if self._plan is not None:  # from a plan: in order, rounded already
            entries = self._plan.candidate_json
            candidates = [orjson.loads(entries[t]) for t in self._eligible]
        elif self._eligible is not None:
            eligible, ev, p = self._eligible, self._ev, self._p
            # The greedy order of engine.choose(): best EV, then priority, then template.
            sort = np.lexsort((eligible, -self._priority[eligible], -ev))
            candidates = [{"offer_id": o, "score": s, "p_redeem": p} for o, s, p in zip(
                self._offer_ids[eligible[sort]].tolist(), np.round(ev[sort], 4).tolist(),
                np.round(p[sort], 4).tolist())]
        shown = [{"offer_id": str(self._offer_ids[t]),
                  "propensity": round(self._propensity if k == 0 else 1.0, 6)}
                 for k, t in enumerate(self._chosen)]
        return candidates, shown

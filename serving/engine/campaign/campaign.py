"""Campaign batches: offers for many members at once, the most expected value within a budget.

:func:`allocate_campaign` scores every (member, template) pair in vectorised
chunks (:mod:`serving.engine.scoring`), drops those blocked by caps counted
from the offer history, and allocates greedily by expected value per unit of
expected cost (:func:`serving.engine.campaign.allocation.greedy_allocate`), respecting
the campaign budget, each template's remaining budget and redemption limit,
the members' contact room, one offer per category and at most one retention
offer per member.

Control group: members are allocated like everyone else, then the offers of
the held-out share (hash of member and campaign) are withheld and recorded as
``holdouts``, so lift compares like with like (:mod:`features.lift`).
The campaign therefore spends about ``1 - share`` of what it allocated.

Scoring and rendering split the members between ``n_jobs`` forked processes
(:mod:`serving.engine.campaign.parallel`); allocation stays in one, since the
budget is global. Rendering fills the offers' texts template by template
(:mod:`serving.engine.campaign.render`), with the engine's strings.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import ConfigError
from models.threads import available_cores
from serving.engine.campaign.allocation import Candidates, greedy_allocate
from serving.engine.campaign.parallel import fork_map
from serving.engine.campaign.render import render_columns, to_frame
from serving.engine.control import control_mask
from serving.engine.engine import OfferEngine, check_channel, to_datetime64
from serving.engine.scoring import score_members

logger = logging.getLogger(__name__)

CHUNK = 20_000
#: Audiences smaller than this are scored and rendered in one process (forking costs more).
PARALLEL_MIN = 100_000
_DAY = np.timedelta64(1, "D")


@dataclass
class CampaignResult:
    """What :func:`allocate_campaign` decided.

    Attributes
    ----------
    offers : DataFrame
        One row per offer to send (see :data:`OFFER_COLUMNS`).
    holdouts : DataFrame
        ``member_id, campaign_id, offer_id``: control members, with the offer withheld.
    summary : dict
        Counts, expected cost and value, and seconds per step.
    """

    offers: pd.DataFrame
    holdouts: pd.DataFrame
    summary: dict = field(default_factory=dict)


OFFER_COLUMNS = (
    "member_id", "campaign_id", "channel", "offer_id", "type", "title", "message", "code",
    "value_kind", "value_amount", "target", "expiry", "reason", "reason_codes", "p_redeem",
    "cost", "expected_value",
)  # fmt: skip


def audience_rows(engine: OfferEngine, member_ids=None, segment: str | None = None) -> np.ndarray:
    """Member table rows of a campaign's audience (-1 for ids the version does not know)."""
    members = engine.bundle.members
    if member_ids is not None:
        return np.array([engine.bundle.row(m) for m in member_ids], dtype=np.int64)
    if segment is None:
        return np.arange(len(members), dtype=np.int64)
    code = members.code_of("segment", segment)
    if code < 0:
        raise ConfigError(f"segment {segment!r} is not a segment of version "
                          f"{engine.bundle.version}; known: {', '.join(members.names['segment'])}.")
    return np.flatnonzero(members.codes["segment"] == code).astype(np.int64)


def allocate_campaign(engine: OfferEngine, member_ids=None, *, budget: float,
                      channel: str = "email", segment: str | None = None,
                      campaign: str | None = None, now=None, per_member: int = 1,
                      history=None, n_jobs: int | None = None) -> CampaignResult:
    """Allocate offers to an audience within ``budget`` (see the module docstring).

    Parameters
    ----------
    engine : OfferEngine
    member_ids : sequence of str, optional
        The audience; default every member of the version (or of ``segment``).
    budget : float
        Most expected incentive cost to commit (currency): P(redeem) x cost of
        ordinary offers, the full cost of retention offers, plus send costs.
    channel : {"app", "email", "sms"}
    segment : str, optional
        Only members of this RFM segment.
    campaign : str, optional
        Campaign id (control-group hash, codes); default ``"<channel>-<date>"``.
    now : datetime-like, optional
        Default the current time.
    per_member : int
        Offers per member at most.
    history : InMemoryHistory, optional
        Past offer events for caps and the contact policy.
    n_jobs : int, optional
        Processes for scoring and rendering; default the CPUs this process may
        use when the audience has at least :data:`PARALLEL_MIN` members, else 1.
        The result does not depend on it.

    Raises
    ------
    ConfigError
        For a bad budget, channel, segment, ``per_member`` or ``n_jobs``.
    """
    started = time.perf_counter()
    channel = check_channel(channel)
    if not (isinstance(budget, (int, float)) and np.isfinite(budget) and budget >= 0):
        raise ConfigError(f"budget={budget!r} should be a number >= 0.")
    if not isinstance(per_member, int) or not 1 <= per_member <= engine.config.max_offers:
        raise ConfigError(f"per_member={per_member!r} should be 1..{engine.config.max_offers}.")
    if n_jobs is not None and (not isinstance(n_jobs, int) or isinstance(n_jobs, bool)
                               or n_jobs < 1):
        raise ConfigError(f"n_jobs={n_jobs!r} should be an integer >= 1.")
    stamp = to_datetime64(now)
    campaign = campaign or f"{channel}-{str(stamp.astype('datetime64[D]')).replace('-', '')}"
    ids = (np.asarray(member_ids, dtype=str) if member_ids is not None
           else None)
    rows = audience_rows(engine, ids, segment)
    if ids is None:
        ids = engine.bundle.members.ids[rows]
    if n_jobs is None:
        n_jobs = available_cores() if len(rows) >= PARALLEL_MIN else 1
    seconds = {}
    tick = time.perf_counter()
    blocked, room = _history_blocks(engine, ids, stamp, history, per_member)
    t_budget, t_redeem = _template_room(engine, history)
    seconds["history"] = time.perf_counter() - tick
    tick = time.perf_counter()
    cands, scores = _candidates(engine, rows, stamp, channel, blocked, n_jobs)
    seconds["score"] = time.perf_counter() - tick
    tick = time.perf_counter()
    kept = greedy_allocate(cands, len(rows), budget, per_member=room, template_budget=t_budget,
                           template_redemptions=t_redeem, retention=engine.templates.retention)
    seconds["allocate"] = time.perf_counter() - tick
    tick = time.perf_counter()
    held = control_mask(ids[cands.member[kept]], campaign, engine.control_share)
    sent, withheld = kept[~held], kept[held]
    offers = _render(engine, ids, rows, cands, scores, sent, stamp, channel, campaign, n_jobs)
    holdouts = pd.DataFrame({
        "member_id": ids[cands.member[withheld]], "campaign_id": campaign,
        "offer_id": np.asarray(engine.templates.ids, dtype=object)[cands.template[withheld]],
    })
    seconds["render"] = time.perf_counter() - tick
    summary = {
        "campaign_id": campaign, "channel": channel, "audience": int(len(rows)),
        "unknown_members": int((rows < 0).sum()), "candidates": int(len(cands.ev)),
        "offers": int(len(sent)), "members_with_offers": int(offers["member_id"].nunique()),
        "held_out": int(len(withheld)), "budget": float(budget),
        "expected_cost": float(cands.charge[sent].sum()),
        "expected_value": float(cands.ev[sent].sum()),
        "expected_redemptions": float(cands.p[sent].sum()),
        "offers_by_type": offers["type"].value_counts().to_dict(),
        "seconds": {k: round(v, 3) for k, v in seconds.items()}
        | {"total": round(time.perf_counter() - started, 3)},
    }
    logger.info("campaign %s: %d offers to %d of %d members, expected cost %.2f of %.2f",
                campaign, summary["offers"], summary["members_with_offers"], len(rows),
                summary["expected_cost"], budget)
    return CampaignResult(offers, holdouts, summary)


def _candidates(engine, rows, stamp, channel, blocked, n_jobs) -> tuple[Candidates, dict]:
    """Eligible pairs worth sending, and the scores their offers are rendered from."""
    tasks = [(start,) for start in range(0, len(rows), CHUNK)]
    state = (engine.scoring, engine.config.min_expected_value, rows, stamp, channel, blocked)
    parts = fork_map(_score_chunk, state, tasks, n_jobs)
    if not parts:
        empty = np.empty(0)
        parts = [tuple(empty.astype(np.int64) if name in ("member", "template", "category",
                                                            "item") else empty
                       for name in _CANDIDATE_FIELDS)]
    cols = dict(zip(_CANDIDATE_FIELDS, (np.concatenate(c) for c in zip(*parts))))
    for name in ("member", "template", "category"):
        cols[name] = cols[name].astype(np.int64)
    cands = Candidates(cols["member"], cols["template"], cols["ev"], cols["charge"], cols["p"],
                       cols["category"])
    return cands, {name: cols[name] for name in ("amount", "item", "share", "cost")}


_CANDIDATE_FIELDS = ("member", "template", "ev", "charge", "p", "category", "amount", "item",
                     "share", "cost")


def _score_chunk(state, start: int) -> tuple:
    """Candidates of the members ``start:start + CHUNK`` (see :data:`_CANDIDATE_FIELDS`)."""
    scoring, min_ev, rows, stamp, channel, blocked = state
    retention = scoring.templates.retention
    send = scoring.catalog.economics.send_cost[channel]
    chunk = rows[start:start + CHUNK]
    s = score_members(scoring, chunk, stamp, channel, min_ev)
    ok = s.eligible & (s.ev > 0)  # never allocate an offer expected to lose money
    if blocked is not None:
        ok = ok & ~blocked[start:start + CHUNK]
    m, t = np.nonzero(ok)
    charge = np.where(retention[t], s.cost[m, t], s.p[m, t] * s.cost[m, t]) + send
    return (m + start, t, s.ev[m, t], charge, s.p[m, t], s.category[m, t], s.amount[m, t],
            s.item[m, t], s.share[m, t], s.cost[m, t])


def _history_blocks(engine, ids: np.ndarray, now, history, per_member: int):
    """(n, T) pairs blocked by per-member caps and cooldowns, and each member's room."""
    n, T = len(ids), engine.templates.n
    room = np.full(n, per_member, dtype=np.int64)
    if history is None or len(history.frame) == 0:
        return None, room
    frame = history.frame
    sent = frame[frame["event"] == "sent"]
    age = (now - sent["timestamp"].to_numpy(dtype="datetime64[s]")) / _DAY
    member_pos = pd.Index(ids).get_indexer(sent["member_id"].to_numpy())
    keep = (member_pos >= 0) & (age >= 0)
    member_pos, age = member_pos[keep], age[keep]
    offer_pos = pd.Index(engine.templates.ids).get_indexer(sent["offer_id"].to_numpy()[keep])
    catalog = engine.catalog
    if catalog.contact_max is not None:
        recent = np.bincount(member_pos[age < catalog.contact_days], minlength=n)
        room = np.minimum(room, np.maximum(catalog.contact_max - recent, 0))
    blocked = np.zeros((n, T), dtype=bool)
    ours = offer_pos >= 0
    for t, template in enumerate(catalog.offers):
        mine = ours & (offer_pos == t)
        caps = template.caps
        if caps.per_member_max is not None:
            counts = np.bincount(member_pos[mine & (age < caps.per_member_days)], minlength=n)
            blocked[:, t] |= counts >= caps.per_member_max
        if caps.cooldown_days > 0:
            blocked[member_pos[mine & (age < caps.cooldown_days)], t] = True
    return blocked, room


def _template_room(engine, history) -> tuple[np.ndarray, np.ndarray]:
    """Budget and expected redemptions left per template (inf: no cap)."""
    totals = history.offer_totals() if history is not None else {}
    budget = np.full(engine.templates.n, np.inf)
    redemptions = np.full(engine.templates.n, np.inf)
    for t, template in enumerate(engine.catalog.offers):
        used = totals.get(template.id, {})
        if template.caps.budget is not None:
            budget[t] = max(template.caps.budget - float(used.get("cost", 0.0)), 0.0)
        if template.caps.redemptions is not None:
            redemptions[t] = max(template.caps.redemptions - int(used.get("redeemed", 0)), 0)
    return budget, redemptions


def _render(engine, ids, rows, c: Candidates, scores: dict, kept, stamp, channel, campaign,
            n_jobs: int) -> pd.DataFrame:
    """The email tool's file: one row per kept candidate, ordered by member."""
    kept = kept[np.argsort(c.member[kept], kind="stable")]
    members = c.member[kept]
    offers = {"template": c.template[kept], "category": c.category[kept], "p": c.p[kept],
              "ev": c.ev[kept]} | {name: values[kept] for name, values in scores.items()}
    # Contiguous slices, cut between members, one or a few per process.
    n_parts = 1 if n_jobs <= 1 else 4 * n_jobs
    cuts = np.searchsorted(members, members[np.linspace(0, len(kept), n_parts + 1)[1:-1]
                                            .astype(np.int64)]) if len(kept) else []
    bounds = np.unique(np.r_[0, cuts, len(kept)]).astype(np.int64).tolist()
    tasks = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    state = (engine, ids[members], rows[members], offers, stamp, channel, campaign)
    parts = fork_map(_render_slice, state, tasks, n_jobs)
    return to_frame(parts, len(kept), list(OFFER_COLUMNS))


def _render_slice(state, lo: int, hi: int) -> dict:
    engine, member_ids, rows, offers, stamp, channel, campaign = state
    return render_columns(engine, member_ids[lo:hi], rows[lo:hi],
                          {name: values[lo:hi] for name, values in offers.items()},
                          stamp, channel, campaign)

"""Budgeted allocation: which (member, offer) pairs to make, greedy by EV per unit of cost.

Each member may get one offer per round (``per_member`` rounds at most). In a
round a member's eligible offers are points (cost, EV); the offers worth
considering lie on the upper concave hull of those points, starting at
(0, 0) for "no offer". Moving along a member's hull is a sequence of
upgrades, each with an efficiency ``dEV / dcost``. All members' upgrades are
taken greedily in order of efficiency while the budget lasts (a member's
upgrades in hull order; once one does not fit, that member stops). This is
the classic greedy for the multiple-choice knapsack: with a tight budget it
spreads cheap, efficient offers over many members; with a loose one it
upgrades members to their highest-EV offer, which a plain sort by EV / cost
would not. Template budgets and redemption limits are checked on each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Candidates:
    """Flat arrays of eligible (member, template) pairs; ``charge`` counts against budgets."""

    member: np.ndarray
    template: np.ndarray
    ev: np.ndarray
    charge: np.ndarray
    p: np.ndarray
    category: np.ndarray

    def __len__(self) -> int:
        return len(self.member)


def greedy_allocate(c: Candidates, n_members: int, budget: float, *, per_member,
                    template_budget: np.ndarray, template_redemptions: np.ndarray,
                    retention: np.ndarray) -> np.ndarray:
    """Indexes of the candidates kept (see the module docstring).

    Parameters
    ----------
    c : Candidates
        Assumes ``ev > 0`` and ``charge >= 0``.
    n_members : int
    budget : float
    per_member : int or ndarray of int, shape (n_members,)
        Offers each member may get.
    template_budget, template_redemptions : ndarray of float, shape (T,)
        What is left per template (inf: no cap); redemptions count ``p``.
    retention : ndarray of bool, shape (T,)
        At most one retention offer per member.

    >>> c = Candidates(member=np.array([0, 0, 1]), template=np.array([0, 1, 0]),
    ...                ev=np.array([1.0, 3.0, 1.0]), charge=np.array([1.0, 2.0, 1.0]),
    ...                p=np.full(3, .1), category=np.array([-1, -1, -1]))
    >>> caps = dict(template_budget=np.full(2, np.inf), template_redemptions=np.full(2, np.inf),
    ...             retention=np.zeros(2, bool))
    >>> greedy_allocate(c, 2, 3.0, per_member=1, **caps).tolist()  # member 0 upgraded to 3.0
    [1, 2]
    """
    slots = np.broadcast_to(np.asarray(per_member, dtype=np.int64), (n_members,)).copy()
    state = _State(float(budget), np.asarray(template_budget, float).copy(),
                   np.asarray(template_redemptions, float).copy())
    alive = np.ones(len(c), dtype=bool)
    kept: list[int] = []
    rounds = int(slots.max(initial=0))
    for round_ in range(rounds):
        alive &= slots[c.member] > 0
        if not alive.any() or state.left <= 0 and not (c.charge[alive] == 0).any():
            break
        chosen = _round(c, np.flatnonzero(alive), state)
        if not chosen:
            break
        kept += chosen
        alive[chosen] = False
        taken_members = c.member[chosen]
        slots[taken_members] -= 1
        if round_ == rounds - 1:
            break  # no later round to filter for
        # Later rounds: no second offer on a category, no second retention offer.
        width = int(c.category.max(initial=0)) + 2
        taken_keys = taken_members * width + c.category[chosen] + 1
        same = np.isin(c.member * width + c.category + 1, taken_keys)
        got_retention = np.zeros(n_members, dtype=bool)
        got_retention[taken_members[retention[c.template[chosen]]]] = True
        alive &= ~(same & (c.category >= 0))
        alive &= ~(got_retention[c.member] & retention[c.template])
    return np.asarray(sorted(kept), dtype=np.int64)


@dataclass
class _State:
    left: float
    t_budget: np.ndarray
    t_redeem: np.ndarray


def _round(c: Candidates, idx: np.ndarray, state: _State) -> list[int]:
    """One offer per member at most, by hull upgrades (updates ``state``).

    The hulls are built for all members at once (:func:`hull_segments`). A member's
    upgrades have strictly falling efficiency, so in the global order each follows
    the one before it; then a failed upgrade (one that does not fit) only ends
    that member's chain, the budget left never grows, and every upgrade costing
    more than what is left at some point fails from then on. The greedy is
    therefore taken in one array pass up to the first upgrade that does not fit
    or touches a capped template, and in Python after that only over the
    upgrades cheap enough to still fit.
    """
    order = idx[np.lexsort((-c.ev[idx], c.charge[idx], c.member[idx]))]
    seg_member, seg_from, seg_to, seg_eff = hull_segments(
        c.member[order], order, c.charge.astype(np.float64), c.ev.astype(np.float64))
    if len(seg_to) == 0:
        return []
    steps = np.lexsort((np.arange(len(seg_eff)), -seg_eff))
    charge = c.charge.astype(np.float64)
    prev_charge = np.where(seg_from >= 0, charge[seg_from], 0.0)
    dc = charge[seg_to] - prev_charge
    # Position of each upgrade in the order; a chain must run forwards for the fast path.
    position = np.empty(len(steps), dtype=np.int64)
    position[steps] = np.arange(len(steps))
    has_prev = seg_from >= 0
    prev_seg = np.arange(len(seg_to)) - 1  # a member's upgrades are consecutive
    forwards = bool((position[prev_seg[has_prev]] < position[has_prev]).all())
    current: dict[int, int] = {}
    done = 0
    if forwards:
        done = _fast_prefix(c, steps, seg_member, seg_from, seg_to, dc, state, current)
    rest = steps[done:]
    rest = rest[dc[rest] <= state.left + 1e-12]  # costlier upgrades can no longer fit
    if len(rest):
        _greedy_steps(c, rest.tolist(), seg_member.tolist(), seg_from.tolist(),
                      seg_to.tolist(), state, current)
    return sorted(current.values())


def _fast_prefix(c, steps, seg_member, seg_from, seg_to, dc, state: _State,
                 current: dict[int, int]) -> int:
    """Take the upgrades of ``steps`` while each fits and no capped template is involved.

    Assumes every member's upgrades come in chain order. Returns how many were
    taken; ``state.left`` is reduced exactly as one subtraction per upgrade would.
    """
    capped = ~np.isinf(state.t_budget) | ~np.isinf(state.t_redeem)
    touched = capped[c.template[seg_to]] | ((seg_from >= 0) & capped[c.template[seg_from]])
    step_dc = dc[steps]
    left = np.subtract.accumulate(np.r_[state.left, step_dc])
    bad = (step_dc > left[:-1] + 1e-12) | touched[steps]
    done = int(np.argmax(bad)) if bad.any() else len(steps)
    state.left = float(left[done])
    taken = steps[:done]
    # Each member's last upgrade taken is its offer.
    last = {}
    last.update(zip(seg_member[taken].tolist(), seg_to[taken].tolist()))
    current.update(last)
    return done


def _greedy_steps(c, steps: list[int], seg_member: list[int], seg_from: list[int],
                  seg_to: list[int], state: _State, current: dict[int, int]) -> None:
    """The greedy, one upgrade at a time, over ``steps`` in order (updates ``current``)."""
    frozen: set[int] = set()
    charge, p, template = c.charge.tolist(), c.p.tolist(), c.template.tolist()
    for s in steps:
        m, old, new = seg_member[s], seg_from[s], seg_to[s]
        if m in frozen or current.get(m, -1) != old:
            continue
        dc = charge[new] - (charge[old] if old >= 0 else 0.0)
        t_new = template[new]
        extra_t = charge[new] - (charge[old] if old >= 0 and template[old] == t_new else 0.0)
        extra_p = p[new] - (p[old] if old >= 0 and template[old] == t_new else 0.0)
        if dc > state.left + 1e-12 or extra_t > state.t_budget[t_new] + 1e-12 \
                or extra_p > state.t_redeem[t_new] + 1e-12:
            frozen.add(m)
            continue
        if old >= 0:
            state.t_budget[template[old]] += charge[old]
            state.t_redeem[template[old]] += p[old]
        state.t_budget[t_new] -= charge[new]
        state.t_redeem[t_new] -= p[new]
        state.left -= dc
        current[m] = new


def hull_segments(members: np.ndarray, order: np.ndarray, charge: np.ndarray,
                  ev: np.ndarray, block: int = 65_536):
    """Every member's upgrades along its upper concave hull from (0, 0), for all members.

    Parameters
    ----------
    members : ndarray of int, shape (k,)
        Member of each option, sorted.
    order : ndarray of int, shape (k,)
        Candidate index of each option; within a member sorted by charge, then
        best EV first.
    charge, ev : ndarray of float64
        Indexed by candidate.
    block : int
        Members handled together (bounds the memory of the padded arrays).

    Returns
    -------
    member, from_, to : ndarray of int, shape (s,)
        One row per upgrade, members in order and each member's upgrades in hull
        order; ``from_`` is -1 for a member's first upgrade (from no offer).
    eff : ndarray of float, shape (s,)
        ``dEV / dcharge`` (inf when the charge does not grow).
    """
    starts = np.flatnonzero(np.r_[True, members[1:] != members[:-1]]) if len(members) else \
        np.empty(0, dtype=np.int64)
    ends = np.r_[starts[1:], len(order)].astype(np.int64)
    parts = []
    for lo in range(0, len(starts), block):
        parts.append(_hull_block(members, order, charge, ev, starts[lo:lo + block],
                                 ends[lo:lo + block]))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, np.empty(0)
    return tuple(np.concatenate(x) for x in zip(*parts))


def _hull_block(members, order, charge, ev, starts, ends):
    """:func:`hull_segments` for the groups ``starts:ends`` (the same arithmetic as the
    one-member scan: drop dominated options, pop points on or below the new chord)."""
    g = len(starts)
    sizes = ends - starts
    width = int(sizes.max())
    col = np.arange(width)
    valid = col[None, :] < sizes[:, None]
    pos = np.where(valid, starts[:, None] + col[None, :], 0)
    K = np.where(valid, order[pos], -1)
    C = charge[np.maximum(K, 0)]
    E = ev[np.maximum(K, 0)]
    # Column 0 of the hull stack is the origin; hull points are columns of C/E + 1.
    HC = np.zeros((g, width + 1))
    HE = np.zeros((g, width + 1))
    HK = np.full((g, width + 1), -1, dtype=np.int64)
    h = np.ones(g, dtype=np.int64)  # stack size, origin included
    for j in range(width):
        act = np.flatnonzero(valid[:, j])
        ck, ek = C[act, j], E[act, j]
        act_keep = ek > HE[act, h[act] - 1]  # else dominated
        act, ck, ek = act[act_keep], ck[act_keep], ek[act_keep]
        while len(act):
            can = h[act] > 1
            a, b = h[act] - 2, h[act] - 1
            ca, ea = HC[act, np.maximum(a, 0)], HE[act, np.maximum(a, 0)]
            cb, eb = HC[act, b], HE[act, b]
            pop = can & ((eb - ea) * (ck - ca) <= (ek - ea) * (cb - ca))
            if not pop.any():
                break
            h[act[pop]] -= 1
        # Push, then continue with the groups whose pops are done (all of them here).
        HC[act, h[act]] = ck
        HE[act, h[act]] = ek
        HK[act, h[act]] = K[act, j]
        h[act] += 1
    n_seg = h - 1
    mask = np.arange(1, width + 1)[None, :] <= n_seg[:, None]
    to = HK[:, 1:][mask]
    from_ = HK[:, :-1][mask]
    dc = HC[:, 1:][mask] - HC[:, :-1][mask]
    de = HE[:, 1:][mask] - HE[:, :-1][mask]
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = np.where(dc > 0, de / np.where(dc > 0, dc, 1.0), np.inf)
    member = np.repeat(members[starts], n_seg)
    return member, from_, to, eff

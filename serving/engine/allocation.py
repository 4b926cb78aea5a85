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
    for _ in range(int(slots.max(initial=0))):
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
    """One offer per member at most, by hull upgrades (updates ``state``)."""
    order = idx[np.lexsort((-c.ev[idx], c.charge[idx], c.member[idx]))]
    members = c.member[order]
    starts = np.flatnonzero(np.r_[True, members[1:] != members[:-1]])
    ends = np.r_[starts[1:], len(order)]
    seg_member, seg_from, seg_to, seg_eff = [], [], [], []
    charge, ev = c.charge.tolist(), c.ev.tolist()
    for s, e in zip(starts.tolist(), ends.tolist()):
        hull = _hull([int(k) for k in order[s:e]], charge, ev)
        prev = -1
        for k in hull:
            dc = charge[k] - (charge[prev] if prev >= 0 else 0.0)
            de = ev[k] - (ev[prev] if prev >= 0 else 0.0)
            seg_member.append(int(members[s]))
            seg_from.append(prev)
            seg_to.append(k)
            seg_eff.append(de / dc if dc > 0 else np.inf)
            prev = k
    if not seg_to:
        return []
    eff = np.asarray(seg_eff)
    steps = np.lexsort((np.arange(len(eff)), -eff))
    current: dict[int, int] = {}
    frozen: set[int] = set()
    p = c.p.tolist()
    template = c.template.tolist()
    for s in steps.tolist():
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
    return sorted(current.values())


def _hull(options: list[int], charge: list[float], ev: list[float]) -> list[int]:
    """Upper concave hull from (0, 0) of options sorted by charge (ties: best EV first)."""
    hull: list[int] = []
    for k in options:
        if ev[k] <= (ev[hull[-1]] if hull else 0.0):
            continue  # dominated: costs at least as much for no more value
        while hull:
            a = hull[-2] if len(hull) > 1 else -1
            b = hull[-1]
            ca, ea = (charge[a], ev[a]) if a >= 0 else (0.0, 0.0)
            # Drop b when it lies on or below the segment from a to k.
            if (ev[b] - ea) * (charge[k] - ca) <= (ev[k] - ea) * (charge[b] - ca):
                hull.pop()
            else:
                break
        hull.append(k)
    return hull

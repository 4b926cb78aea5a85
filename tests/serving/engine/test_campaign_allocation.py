"""The vectorised hull greedy gives exactly what the one-member-at-a-time scan gave.

The reference below is the allocation's earlier ``_round`` (a Python scan per
member, then the greedy over every upgrade); the array version must choose the
same candidates, budgets and template caps included, ties and float32 inputs too.
"""

from __future__ import annotations

import numpy as np
import pytest

from serving.engine.campaign.allocation import Candidates, _State, greedy_allocate, hull_segments
from serving.engine.campaign.allocation import _round as array_round


def _reference_hull(options, charge, ev):
    hull = []
    for k in options:
        if ev[k] <= (ev[hull[-1]] if hull else 0.0):
            continue
        while hull:
            a = hull[-2] if len(hull) > 1 else -1
            b = hull[-1]
            ca, ea = (charge[a], ev[a]) if a >= 0 else (0.0, 0.0)
            if (ev[b] - ea) * (charge[k] - ca) <= (ev[k] - ea) * (charge[b] - ca):
                hull.pop()
            else:
                break
        hull.append(k)
    return hull


def _reference_round(c, idx, state):
    order = idx[np.lexsort((-c.ev[idx], c.charge[idx], c.member[idx]))]
    members = c.member[order]
    starts = np.flatnonzero(np.r_[True, members[1:] != members[:-1]])
    ends = np.r_[starts[1:], len(order)]
    seg_member, seg_from, seg_to, seg_eff = [], [], [], []
    charge, ev = c.charge.tolist(), c.ev.tolist()
    for s, e in zip(starts.tolist(), ends.tolist()):
        prev = -1
        for k in _reference_hull([int(k) for k in order[s:e]], charge, ev):
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
    current, frozen = {}, set()
    p, template = c.p.tolist(), c.template.tolist()
    for s in np.lexsort((np.arange(len(eff)), -eff)).tolist():
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


def _random_candidates(rng, n_members, n_templates, dtype, coarse):
    member = np.repeat(np.arange(n_members), n_templates)
    template = np.tile(np.arange(n_templates), n_members)
    keep = rng.random(len(member)) < 0.7
    member, template = member[keep], template[keep]
    k = len(member)
    if coarse:  # many exact ties and collinear points
        charge = rng.integers(0, 5, k).astype(dtype)
        ev = rng.integers(1, 6, k).astype(dtype)
    else:
        charge = rng.gamma(1.0, 2.0, k).astype(dtype)
        ev = rng.gamma(1.0, 3.0, k).astype(dtype)
    return Candidates(member, template, ev, charge, rng.uniform(0.01, 0.3, k).astype(dtype),
                      rng.integers(-1, 4, k))


@pytest.mark.parametrize("coarse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_array_round_equals_the_per_member_scan(dtype, coarse):
    rng = np.random.default_rng(11)
    for case in range(30):
        n_members, n_templates = int(rng.integers(1, 60)), int(rng.integers(1, 9))
        c = _random_candidates(rng, n_members, n_templates, dtype, coarse)
        total = float(c.charge.sum())
        budget = float(rng.choice([0.0, 0.05, 0.3, 0.8, 2.0])) * total
        t_budget = np.where(rng.random(n_templates) < 0.3, rng.uniform(0, total / 4 + 1,
                                                                          n_templates), np.inf)
        t_redeem = np.where(rng.random(n_templates) < 0.2, rng.uniform(0, 3, n_templates),
                            np.inf)
        if case % 3 == 0:
            t_budget[:], t_redeem[:] = np.inf, np.inf
        idx = np.flatnonzero(rng.random(len(c)) < 0.9)
        ours, ref = (_State(budget, t_budget.copy(), t_redeem.copy()) for _ in range(2))
        assert array_round(c, idx, ours) == _reference_round(c, idx, ref)
        assert ours.left == ref.left
        np.testing.assert_array_equal(ours.t_budget, ref.t_budget)
        np.testing.assert_array_equal(ours.t_redeem, ref.t_redeem)


def test_hull_segments_of_a_known_member():
    # Options (charge, EV): (1, 1) is below the chord from (0, 0) to (2, 4); (3, 4) adds no EV.
    charge = np.array([1.0, 2.0, 3.0, 4.0])
    ev = np.array([1.0, 4.0, 4.0, 5.0])
    member, from_, to, eff = hull_segments(np.zeros(4, dtype=np.int64), np.arange(4), charge,
                                           ev)
    assert to.tolist() == [1, 3] and from_.tolist() == [-1, 1]
    np.testing.assert_allclose(eff, [2.0, 0.5])


def test_greedy_allocate_over_several_rounds_matches_the_reference(monkeypatch):
    import serving.engine.campaign.allocation as allocation

    rng = np.random.default_rng(3)
    c = _random_candidates(rng, 300, 6, np.float32, coarse=False)
    caps = dict(template_budget=np.r_[np.full(5, np.inf), 40.0],
                template_redemptions=np.full(6, np.inf),
                retention=np.array([True, False, True, False, False, False]))
    for share in (0.05, 0.3, 2.0):
        budget = float(c.charge.sum()) * share
        ours = greedy_allocate(c, 300, budget, per_member=3, **caps)
        with monkeypatch.context() as patch:
            patch.setattr(allocation, "_round", _reference_round)
            ref = greedy_allocate(c, 300, budget, per_member=3, **caps)
        assert ours.tolist() == ref.tolist() and len(ours) > 0

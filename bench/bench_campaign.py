"""Time the offer engine: campaign allocation and one-member decisions.

    python bench/bench_campaign.py ARTIFACTS_DIR [--budget 500]
    python bench/bench_campaign.py --synthetic 1000000 [--budget 20000]
    python bench/bench_campaign.py --synthetic 200000 --compare HEAD [--repeat 3]

The first form loads a trained version (e.g. the Complete Journey's). The
second builds a bundle of N synthetic members in memory (random member
table, a buy-again + popularity recommender over 4,800 items in 24
categories, about 8 items per member): no training needed, the engine does
the same work per member. Prints seconds per step and peak RSS.

With ``--compare REV`` the campaign code of git revision ``REV``
(``serving/engine/campaign/campaign.py`` and ``allocation.py``; the rest is the
working tree's) and the working tree's run in turn, ``--repeat`` times each,
on the same engine: medians of wall and CPU seconds (this process and its
workers), the largest memory (PSS of the process and its workers, sampled)
above what it was before the run, and a check that both give the same offers.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd

from models.recommenders import BlendRecommender
from models.recommenders.buy_again import BuyAgainRecommender
from models.recommenders.popularity import PopularityRecommender
from serving.engine import EngineConfig, OfferEngine, allocate_campaign, load_bundle, load_catalog
from serving.engine.bundle import ModelBundle
from serving.engine.member_table import MemberTable
from training.artifacts.schema import conform_members

SEGMENTS = ["Champions", "Loyal", "Potential loyalist", "New", "Need attention",
            "About to sleep", "At risk", "Can't lose", "Hibernating", "Lost"]


def synthetic_bundle(n: int, seed: int = 0) -> ModelBundle:
    """A bundle of ``n`` random members (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_items, n_cat = 4_800, 24
    categories = np.array([f"category_{c:02d}" for c in range(n_cat)])
    item_ids = np.array([f"I{i:05d}" for i in range(n_items)])
    item_category = categories[np.arange(n_items) // (n_items // n_cat)]
    member_ids = np.array([f"M{i:07d}" for i in range(n)])
    per_member = rng.integers(1, 16, n)
    indptr = np.r_[0, np.cumsum(per_member)].astype(np.int64)
    favourite = rng.integers(0, n_cat, n)
    base = np.repeat(favourite * (n_items // n_cat), per_member)
    spread = rng.integers(0, n_items // n_cat, indptr[-1])
    other = rng.random(indptr[-1]) < 0.4
    items = np.where(other, rng.integers(0, n_items, indptr[-1]), base + spread)
    scores = rng.gamma(1.0, 1.0, indptr[-1]).astype(np.float32)
    # CSR rows must hold sorted, unique columns: sort per row, drop repeats.
    row = np.repeat(np.arange(n), per_member)
    order = np.lexsort((items, row))
    row, items, scores = row[order], items[order], scores[order]
    keep = np.r_[True, (row[1:] != row[:-1]) | (items[1:] != items[:-1])]
    row, items, scores = row[keep], items[keep].astype(np.int32), scores[keep]
    indptr = np.r_[0, np.cumsum(np.bincount(row, minlength=n))].astype(np.int64)
    common = {"member_ids_": member_ids, "item_ids_": item_ids, "purchased_indptr_": indptr,
              "purchased_indices_": items}
    buy_again = BuyAgainRecommender()
    popularity = PopularityRecommender()
    for model in (buy_again, popularity):
        for key, value in common.items():
            setattr(model, key, value)
    buy_again.scores_data_, buy_again.scores_indices_ = scores, items
    buy_again.scores_indptr_ = indptr
    popularity.item_scores_ = np.bincount(items, minlength=n_items).astype(np.float32)
    model = BlendRecommender.from_fitted({"buy_again": buy_again, "popularity": popularity},
                                         weights={"buy_again": 1.0, "popularity": 0.1})
    churn = rng.beta(1.5, 5, n)
    frame = pd.DataFrame({
        "member_id": member_ids, "segment": np.array(SEGMENTS)[rng.integers(0, 10, n)],
        "rfm_score": "333", "cluster": rng.integers(0, 5, n),
        "cluster_label": "cluster", "recency_days": rng.exponential(20, n),
        "frequency": rng.poisson(20, n).astype(float),
        "monetary_total": rng.gamma(2, 600, n), "monetary_mean_basket": rng.gamma(3, 12, n),
        "tenure_days": rng.uniform(10, 2000, n), "overdue_ratio": rng.exponential(1, n),
        "tier": np.array(["bronze", "silver", "gold", "platinum"])[rng.integers(0, 4, n)],
        "points_balance": rng.gamma(2, 400, n),
        "plan_status": np.where(rng.random(n) < 0.2, "active", None),
        "email_opt_in": rng.random(n) < 0.7, "sms_opt_in": rng.random(n) < 0.3,
        "push_opt_in": rng.random(n) < 0.5, "days_to_next_birthday": rng.integers(0, 365, n),
        "referrals": rng.poisson(0.3, n).astype(float), "churn_risk": churn,
        "expected_spend": rng.gamma(2, 50, n), "clv": rng.gamma(2, 600, n) * (1 - churn),
        "p_redeem_base": rng.beta(1, 12, n),
        "churn_reason_codes": [["RECENCY_HIGH"]] * n,
        "churn_reasons": [["no purchase for a while"]] * n,
        "top_categories": [categories[[f, (f + 1) % n_cat, (f + 5) % n_cat]].tolist()
                           for f in favourite.tolist()],
    })
    manifest = {"version": f"synthetic-{n}", "as_of": "2026-01-01T00:00:00",
                "metrics": {"churn": {"horizon_days": 28}}}
    items_frame = pd.DataFrame({"item_id": item_ids, "category": item_category,
                                "name": item_ids, "price": rng.gamma(2, 2.5, n_items)})
    members = MemberTable.from_frame(conform_members(frame, partial=True))
    return ModelBundle(manifest["version"], manifest, members, model, items_frame, item_category)


def legacy_allocate(rev: str):
    """``allocate_campaign`` as of git revision ``rev`` (its campaign and allocation modules)."""
    root = Path(__file__).resolve().parents[1]

    def load(name: str, path: str) -> types.ModuleType:
        source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, check=True,
                                capture_output=True, text=True).stdout
        module = types.ModuleType(name)
        module.__file__ = f"{rev}:{path}"
        sys.modules[name] = module  # dataclasses look their module up
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        return module

    allocation = load("legacy_allocation", "serving/engine/campaign/allocation.py")
    campaign = load("legacy_campaign", "serving/engine/campaign/campaign.py")
    campaign.greedy_allocate, campaign.Candidates = allocation.greedy_allocate, \
        allocation.Candidates
    return campaign.allocate_campaign


class MemorySampler:
    """Largest PSS (MiB) of this process and its children while in a ``with`` block."""

    def __init__(self, every: float = 0.2):
        self.every = every

    def __enter__(self):
        self.base = self.peak = _pss_tree()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, _pss_tree())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _pss_tree())


def _pss_tree() -> float:
    pids = [os.getpid()]
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def compare(engine, rev: str, budgets, repeat: int, now: str) -> None:
    """Before (``rev``) and after (working tree), interleaved; see the module docstring."""
    before = legacy_allocate(rev)
    variants = {f"before ({rev})": before, "after": allocate_campaign}
    for budget in budgets:
        runs = {name: [] for name in variants}
        results = {}
        for _ in range(repeat):
            for name, func in variants.items():
                start, wall = os.times(), time.perf_counter()
                with MemorySampler() as memory:
                    result = func(engine, budget=budget, channel="email", now=now)
                end = os.times()
                cpu = sum(end[:4]) - sum(start[:4])
                runs[name].append((time.perf_counter() - wall, cpu, memory.peak - memory.base,
                                   result.summary["seconds"]))
                results[name] = result
                del result
        a, b = results.values()
        same = a.offers.equals(b.offers) and a.holdouts.equals(b.holdouts)
        print(f"budget {budget:,.0f}: {b.summary['offers']:,} offers; identical: {same}")
        for name, rows in runs.items():
            wall = statistics.median(r[0] for r in rows)
            cpu = statistics.median(r[1] for r in rows)
            mem = max(r[2] for r in rows)
            steps = {k: round(statistics.median(r[3][k] for r in rows), 2)
                     for k in rows[0][3]}
            print(f"  {name:>16}: wall {wall:7.2f} s, CPU {cpu:7.2f} s, +{mem:,.0f} MiB "
                  f"(median of {len(rows)}; steps {steps})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir", nargs="?")
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--budget", type=float, default=500.0)
    parser.add_argument("--now", default="2026-12-01T10:00")
    parser.add_argument("--compare", metavar="REV", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tick = time.perf_counter()
    bundle = (synthetic_bundle(args.synthetic) if args.synthetic
              else load_bundle(args.artifacts_dir))
    print(f"bundle: {len(bundle.members):,} members, {time.perf_counter() - tick:.2f} s")
    tick = time.perf_counter()
    engine = OfferEngine(bundle, load_catalog(), EngineConfig())
    print(f"engine: {engine.templates.n} templates, {time.perf_counter() - tick:.2f} s "
          f"(precomputed: {engine.scoring.static is not None})")
    if args.compare:
        compare(engine, args.compare, (args.budget, 1e9), args.repeat, args.now)
        return
    for budget in (args.budget, 1e9):
        tick = time.perf_counter()
        result = allocate_campaign(engine, budget=budget, channel="email", now=args.now)
        s = result.summary
        print(f"campaign budget {budget:,.0f}: {s['offers']:,} offers, expected cost "
              f"{s['expected_cost']:,.2f}, value {s['expected_value']:,.2f}, "
              f"{time.perf_counter() - tick:.2f} s {s['seconds']}")
    ids = bundle.members.ids[:: max(1, len(bundle.members) // 2000)][:2000]
    times = []
    for member in ids:
        tick = time.perf_counter()
        engine.decide(member, "app", now=args.now)
        times.append(time.perf_counter() - tick)
    print(f"decide: median {1000 * np.median(times):.3f} ms, p99 "
          f"{1000 * np.percentile(times, 99):.3f} ms over {len(ids)} members")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()

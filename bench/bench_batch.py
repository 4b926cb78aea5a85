"""Batch speed: `offers campaign` and `offers recommend --all` on a trained version.

Usage::

    python bench/bench_batch.py ARTIFACTS_DIR [--repeat 3] [--budget 1e9] [--json OUT.json]

Each command runs ``--repeat`` times end to end in a fresh process (start-up,
loading and verifying the version, the work, writing the CSV); the work
alone is then timed in this process: ``allocate_campaign`` (scoring every
member x offer template, allocation, rendering) and ``recommend_long``
(top 10 of every member). Members per second are over the members of the
version. A budget of 1e9 gives every member an offer (the most rendering);
``--budget 500`` is a small campaign.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
NOW = "2026-12-01T10:00"


def has_command(name: str) -> bool:
    """Whether ``offers --help`` lists command ``name``."""
    done = subprocess.run([str(BIN / "offers"), "--help"], capture_output=True, text=True)
    return re.search(rf"^\s+{name}\s", done.stdout, re.MULTILINE) is not None


def wall(cmd: list[str]) -> tuple[float, str]:
    """Wall seconds and standard output of ``cmd`` (which must succeed)."""
    tick = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - tick, done.stdout


def measure(artifacts_dir: str, repeat: int, budget: float) -> dict:
    """End-to-end and in-process seconds of both batches (see the module docstring)."""
    from serving.engine import OfferEngine, allocate_campaign, load_bundle, load_catalog
    from training.artifacts.store import open_version
    from training.exports import recommend_long

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        recs = [wall([str(BIN / "offers"), "recommend", artifacts_dir, "--all", "--k", "10",
                      "--out", f"{tmp}/recs.csv"])[0] for _ in range(repeat)]
        out["recommend_cli_s"] = statistics.median(recs)
        if has_command("campaign"):
            runs = [wall([str(BIN / "offers"), "campaign", artifacts_dir, "--budget", str(budget),
                          "--now", NOW, "--out", f"{tmp}/campaign.csv"])[0]
                    for _ in range(repeat)]
            out["campaign_cli_s"] = statistics.median(runs)
    version = open_version(artifacts_dir)
    work = []
    for _ in range(repeat):
        tick = time.perf_counter()
        table = recommend_long(version, k=10)
        work.append(time.perf_counter() - tick)
    out["recommend_s"] = statistics.median(work)
    out["members"] = int(table["member_id"].nunique())
    tick = time.perf_counter()
    engine = OfferEngine(load_bundle(artifacts_dir), load_catalog())
    out["engine_build_s"] = time.perf_counter() - tick
    work, summary = [], {}
    for _ in range(repeat):
        tick = time.perf_counter()
        summary = allocate_campaign(engine, budget=budget, channel="email", now=NOW).summary
        work.append(time.perf_counter() - tick)
    out["campaign_s"] = statistics.median(work)
    out["campaign_steps"] = summary["seconds"]
    out["campaign_offers"] = summary["offers"]
    out["templates"] = int(engine.templates.n)
    return out


def table(r: dict) -> list[str]:
    """Markdown table of both batches."""
    n = r["members"]
    lines = ["| batch | members | work s | members/s (work) | end to end s (CLI) | "
             "members/s (end to end) |", "|---|---:|---:|---:|---:|---:|"]
    rows = [("offers recommend --all --k 10", r["recommend_s"], r.get("recommend_cli_s")),
            (f"offers campaign ({r['templates']} templates, {r['campaign_offers']:,} offers)",
             r["campaign_s"], r.get("campaign_cli_s"))]
    for name, work, cli in rows:
        end = f"{cli:.2f} | {n / cli:,.0f}" if cli else "not registered | -"
        lines.append(f"| {name} | {n:,} | {work:.2f} | {n / work:,.0f} | {end} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=1e9)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = measure(args.artifacts_dir, args.repeat, args.budget)
    print("\n".join(table(result)))
    steps = ", ".join(f"{k} {v:.2f}" for k, v in result["campaign_steps"].items())
    print(f"\nCampaign steps (s): {steps}; engine build {result['engine_build_s']:.2f} s.")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

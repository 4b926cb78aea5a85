"""Which members the engine's retention offers reach, by churn-risk decile, per version.

    .venv/bin/python bench/retention_reach.py ARTIFACTS_DIR [ARTIFACTS_DIR ...] \
        [--channel email] [--now 2026-12-07T10:00]

For each artifacts directory (its current version), every member the version
scored gets the default catalog's decision on ``--channel`` at ``--now`` (no
control group), and the table gives the share of members, per decile of churn
risk (10 = highest), whose decision holds a retention offer (reason code
``CHURN_RISK``). A retention offer's saved value and its cost cap are both
proportional to the member's CLV (docs/offers.md), so this shows what the CLV
does to the offers meant for members about to leave.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from serving.engine import EngineConfig, OfferEngine, load_bundle, load_catalog
from training import artifacts


def reach(artifacts_dir: str, channel: str, now: pd.Timestamp) -> tuple[pd.Series, int]:
    members = artifacts.open_version(artifacts_dir).load_frame("members")
    members = members[members["churn_risk"].notna()].copy()
    members["decile"] = pd.qcut(members["churn_risk"].rank(method="first"), 10,
                                labels=False) + 1
    engine = OfferEngine(load_bundle(artifacts_dir), load_catalog(),
                         EngineConfig(control_share=0.0))
    got = np.array([any("CHURN_RISK" in offer["reason_codes"]
                        for offer in engine.decide(str(m), channel, now=now).offers)
                    for m in members["member_id"]])
    members["retention"] = got
    return members.groupby("decile")["retention"].mean(), int(got.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dirs", nargs="+")
    parser.add_argument("--channel", default="email")
    parser.add_argument("--now", default="2026-12-07T10:00")
    args = parser.parse_args()
    rows = {}
    for path in args.artifacts_dirs:
        shares, n = reach(path, args.channel, pd.Timestamp(args.now))
        rows[f"{path} ({n} members)"] = shares
    with pd.option_context("display.width", 200):
        print(pd.DataFrame(rows).T.round(2).to_string())


if __name__ == "__main__":
    main()

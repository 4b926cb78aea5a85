"""The member table's predictions in the driver vs in partitions on Spark (mapInPandas).

Usage::

    python bench/bench_spark_scoring.py [--members 50000] [--repeats 3] [--master 'local[2]']
        [--driver-memory 1g]

Trains the test suite's small synthetic program (600 members, fast settings),
tiles its member features to ``--members`` rows, and scores them with
:func:`training.member_scoring.member_predictions` in this process and with
:func:`training.spark_scoring.spark_member_predictions` on a local Spark session,
alternating. Prints per run the wall seconds and the CPU seconds of the whole
process tree (driver, JVM, Python workers; from /proc, children that exited
included), the medians, and whether the two results agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and its descendants (utime, stime and exited children's)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += sum(int(v) for v in stats[pid][11:15]) / TICK
        todo.extend(children.get(pid, []))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="1g", help="the JVM heap (local master)")
    args = parser.parse_args()

    from features.relational import connect_spark
    from training.config import load_config
    from training.member_scoring import MemberModels, member_predictions
    from training.pipeline import train
    from training.spark_scoring import spark_member_predictions
    from training.synth.generate import generate

    root = Path(tempfile.mkdtemp(prefix="bench-spark-scoring-"))
    data = generate(root / "data", 600, seed=11)
    config = load_config(recommend={"tune": False, "factors": 16, "iterations": 5},
                         churn={"validate_horizons": []})
    _, run = train(data, root / "artifacts", config=config)
    base = run.member_features
    reps = -(-args.members // len(base))
    mf = pd.concat([base] * reps).iloc[: args.members]
    mf.index = pd.Index([f"m{i}" for i in range(len(mf))], name=base.index.name)
    models = MemberModels(run.churn, run.value, run.offer_response)
    con = connect_spark(args.master, driver_memory=args.driver_memory)
    spark_member_predictions(con, models, mf.head(1000))  # warm: workers started, JIT
    me = os.getpid()
    times: dict[str, list[tuple[float, float]]] = {"driver": [], "spark": []}
    for i in range(args.repeats):
        for kind in ("driver", "spark"):
            cpu0, t0 = tree_cpu(me), time.perf_counter()
            got = (member_predictions(models, mf) if kind == "driver"
                   else spark_member_predictions(con, models, mf))
            wall, cpu = time.perf_counter() - t0, tree_cpu(me) - cpu0
            times[kind].append((wall, cpu))
            print(f"run {i + 1} {kind}: wall {wall:.1f} s, CPU {cpu:.1f} s", flush=True)
            if kind == "driver":
                want = got
    same = np.allclose(got["churn_risk"].to_numpy(float), want["churn_risk"].to_numpy(float),
                       rtol=1e-9, equal_nan=True)
    print(f"\n{len(mf):,} members, load {os.getloadavg()[0]:.1f}; results agree: {same}")
    for kind, rows in times.items():
        print(f"{kind}: median wall {statistics.median(r[0] for r in rows):.1f} s, "
              f"median CPU {statistics.median(r[1] for r in rows):.1f} s")
    con.disconnect()


if __name__ == "__main__":
    main()

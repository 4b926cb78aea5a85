"""``decide`` on two source trees (e.g. before and after a change), runs alternated.

Usage::

    python bench/bench_decide_commits.py NAME=SRC_DIR:ARTIFACTS_DIR NAME=SRC_DIR:ARTIFACTS_DIR
        [--members 1000] [--unknown 100] [--passes 3] [--repeat 5] [--now 2018-01-01T10:00]

Each ``SRC_DIR`` is a checkout of the project (``git archive COMMIT | tar -x -C DIR``) and
``ARTIFACTS_DIR`` a version trained by that checkout's own ``offers train`` (artifact
formats change between commits). Each run is a fresh process started in ``SRC_DIR`` (so
that tree's code is imported), and the trees take turns, run after run, so that machine
load hits them alike. A run loads the version and the default catalog, builds the engine,
then makes ``--passes`` passes of ``OfferEngine.decide`` over the same members (the first
``--members`` of the member table and ``--unknown`` ids it does not know) on the ``app``
and ``email`` channels, without history. It reports CPU seconds (``time.process_time``)
of the load, of the first pass (cold: per-member work done on a first request) and of
the median later pass, and microseconds of CPU per decision; the table gives the medians
over ``--repeat`` runs of each tree. Only the public ``load_bundle``, ``load_catalog``,
``OfferEngine`` and ``decide`` are used, so any commit since the engine exists runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
t0 = time.process_time()
from serving.engine import OfferEngine, load_bundle, load_catalog
art, now = sys.argv[1], sys.argv[5]
n, unknown, passes = (int(a) for a in sys.argv[2:5])
engine = OfferEngine(load_bundle(art), load_catalog(None))
load_cpu = time.process_time() - t0
ids = [str(m) for m in engine.bundle.members.ids[:n]] + [f"nobody-{i}" for i in range(unknown)]
out = {"load_cpu_s": load_cpu, "decisions_per_pass": 2 * len(ids), "passes_cpu_s": [],
       "passes_wall_s": [], "offers": 0}
for p in range(passes):
    c, w = time.process_time(), time.perf_counter()
    for channel in ("app", "email"):
        for member in ids:
            d = engine.decide(member, channel, limit=3, now=now)
            if p == 0:
                out["offers"] += len(d.offers)
    out["passes_cpu_s"].append(time.process_time() - c)
    out["passes_wall_s"].append(time.perf_counter() - w)
print(json.dumps(out))
"""


def run_once(src: str, artifacts: str, args) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, artifacts, str(args.members), str(args.unknown),
         str(args.passes), args.now],
        cwd=src, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{src}: run failed\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", metavar="NAME=SRC_DIR:ARTIFACTS_DIR")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--unknown", type=int, default=100)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--now", default="2018-01-01T10:00")
    parser.add_argument("--json", default=None, help="Also write every run's figures here.")
    args = parser.parse_args()
    if args.passes < 2:
        parser.error("--passes must be at least 2 (the first pass is reported apart)")
    trees = []
    for spec in args.trees:
        name, _, rest = spec.partition("=")
        src, _, artifacts = rest.partition(":")
        if not (name and src and artifacts):
            parser.error(f"{spec!r} is not NAME=SRC_DIR:ARTIFACTS_DIR")
        trees.append((name, src, artifacts))

    runs: dict[str, list[dict]] = {name: [] for name, _, _ in trees}
    for r in range(args.repeat):
        order = trees if r % 2 == 0 else trees[::-1]  # alternate which tree goes first
        for name, src, artifacts in order:
            runs[name].append(run_once(src, artifacts, args))
            print(f"run {r + 1}/{args.repeat} {name}: "
                  f"{json.dumps(runs[name][-1])}", file=sys.stderr, flush=True)

    print(f"decide: {args.members} known + {args.unknown} unknown members x (app, email), "
          f"{args.passes} passes per run, medians of {args.repeat} runs (CPU seconds)")
    print("| tree | load + engine build | first pass | later passes (median) | "
          "CPU us / decision, first / later | offers per pass |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _, _ in trees:
        rs = runs[name]
        n = rs[0]["decisions_per_pass"]
        load = statistics.median(x["load_cpu_s"] for x in rs)
        first = statistics.median(x["passes_cpu_s"][0] for x in rs)
        later = statistics.median(statistics.median(x["passes_cpu_s"][1:]) for x in rs)
        print(f"| {name} | {load:.2f} s | {first:.3f} s | {later:.3f} s | "
              f"{first / n * 1e6:.0f} / {later / n * 1e6:.0f} | {rs[0]['offers']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()

"""How long a server takes to load a trained version, and what it holds: wall, CPU, peak RSS.

Usage::

    python bench/bench_load_bundle.py ARTIFACTS_DIR [--repeat 3] [--tree DIR ...] [--engine]

Each run is a fresh process (``load_bundle`` of the current version, and with
``--engine`` the :class:`~serving.engine.OfferEngine` on top, as a server
worker starts), so nothing is cached between runs but the OS page cache.
``--tree`` names source trees to compare side by side (for example a
``git worktree`` of an earlier commit); runs alternate between the trees so
that a change in the machine's load hits each alike. Prints the median of
each tree's runs (and every run).
"""

from __future__ import annotations

import argparse
import os
import sys

from worker import compare_trees, run_json  # bench/, this script's folder

CHILD = r"""
import json, resource, sys, time
wall, cpu = time.perf_counter(), time.process_time()
from serving.engine import load_bundle
bundle = load_bundle(sys.argv[1])
parts = {"load_bundle_s": time.perf_counter() - wall,
         "load_bundle_cpu_s": time.process_time() - cpu}
if sys.argv[2] == "1":
    from serving.engine import OfferEngine, load_catalog
    OfferEngine(bundle, load_catalog())
parts.update(wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu,
             peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
             members=len(bundle.members))
print(json.dumps(parts))
"""


def one_run(tree: str, artifacts_dir: str, engine: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return run_json([sys.executable, "-c", CHILD, artifacts_dir, "1" if engine else "0"],
                    env=env, cwd=tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", action="append", default=None,
                        help="source tree to import the project from (repeatable); "
                             "default: this checkout")
    parser.add_argument("--engine", action="store_true", help="also build the OfferEngine")
    args = parser.parse_args()
    keys = ("load_bundle_s", "load_bundle_cpu_s", "wall_s", "cpu_s", "peak_rss_mib")
    compare_trees(args.tree, args.repeat,
                  lambda tree: one_run(tree, args.artifacts_dir, args.engine), keys)

if __name__ == "__main__":
    main()

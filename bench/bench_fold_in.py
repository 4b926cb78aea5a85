"""CPU of the ALS fold-in (every member solved against fixed item factors), tree against tree.

Usage::

    python bench/bench_fold_in.py [--members 100000] [--repeat 3] [--tree DIR ...]

Each run is a fresh process: a seeded random confidence matrix (``--members`` x
4,800 items, 40 entries a member, log1p counts as the pipeline weighs them, 64
factors, like the synthetic programs) and
:func:`models.recommenders.als_fold_in.fold_in_users` on 2 threads. ``--tree``
names source trees to compare (a ``git worktree`` of an earlier commit); runs
alternate. Also prints how far each tree's factors are from the first tree's
(median and largest relative difference per member).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
from worker import compare_trees, run_json  # bench/, this script's folder

CHILD = r"""
import json, sys, time
import numpy as np, scipy.sparse as sp
from models.recommenders.als_fold_in import fold_in_users
n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
m, per = 4800, 40
rows = np.repeat(np.arange(n), per)
conf = sp.csr_matrix((np.log1p(rng.integers(1, 5, n * per)).astype(np.float32) + 1,
                      (rows, rng.integers(0, m, n * per))), shape=(n, m))
conf.sum_duplicates(); conf.sort_indices()
Y = ((rng.random((m, 64), dtype=np.float32) - 0.5) / 8).astype(np.float32)
wall, cpu = time.perf_counter(), time.process_time()
X = fold_in_users(conf, Y, 0.05, 2.0, 2)
print(json.dumps({"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}))
np.save(out, X)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", action="append", default=None,
                        help="source tree to import the project from (repeatable); "
                             "default: this checkout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        saved = {}

        def one_run(tree: str) -> dict:
            saved.setdefault(tree, os.path.join(folder, f"{len(saved)}.npy"))
            env = dict(os.environ, PYTHONPATH=tree, OPENBLAS_NUM_THREADS="1")
            return run_json([sys.executable, "-c", CHILD, str(args.members), saved[tree]],
                            env=env, cwd=tree)

        compare_trees(args.tree, args.repeat, one_run, ("wall_s", "cpu_s"))
        first, *others = saved
        for tree in others:
            a, b = np.load(saved[first]), np.load(saved[tree])
            rel = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)
            print(f"{tree} against {first}: relative difference median {np.median(rel):.2e}, "
                  f"largest {rel.max():.2e}")


if __name__ == "__main__":
    main()

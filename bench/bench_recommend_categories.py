"""recommend_categories on one thread and on two, alternated (issue 11).

Usage: ``python bench/bench_recommend_categories.py`` (no data: an ALS-like model of
random float32 factors, 196,738 members x 4,800 items x 64 factors, 300 categories, the
shape of synth_200k). BLAS on one thread as in the training pipeline. Prints the median
wall and CPU seconds of 4 runs each and whether the two answers are identical.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models.recommenders.base as base  # noqa: E402
import models.recommenders.category as category  # noqa: E402


class DenseModel:
    """An ALS-like model: one dense product per chunk of members."""

    def __init__(self, n_members: int, n_items: int, factors: int = 64):
        rng = np.random.default_rng(0)
        self.users = rng.standard_normal((n_members, factors), dtype=np.float32)
        self.items = rng.standard_normal((n_items, factors), dtype=np.float32)
        self.n_items = n_items

    def score(self, rows, exclude_purchased=False):
        return self.users[rows] @ self.items.T


def main() -> None:
    model = DenseModel(196_738, 4_800)
    cats = np.array([f"c{j % 300:03d}" for j in range(4_800)])
    rows = np.arange(196_738)
    runs = {1: [], 2: []}
    answers = {}
    with threadpool_limits(1):  # as in the pipeline
        for _ in range(4):
            for threads in runs:
                base.SCORE_THREADS = threads
                cpu, wall = time.process_time(), time.perf_counter()
                answers[threads] = category.recommend_categories(model, rows, cats, k=3)
                runs[threads].append((time.perf_counter() - wall, time.process_time() - cpu))
    for threads, times in runs.items():
        print(f"threads {threads}: wall median {statistics.median(w for w, _ in times):.2f} s, "
              f"CPU median {statistics.median(c for _, c in times):.2f} s, "
              f"runs {[(round(w, 2), round(c, 2)) for w, c in times]}")
    same = all(np.array_equal(a, b) for a, b in zip(answers[1], answers[2]))
    print("identical:", same, "load", Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()

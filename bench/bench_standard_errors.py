"""What the validation metrics' standard errors cost a training, with the project's ROC-AUC
and average precision against scikit-learn's (the "before"), side by side in one run.

Usage::

    python bench/bench_standard_errors.py [--rows 2464 --rows 50000] [--repeat 5]

For each size, a churn-like validation sample (30% positives, scores that separate them,
every tenth score rounded to make ties) is bootstrapped as training does
(:func:`models.metrics.standard_errors` and :func:`models.metrics.paired_standard_errors`,
100 resamples, m-out-of-n above 20,000 rows) with ROC-AUC and PR-AUC, once with
``models.metrics``' own functions and once with sklearn's ``roc_auc_score`` and
``average_precision_score`` behind the same input checks. Prints the median CPU seconds
of ``--repeat`` alternated runs and checks both give the same standard errors.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import click
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import metrics as mm  # noqa: E402


def _sklearn(score):
    def metric(y_true, y_score):
        y_true, y_score = mm._check_pair(y_true, y_score)
        if not mm._two_classes(mm._check_binary(y_true)):
            return float("nan")
        return float(score(y_true, y_score))
    return metric


VARIANTS = {
    "project": {"roc_auc": mm.roc_auc, "pr_auc": mm.pr_auc},
    "sklearn (before)": {"roc_auc": _sklearn(roc_auc_score),
                         "pr_auc": _sklearn(average_precision_score)},
}


def _sample(rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.random(rows) < 0.3
    score = np.clip(np.where(y, 0.45, 0.25) + rng.normal(0, 0.15, rows), 0, 1)
    baseline = np.clip(score + rng.normal(0, 0.1, rows), 0, 1)
    score[::10] = np.round(score[::10], 2)
    return y, score, baseline


def _run(y, score, baseline, metrics) -> tuple[float, dict]:
    start = time.process_time()
    ses = mm.standard_errors(y, score, metrics)
    paired = mm.paired_standard_errors(y, score, baseline, metrics)
    return time.process_time() - start, {**ses, **{f"margin {k}": v for k, v in paired.items()}}


@click.command()
@click.option("--rows", type=int, multiple=True, default=(2464, 50000), show_default=True)
@click.option("--repeat", type=int, default=5, show_default=True)
def main(rows, repeat) -> None:
    print(f"| rows | metrics | CPU s, median of {repeat} "
          "| standard errors (ROC, PR; margin ROC, PR) |")
    print("|---:|---|---:|---|")
    for n in rows:
        y, score, baseline = _sample(n)
        times = {name: [] for name in VARIANTS}
        found = {}
        for _ in range(repeat):
            for name, metrics in VARIANTS.items():
                seconds, found[name] = _run(y, score, baseline, metrics)
                times[name].append(seconds)
        want = found["sklearn (before)"]
        for key, value in found["project"].items():
            if abs(value - want[key]) > 1e-9:
                raise SystemExit(f"{key} differs at {n} rows: {value} against {want[key]}")
        for name in VARIANTS:
            ses = ", ".join(f"{v:.4f}" for v in found[name].values())
            print(f"| {n:,} | {name} | {statistics.median(times[name]):.3f} | {ses} |")


if __name__ == "__main__":
    main()

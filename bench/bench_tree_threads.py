"""The tree models on one OpenMP thread against every core: seconds, and whether they agree.

Fits the two boosters the lifecycle models use (a classifier like the churn model's, a
regressor like the value model's absolute-error one) on random rows with missing values,
``--repeat`` times per thread count, alternating, and prints the median fit and predict
seconds and whether the predictions are identical (they should be: histogram boosting
works per feature and per row). What :mod:`models.threads` rests on::

    python bench/bench_tree_threads.py --rows 300000 --features 40 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from models.threads import available_cores


def _run(X, y, spend, threads: int):
    with threadpool_limits(threads, "openmp"):
        start = time.perf_counter()
        churn = HistGradientBoostingClassifier(max_iter=75, max_leaf_nodes=7,
                                               early_stopping=False, random_state=0).fit(X, y)
        value = HistGradientBoostingRegressor(max_iter=150, loss="absolute_error",
                                              early_stopping=False, random_state=0).fit(X, spend)
        fitted = time.perf_counter()
        predictions = (churn.predict_proba(X)[:, 1], value.predict(X))
        return fitted - start, time.perf_counter() - fitted, predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + rng.normal(size=args.rows) > 0.5).astype(int)
    spend = np.nan_to_num(X[:, 1]) * 3 + rng.gamma(1, size=args.rows)
    counts = sorted({1, available_cores()})
    times = {t: {"fit": [], "predict": []} for t in counts}
    answers = {}
    for _ in range(args.repeat):
        for t in counts:
            fit, predict, answers[t] = _run(X, y, spend, t)
            times[t]["fit"].append(fit)
            times[t]["predict"].append(predict)
    for t in counts:
        print(f"{t} thread(s): fit {statistics.median(times[t]['fit']):.2f} s, predict "
              f"{statistics.median(times[t]['predict']):.2f} s (medians of {args.repeat})")
    same = all(np.array_equal(a, b) for a, b in zip(answers[counts[0]], answers[counts[-1]]))
    print(f"identical predictions on {counts[0]} and {counts[-1]} thread(s): {same}")


if __name__ == "__main__":
    main()

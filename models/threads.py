"""How many OpenMP threads the tree models (scikit-learn's histogram boosting) get.

Training runs under one OpenMP thread (:mod:`training.pipeline` caps them: small
fits on a shared, busy machine are many times slower with OpenMP's spinning
threads, and implicit's ALS keeps its own). Fitting or scoring a few hundred
thousand rows is another matter: the same boosters on 300,000 rows x 40 features
fit 1.8x and predict 1.8x faster on two cores than on one, with identical results
(histograms and splits are computed per feature, predictions per row;
bench/bench_tree_threads.py, bench/RESULTS.md). :func:`tree_threads` gives every core
to work of at least :data:`PARALLEL_ROWS` rows and leaves smaller work as it is.

>>> with tree_threads("auto", n_rows=500_000):   # doctest: +SKIP
...     booster.fit(X, y)
"""

from __future__ import annotations

import contextlib
import os

from threadpoolctl import threadpool_limits

from features.errors import ConfigError

#: Rows from which ``"auto"`` fits and predicts on every core this process may use.
PARALLEL_ROWS = 20_000


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def tree_threads(n_threads: int | str | None, n_rows: int | None = None):
    """Context manager setting the OpenMP threads of the calling thread's tree models.

    Parameters
    ----------
    n_threads : int, ``"auto"`` or None
        A positive whole number: that many threads. ``"auto"``: every core for
        ``n_rows`` of at least :data:`PARALLEL_ROWS`, else whatever limit is
        already in force (one thread inside training). None: leave the limit in
        force as it is.
    n_rows : int, optional
        The rows the work inside fits or scores (``"auto"`` only).

    Raises
    ------
    ConfigError
        ``n_threads`` is none of the above.
    """
    if n_threads is None:
        return contextlib.nullcontext()
    if n_threads == "auto":
        if n_rows is None or n_rows < PARALLEL_ROWS or available_cores() < 2:
            return contextlib.nullcontext()
        return threadpool_limits(limits=available_cores(), user_api="openmp")
    if isinstance(n_threads, str) or int(n_threads) != n_threads or n_threads < 1:
        raise ConfigError(
            f"n_threads={n_threads!r} should be a positive whole number, 'auto' or None."
        )
    return threadpool_limits(limits=int(n_threads), user_api="openmp")

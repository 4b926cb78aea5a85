"""Share a campaign's work between processes: forked workers read the engine copy-on-write.

:func:`fork_map` runs ``func(shared, *task)`` for each task. With more than
one job and where the platform can fork, the tasks go to a pool of forked
processes: ``shared`` (the engine, with its arrays) is not pickled, the
children see the parent's memory as it was at the fork; only the tasks and
the results travel. Elsewhere, or for one job, the tasks run in this process.
Results come back in task order either way, so the parallel path gives what
the serial one does.
"""

from __future__ import annotations

import multiprocessing
import warnings

_SHARED: dict = {}


def can_fork() -> bool:
    """Whether worker processes can be forked here."""
    return "fork" in multiprocessing.get_all_start_methods()


def fork_map(func, shared, tasks: list[tuple], n_jobs: int) -> list:
    """``[func(shared, *task) for task in tasks]``, over ``n_jobs`` forked processes.

    Parameters
    ----------
    func : callable
        A module-level function (the pool sends it by name).
    shared : object
        Read by every task, inherited by the workers rather than sent.
    tasks : list of tuple
    n_jobs : int
        Processes at most; 1 runs the tasks here.
    """
    n_jobs = min(int(n_jobs), len(tasks))
    if n_jobs <= 1 or not can_fork():
        return [func(shared, *task) for task in tasks]
    _SHARED["value"] = shared
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns on forking a process with threads (BLAS pools count); the
            # workers only compute with numpy and take none of the parent's locks.
            warnings.filterwarnings("ignore", message=".*use of fork\\(\\) may lead to deadlocks",
                                    category=DeprecationWarning)
            with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
                return pool.starmap(_call, [(func, task) for task in tasks], chunksize=1)
    finally:
        _SHARED.clear()


def _call(func, task):
    return func(_SHARED["value"], *task)

"""One pipeline step on a second thread, beside the steps that do not need its output.

The recommendations step reads only the lines and the items, and only the member
table, the report and the artifacts need what it makes; the member steps
(features, segments, churn and value windows, horizons, offer response, uplift)
need nothing from it. On the pandas engine the two chains are both CPU-bound and
mostly in NumPy, scikit-learn and implicit code that releases the GIL, so on two
cores they run side by side (bench/RESULTS.md, "The Complete Journey retrain on two
threads")::

    with SideStep(timer, "recommendations", fit, beside=True) as side:
        for name, step in main_steps:
            with timer.step(name):
                step()
            side.check()  # a failed side step stops the run here, not at the end

With ``beside=False`` the step runs at once, before the block (the order the
out-of-core engines keep: one step's transient memory at a time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from threadpoolctl import threadpool_limits

from models.recommenders import score_threads
from training.progress import StepTimer

logger = logging.getLogger(__name__)


class SideStep:
    """Run ``fit`` as the step ``name`` of ``timer``, on its own thread if ``beside``.

    The thread's exception is raised in the caller's thread by :meth:`check` or
    when the block ends; an exception of the block itself wins (the side step's is
    logged), after the thread has finished, so nothing of the run is still working
    when the caller cleans up. ``Ctrl-C`` does not wait for the thread.
    """

    def __init__(self, timer: StepTimer, name: str, fit: Callable[[], None], *, beside: bool):
        self.timer, self.name, self.fit, self.beside = timer, name, fit, beside
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._raised = False

    def __enter__(self) -> SideStep:
        if not self.beside:
            with self.timer.step(self.name):
                self.fit()
            return self
        self._thread = threading.Thread(target=self._run, name=f"step {self.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            # Thread pool limits of OpenMP apply per thread: this one needs its own; and it
            # runs beside the other steps, so its scoring starts no threads of its own.
            with threadpool_limits(1), score_threads(1), self.timer.step(self.name):
                self.fit()
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def check(self) -> None:
        """Raise the side step's exception now if it has failed."""
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._thread is None:
            return False
        if exc_type is KeyboardInterrupt:
            return False  # the daemon thread ends with the process
        self._thread.join()
        if exc_type is not None:
            if self._error is not None and self._error is not exc:
                logger.error("step %s failed too: %r", self.name, self._error)
            return False
        self.check()
        return False

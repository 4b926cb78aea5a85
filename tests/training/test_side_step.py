"""A step on a second thread beside the others (training/side_step.py) and the step timer
with overlapping steps."""

from __future__ import annotations

import threading
import time

import pytest

from training.progress import StepTimer
from training.side_step import SideStep


def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(range(1000))


def test_beside_the_step_runs_while_the_block_runs():
    timer, started, release = StepTimer(3), threading.Event(), threading.Event()

    def fit():
        started.set()
        assert release.wait(10), "the block never ran beside the side step"

    with SideStep(timer, "side", fit, beside=True):
        assert started.wait(10)
        with timer.step("main"):
            release.set()
    assert set(timer.seconds) == {"side", "main"}
    assert timer.overlapped == {"side", "main"}


def test_not_beside_the_step_runs_first_and_alone():
    timer, order = StepTimer(2), []
    with SideStep(timer, "side", lambda: order.append("side"), beside=False):
        order.append("block")
        with timer.step("main"):
            pass
    assert order == ["side", "block"] and timer.overlapped == set()


def test_a_failed_side_step_stops_the_block_at_the_next_check():
    timer, after = StepTimer(3), []

    def fit():
        raise ValueError("no items")

    with pytest.raises(ValueError, match="no items"):
        with SideStep(timer, "side", fit, beside=True) as side:
            time.sleep(0.05)
            side._thread.join()
            side.check()
            after.append("went on")
    assert after == []


def test_the_blocks_own_error_wins_after_the_side_step_has_finished(caplog):
    timer, finished = StepTimer(2), []

    def fit():
        time.sleep(0.2)
        finished.append(True)
        raise ValueError("side failed too")

    with pytest.raises(KeyError, match="main failed"):
        with SideStep(timer, "side", fit, beside=True):
            raise KeyError("main failed")
    assert finished == [True]  # joined before the error left the block
    assert "side failed too" in caplog.text


def test_overlapping_steps_count_their_own_threads_cpu_and_the_wall_is_not_their_sum():
    timer = StepTimer(2)
    with SideStep(timer, "side", lambda: _busy(0.3), beside=True):
        with timer.step("main"):
            time.sleep(0.3)  # waits: its own thread uses no CPU, the side step's does
    assert timer.cpu_seconds["main"] < 0.1 and timer.cpu_seconds["side"] >= 0.3
    assert timer.wall_seconds < timer.seconds["main"] + timer.seconds["side"]
    later = StepTimer(1)
    with later.step("alone"):
        _busy(0.1)
    assert later.overlapped == set() and later.cpu_seconds["alone"] >= 0.1


@pytest.mark.parametrize("beside", [True, False])
def test_a_side_steps_scoring_starts_no_threads_of_its_own(beside, score_pools):
    """Beside the other steps, the recommenders' chunk loops run on the step's own thread
    (both cores are busy already); run first and alone, they use the pool."""
    import models.recommenders.base as base

    pools = score_pools
    done = []

    def fit():
        base.for_row_chunks(10, base._CHUNK_CELLS // 2, lambda a, b: done.append((a, b)))

    with SideStep(StepTimer(2), "side", fit, beside=beside):
        pass
    bounds = sorted(done)  # every row once, in chunks (their size depends on the threads)
    assert bounds[0][0] == 0 and bounds[-1][1] == 10
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert len(pools) == (0 if beside else 1)
    with base.score_threads(1):
        base.for_row_chunks(4, base._CHUNK_CELLS // 2, lambda a, b: None)
    assert len(pools) == (0 if beside else 1)

"""The step timer's CPU seconds: the process's user + system time over each step."""

from __future__ import annotations

import time

from training.progress import StepTimer, process_cpu_seconds


def test_step_timer_counts_cpu_not_waiting():
    timer = StepTimer(2)
    with timer.step("busy"):
        end = process_cpu_seconds() + 0.2
        while process_cpu_seconds() < end:
            sum(range(1000))
    with timer.step("asleep"):
        time.sleep(0.2)
    assert timer.cpu_seconds["busy"] >= 0.2
    assert timer.cpu_seconds["asleep"] < 0.1 <= timer.seconds["asleep"]
    assert set(timer.cpu_seconds) == set(timer.seconds) == {"busy", "asleep"}

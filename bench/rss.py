"""The process's resident memory for the bench scripts: now, and its peak while sampled."""

from __future__ import annotations

import threading
import time


def rss_mib() -> float:
    """The resident set size of this process now, in MiB (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


class PeakRSS(threading.Thread):
    """The largest resident set size seen, sampled every 10 ms once started."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = rss_mib(), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_mib())
            time.sleep(0.01)

    def reset(self) -> float:
        """The peak since the last reset; sampling goes on from now."""
        peak, self.peak = max(self.peak, rss_mib()), rss_mib()
        return peak

    def stop(self) -> float:
        """Stop sampling; the peak seen."""
        self.running = False
        self.join()
        return max(self.peak, rss_mib())

"""Rendered offer texts kept per member, template, channel and day (issue 14).

Rendering an offer's title, message and reason (placeholders, formatting,
reason codes) is half of a decision's time, yet for one member, template and
channel it changes only with the offer's facts: the expiry day and the scored
amount, share, category and item. :class:`RenderCache` keeps the rendered
parts under exactly those inputs, so a repeat asks for the same texts and
gets them from the cache; anything that differs is a new key. Per engine
(one model version and catalog), bounded: when full it starts again empty.

Imports: nothing of the project.
"""

from __future__ import annotations

from typing import Any


class RenderCache:
    """``key -> (title, message, reason, reason_codes)``; at most ``size`` entries."""

    def __init__(self, size: int = 20_000):
        self.size = size
        self._entries: dict[tuple, tuple[str, str, str, tuple[str, ...]]] = {}
        self.hits = self.misses = 0

    def get(self, key: tuple) -> tuple[str, str, str, tuple[str, ...]] | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: tuple, title: str, message: str, why: Any, codes: list) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # a bounded memory, and no bookkeeping on hits
        self._entries[key] = (title, message, why, tuple(codes))

    def __len__(self) -> int:
        return len(self._entries)

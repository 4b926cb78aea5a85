"""The recommenders' tuning on the Spark engine: the ALS grid searched with ``implicit``,
the chosen point validated with Spark MLlib.

An MLlib ALS fit solves every member's and item's normal equations exactly
(Cholesky), ``implicit`` a few conjugate-gradient steps: on Complete Journey one
MLlib fit (64 factors, 15 sweeps) costs minutes of CPU on ``local[2]``,
``implicit`` seconds. The validation split's confidence matrix is a member
sample (``recommend.validation_members``) that the driver holds anyway, so
:func:`tune_on_spark` searches the ALS candidates there with ``implicit``
(first pass), then runs the tuning again with the chosen ALS parameters fitted
by MLlib and the popularity and buy-again choices fixed (second pass): the
blend weights are searched afresh with MLlib's factors, and the validation
metrics the run reports are those of the MLlib model it ships. The final fit
(:func:`models.recommenders.tuning.fit_tuned`) is MLlib's as before. Two MLlib
fits instead of one per ALS candidate plus the final one.

Both passes read the interactions built once on the engine
(:class:`ReusedLines`): the second pass costs no Spark query.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from models.recommenders.lines import Lines, as_lines
from models.recommenders.tuning import DEFAULT_GRID, TuningResult, tune_recommenders

logger = logging.getLogger(__name__)


class ReusedLines(Lines):
    """``lines`` whose interactions, member ids and member samples are computed once per
    argument and handed out again (the two tuning passes read the same split)."""

    def __init__(self, lines: Lines):
        self.lines = lines
        self._interactions: dict = {}
        self._members = None
        self._samples: dict = {}

    def interactions(self, as_of, half_lives=()):
        # A later call asking for other half-lives gets the same object: its decayed
        # counts of a half-life not computed yet are computed when asked for.
        key = pd.Timestamp(as_of) if as_of is not None else None
        if key not in self._interactions:
            self._interactions[key] = self.lines.interactions(as_of, half_lives)
        return self._interactions[key]

    def window_pairs(self, start, end):
        return self.lines.window_pairs(start, end)

    def member_ids(self) -> np.ndarray:
        if self._members is None:
            self._members = self.lines.member_ids()
        return self._members.copy()

    def of_members(self, member_ids) -> ReusedLines:
        key = tuple(np.asarray(member_ids, dtype=str).tolist())
        if key not in self._samples:
            self._samples[key] = ReusedLines(self.lines.of_members(member_ids))
        return self._samples[key]

    def without_items(self, item_ids) -> ReusedLines:
        return ReusedLines(self.lines.without_items(item_ids))


def tune_on_spark(transactions, as_of, *, grid: dict, **options) -> TuningResult:
    """:func:`~models.recommenders.tuning.tune_recommenders` for a Spark run.

    With more than one ALS candidate in ``grid["als"]``, a first pass picks one
    with ``solver="implicit"``; the result is the second pass, where that
    candidate is fitted with ``solver="spark"`` (and the popularity and
    buy-again half-lives are the first pass's). With one candidate (untuned
    runs, reused parameters) there is one pass, on MLlib. ``seconds`` covers both.
    """
    candidates = grid.get("als", DEFAULT_GRID["als"])
    lines = ReusedLines(as_lines(transactions))
    seconds = 0.0
    if len(candidates) > 1:
        search = {**grid, "als": [{**p, "solver": "implicit"} for p in candidates]}
        first = tune_recommenders(lines, as_of, grid=search, **options)
        chosen = first.params
        logger.info("ALS candidates searched with implicit in %.1fs: %s; validating it with "
                    "Spark MLlib", first.seconds, chosen["als"])
        seconds, first = first.seconds, None
        grid = {**grid, "popularity": [chosen["popularity"]],
                "buy_again": [chosen["buy_again"]],
                "als": [{**chosen["als"], "solver": "spark"}]}
    result = tune_recommenders(lines, as_of, grid=grid, **options)
    result.seconds += seconds
    return result


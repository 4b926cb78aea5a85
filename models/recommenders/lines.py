"""Where the recommenders' purchase lines live: a pandas frame or a relational engine.

The tuning (:mod:`.tuning`) and the holdout truth (:mod:`.metrics`) ask the
lines a few questions, answered by a :class:`Lines` object:

- :meth:`Lines.interactions`: the interactions before a cutoff;
- :meth:`Lines.window_pairs`: the distinct (member, item) pairs bought in a window;
- :meth:`Lines.member_ids` and :meth:`Lines.of_members`: the members, and the
  lines of some of them (the validation sample);
- :meth:`Lines.without_items`: the lines of the other items (excluded categories).

:class:`FrameLines` answers them from canonical transactions in pandas (the
oracle); :class:`~models.recommenders.engine_interactions.EngineLines` from an
Ibis table on DuckDB or Spark. :func:`as_lines` wraps a frame, so every public
function keeps taking a DataFrame as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.code_groups import positions
from features.errors import DataError

from .interactions import Interactions, _sorted_codes, build_interactions

_COLUMNS = ["member_id", "item_id", "timestamp"]


class Lines:
    """Canonical purchase lines (``member_id``, ``item_id``, time) the recommenders read."""

    def interactions(self, as_of, half_lives=()) -> Interactions:
        """The interactions of the lines before ``as_of`` (see :func:`build_interactions`).

        ``half_lives``: the decayed counts the caller will ask for, a hint that an
        engine may compute them with the pairs (one scan of the lines).
        """
        raise NotImplementedError

    def window_pairs(self, start: pd.Timestamp, end: pd.Timestamp):
        """Distinct ``(member_ids, item_ids)`` (two ndarrays of str) bought in ``[start, end)``."""
        raise NotImplementedError

    def member_ids(self) -> np.ndarray:
        """The sorted distinct member ids of every line (ndarray of str)."""
        raise NotImplementedError

    def of_members(self, member_ids) -> Lines:
        """The lines of ``member_ids`` only."""
        raise NotImplementedError

    def without_items(self, item_ids) -> Lines:
        """The lines of items not in ``item_ids``."""
        raise NotImplementedError


class FrameLines(Lines):
    """Canonical transactions held in a pandas frame (``member_id``, ``item_id``, ``timestamp``)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def interactions(self, as_of, half_lives=()) -> Interactions:
        return build_interactions(self.frame, as_of)  # decayed counts are cheap in memory

    def window_pairs(self, start, end):
        tx = self.frame
        ts = tx["timestamp"]
        window = tx.loc[((ts >= start) & (ts < end)).to_numpy(), ["member_id", "item_id"]]
        member = np.asarray(window["member_id"].astype(str).to_numpy(), dtype=str)
        item = np.asarray(window["item_id"].astype(str).to_numpy(), dtype=str)
        pairs = pd.DataFrame({"m": member, "i": item}).drop_duplicates()
        return (np.asarray(pairs["m"].to_numpy(), dtype=str),
                np.asarray(pairs["i"].to_numpy(), dtype=str))

    def member_ids(self) -> np.ndarray:
        if self.frame.empty:
            return np.array([], dtype=str)
        return _sorted_codes(self.frame["member_id"])[1]

    def of_members(self, member_ids) -> FrameLines:
        keep = positions(self.frame["member_id"], pd.Index(np.asarray(member_ids, dtype=str)))
        return FrameLines(self.frame.loc[keep >= 0, _COLUMNS])

    def without_items(self, item_ids) -> FrameLines:
        gone = set(np.asarray(item_ids, dtype=str))
        item = self.frame["item_id"]
        if isinstance(item.dtype, pd.CategoricalDtype):  # per category, not per line: fast
            codes = item.cat.codes.to_numpy()
            hit_cat = np.append(item.cat.categories.astype(str).isin(gone), False)
            drop = hit_cat[codes]  # code -1 (missing) picks the appended False
        else:
            drop = item.astype(str).isin(gone).to_numpy()
        return FrameLines(self.frame.loc[~drop])


def as_lines(transactions) -> Lines:
    """``transactions`` as :class:`Lines`: a :class:`Lines` as it is, a frame wrapped.

    Raises
    ------
    DataError
        For anything else.
    """
    if isinstance(transactions, Lines):
        return transactions
    if isinstance(transactions, pd.DataFrame):
        return FrameLines(transactions)
    raise DataError(
        f"transactions should be a DataFrame of canonical transactions or Lines, got "
        f"{type(transactions).__name__}."
    )

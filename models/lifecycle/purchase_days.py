"""Each member's spend per purchase day, grouped once and cut at any midnight.

:func:`models.lifecycle.purchase_summary` groups every line into purchase days
for one cut-off. The step "horizons" asks for the summary at the version's
``as_of`` and at the validation cutoff of every horizon (5 cut-offs by default):
:class:`PurchaseDays` groups the lines once and gives the same summary at each
(``as_of - h`` days of a midnight ``as_of`` is a midnight: whole days before it
are exactly the lines before it). On the Complete Journey one grouping costs
~0.6 s; a cut of the grouped days ~20 ms (bench/RESULTS.md, "The Complete Journey
retrain on two threads").

Imports: :mod:`features` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError


@dataclass(frozen=True)
class PurchaseDays:
    """Spend per (member, purchase day), sorted by member then day.

    Attributes
    ----------
    member_ids : Index of str
        The members, sorted; ``codes`` index into it.
    codes : ndarray of int64
        Each row's member.
    days : ndarray of datetime64[ns]
        Each row's day (midnight).
    amounts : ndarray of float64
        Each row's spend (the sum of the member's lines that day).
    """

    member_ids: pd.Index
    codes: np.ndarray
    days: np.ndarray
    amounts: np.ndarray

    @classmethod
    def of(cls, transactions: pd.DataFrame) -> PurchaseDays:
        """Group canonical lines (``member_id``, ``timestamp``, ``amount``) into purchase days."""
        for col in ("member_id", "timestamp", "amount"):
            if col not in transactions:
                raise DataError(f"transactions have no '{col}' column.")
        days = pd.DataFrame({
            "member_id": transactions["member_id"].astype(str).to_numpy(),
            "day": transactions["timestamp"].dt.normalize().to_numpy(),
            "amount": transactions["amount"].to_numpy(dtype=np.float64),
        }).groupby(["member_id", "day"], sort=True, observed=True)["amount"].sum().reset_index()
        codes, ids = pd.factorize(days["member_id"])  # sorted rows: codes in sorted id order
        return cls(pd.Index(ids.astype(str), dtype="str", name="member_id"),
                   codes.astype(np.int64), days["day"].to_numpy(dtype="datetime64[ns]"),
                   days["amount"].to_numpy(dtype=np.float64))

    def of_members(self, member_ids) -> PurchaseDays:
        """The rows of ``member_ids`` only (ids not here are ignored)."""
        keep_ids = self.member_ids.isin(pd.Index(member_ids).astype(str))
        keep = keep_ids[self.codes]
        new_code = np.cumsum(keep_ids) - 1
        return PurchaseDays(self.member_ids[keep_ids], new_code[self.codes[keep]],
                            self.days[keep], self.amounts[keep])

    def summary(self, as_of) -> pd.DataFrame:
        """:func:`models.lifecycle.purchase_summary` of the lines before ``as_of`` (a midnight).

        Raises
        ------
        ConfigError
            ``as_of`` is not a midnight (whole days cannot say which lines of
            that day came before it: use the lines).
        DataError
            No purchase before ``as_of``.
        """
        as_of = pd.Timestamp(as_of)
        if as_of != as_of.normalize():
            raise ConfigError(f"purchase days are cut at midnights; {as_of} is not one: "
                              "summarise the lines instead.")
        keep = self.days < as_of.to_datetime64()
        if not keep.any():
            raise DataError(f"no transactions before as_of={as_of}.")
        return self._summarise(keep, as_of)

    def _summarise(self, keep: np.ndarray | slice, as_of: pd.Timestamp) -> pd.DataFrame:
        """The summary of the rows ``keep`` (non-empty), ``T`` counted to ``as_of``'s day."""
        codes, days, amounts = self.codes[keep], self.days[keep], self.amounts[keep]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        counts = np.diff(np.r_[starts, len(codes)])
        first, last = days[starts], days[starts + counts - 1]
        repeat = (days > np.repeat(first, counts)) & (amounts > 0)
        # The mean by pandas' own grouped mean, as purchase_summary takes it: the same sums.
        monetary = pd.Series(np.where(repeat, amounts, np.nan)).groupby(codes, sort=True).mean()
        one_day = np.timedelta64(1, "D")
        out = pd.DataFrame({
            "frequency": (counts - 1).astype(np.int64),
            "recency": ((last - first) // one_day).astype(np.float64),
            "T": ((as_of.normalize().to_datetime64() - first) // one_day)
            .astype(np.float64).clip(min=0.0),
            "monetary": monetary.to_numpy(),
        }, index=self.member_ids[codes[starts]])
        return out


def summarise_lines(transactions: pd.DataFrame, as_of) -> pd.DataFrame:
    """:func:`models.lifecycle.purchase_summary` (documented there): the lines before
    ``as_of`` grouped into purchase days, summarised."""
    as_of = pd.Timestamp(as_of)
    for col in ("member_id", "timestamp", "amount"):
        if col not in transactions:
            raise DataError(f"transactions have no '{col}' column.")
    before = transactions[transactions["timestamp"] < as_of]
    if before.empty:
        raise DataError(f"no transactions before as_of={as_of}.")
    return PurchaseDays.of(before)._summarise(slice(None), as_of)

"""The canonical in-memory form of a data directory.

:func:`features.loading.load_dataset` turns a data directory into a
:class:`Dataset`; every other part of the project works on this form only.

Canonical dtypes
----------------
transactions
    ``member_id``, ``item_id``: ``category`` whose categories are ``str``;
    ``timestamp``: ``datetime64[ns]`` (naive, UTC); ``quantity``, ``amount``,
    ``discount``: ``float64`` (``discount`` is 0.0 when the file has none);
    ``basket_id``: ``int64`` (the file's integer basket ids, codes of other
    basket ids, or without them, codes of a member's purchases at one
    timestamp); optional ``store_id``, ``channel``: ``category`` of ``str``.
    Row order is not meaningful.
items
    ``item_id``, ``category``, ``department`` (the category when absent):
    ``str``; optional ``brand``, ``name``: ``str``; ``price``: ``float64``.
members
    Always present: one row per member in the members file plus every member
    seen in transactions. ``member_id``: ``str``; ``joined_at``, ``birthday``:
    ``datetime64[ns]`` (NaT when unknown); ``email_opt_in``, ``sms_opt_in``,
    ``push_opt_in``: nullable ``boolean``; ``points_balance``, ``referrals``:
    ``float64``; ``tier``, ``plan``, ``plan_status``: ``str`` (NA when unknown).
offer_events
    ``member_id``, ``offer_id``, ``event`` (one of
    :data:`features.contract.EVENT_TYPES`) and optional ``channel``,
    ``campaign_id``, ``event_id``: ``category`` of ``str`` (cheap at millions
    of rows); ``timestamp``: ``datetime64[ns]``. An empty frame with the
    required columns when the directory has no offer events.
offers
    None when the directory has no offers table. Else one row per offer:
    ``offer_id``, ``type``: ``str``; ``depth``, ``valid_days``: ``float64``
    (NaN when unknown); ``categories``: tuple of ``str`` (the ``category``
    column split at ``|``; empty: the whole basket). The offer spec form of
    :func:`models.offer_response.offer_specs_from_events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class CleaningReport:
    """What the cleaning policy dropped or fixed, as ``{rule: count}`` per table."""

    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    fixed: dict[str, dict[str, int]] = field(default_factory=dict)
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)

    def drop(self, table: str, rule: str, count: int) -> None:
        if count:
            self.dropped.setdefault(table, {})[rule] = int(count)

    def fix(self, table: str, rule: str, count: int) -> None:
        if count:
            self.fixed.setdefault(table, {})[rule] = int(count)

    def lines(self, changed_only: bool = False) -> list[str]:
        """Human-readable summary, one line per table (``changed_only``: the tables the policy
        dropped or fixed rows of)."""
        out = []
        for table, n_in in self.rows_in.items():
            if changed_only and not (self.dropped.get(table) or self.fixed.get(table)):
                continue
            parts = [f"{rule}: {n}" for rule, n in self.dropped.get(table, {}).items()]
            fixes = [f"{rule}: {n}" for rule, n in self.fixed.get(table, {}).items()]
            text = f"{table}: {n_in} rows read, {self.rows_out.get(table, n_in)} kept"
            if parts:
                text += "; dropped " + ", ".join(parts)
            if fixes:
                text += "; fixed " + ", ".join(fixes)
            out.append(text)
        return out

    def to_dict(self) -> dict:
        return {
            "rows_in": dict(self.rows_in),
            "rows_out": dict(self.rows_out),
            "dropped": {k: dict(v) for k, v in self.dropped.items()},
            "fixed": {k: dict(v) for k, v in self.fixed.items()},
        }


@dataclass
class Dataset:
    """A validated, cleaned data directory in canonical form (see module docstring)."""

    transactions: pd.DataFrame
    items: pd.DataFrame
    members: pd.DataFrame
    offer_events: pd.DataFrame
    cleaning: CleaningReport = field(default_factory=CleaningReport)
    source: str = ""
    offers: pd.DataFrame | None = None

    @property
    def last_timestamp(self) -> pd.Timestamp:
        return self.transactions["timestamp"].max()

    def row_counts(self) -> dict[str, int]:
        return {
            "transactions": len(self.transactions),
            "items": len(self.items),
            "members": len(self.members),
            "offer_events": len(self.offer_events),
            "offers": 0 if self.offers is None else len(self.offers),
        }

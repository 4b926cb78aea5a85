"""The cleaning policy: what happens to dirty but valid rows.

Applied identically everywhere data is loaded (it runs inside
:func:`features.loading.load_dataset`, the only loader). Documented in
``docs/data.md``; every rule is counted in the :class:`CleaningReport`.

transactions
    - ``returns``: lines with quantity < 0 or amount < 0 (returns, refunds and
      cancellations, however the export signs them: negative quantity and
      amount, a negative amount only, or a refund larger than the purchase)
      are dropped, not netted: we learn from what members buy, and the purchase
      itself is already a row. A member with only returns has no purchase left.
    - ``zero_quantity``: quantity == 0 is dropped (voids, price checks).
    - ``zero_amount``: amount == 0 is dropped (nothing was paid: voids, staff
      test scans, fully free items).
    - ``future_timestamp``: timestamps after the load time (``now``) are dropped.
    - ``quantity_reset`` (fixed): quantity above ``max_line_quantity`` (default
      100) is not a count of units (fuel in gallons, weights in grams); the line
      is kept and its quantity set to 1.
    - ``discount_sign`` (fixed): negative discounts (some exports sign them) are
      made positive.
offer_events
    - ``future_timestamp``: dropped as above.
    - ``duplicate_event_id``: a repeated ``event_id`` is a retried delivery; the
      first is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.dataset import CleaningReport


@dataclass(frozen=True)
class CleaningPolicy:
    """Parameters of the cleaning rules (see the module docstring)."""

    max_line_quantity: float = 100.0


def clean_transactions(
    tx: pd.DataFrame, now: pd.Timestamp, policy: CleaningPolicy, report: CleaningReport
) -> pd.DataFrame:
    """Apply the transaction rules; ``tx`` must be parsed and valid."""
    q, amount = tx["quantity"], tx["amount"]
    rules = {
        "returns": (q < 0) | (amount < 0),
        "zero_quantity": q == 0,
        "zero_amount": (amount == 0) & (q > 0),
        "future_timestamp": (tx["timestamp"] > now) & (q > 0) & (amount != 0),
    }
    drop = pd.Series(False, index=tx.index)
    for rule, mask in rules.items():
        report.drop("transactions", rule, int((mask & ~drop).sum()))
        drop |= mask
    if drop.any():
        tx = tx.loc[~drop]
    huge = tx["quantity"] > policy.max_line_quantity
    if huge.any():
        report.fix("transactions", "quantity_reset", int(huge.sum()))
        tx = tx.assign(quantity=tx["quantity"].mask(huge, 1.0))
    if "discount" in tx:
        negative = tx["discount"] < 0
        if negative.any():
            report.fix("transactions", "discount_sign", int(negative.sum()))
            tx = tx.assign(discount=tx["discount"].abs())
    return tx


def clean_offer_events(
    events: pd.DataFrame, now: pd.Timestamp, report: CleaningReport
) -> pd.DataFrame:
    """Apply the offer-event rules; ``events`` must be parsed and valid."""
    future = events["timestamp"] > now
    report.drop("offer_events", "future_timestamp", int(future.sum()))
    events = events.loc[~future]
    if "event_id" in events:
        dup = events["event_id"].notna() & events["event_id"].duplicated()
        report.drop("offer_events", "duplicate_event_id", int(dup.sum()))
        events = events.loc[~dup]
    return events

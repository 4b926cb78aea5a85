"""A tiny program with known members, for the offer engine's tests (plain data).

The ``tiny_bundle`` and ``catalog`` fixtures (``conftest.py``) build a model
bundle and catalogs from it.

Items: two coffees, two breads, two wines (wine is excluded from personalised
offers by the test catalogs). Members (as of 2026-01-01):

- ``loyal``: buys coffee weekly, gold-level spend, opted in everywhere, plus plan active,
  birthday in 3 days, low churn risk, high CLV;
- ``risky_rich``: high churn risk, high CLV, no recorded tier, opted out of email;
- ``risky_poor``: high churn risk, tiny CLV, bread buyer;
- ``newbie``: one basket, unknown birthday and plan, consent unknown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2026-01-01")
ITEMS = pd.DataFrame({
    "item_id": ["C1", "C2", "B1", "B2", "W1", "W2"],
    "category": ["coffee", "coffee", "bread", "bread", "wine", "wine"],
    "name": ["Espresso beans", "Filter coffee", "Sourdough", "Rye loaf", "Red wine", "White"],
    "price": [8.0, 6.0, 3.0, 2.5, 12.0, 9.0],
})


def transactions() -> pd.DataFrame:
    rows = []
    for week in range(20):  # loyal: coffee weekly, bread sometimes
        day = AS_OF - pd.Timedelta(days=7 * week + 2)
        rows.append(("loyal", day, "C1"))
        if week % 3 == 0:
            rows.append(("loyal", day, "B1"))
    for week in range(10):  # risky_rich: wine and coffee, stopped 60 days ago
        day = AS_OF - pd.Timedelta(days=60 + 7 * week)
        rows += [("risky_rich", day, "W1"), ("risky_rich", day, "C2")]
    for week in range(4):
        rows.append(("risky_poor", AS_OF - pd.Timedelta(days=90 + 7 * week), "B2"))
    rows.append(("newbie", AS_OF - pd.Timedelta(days=3), "B1"))
    return pd.DataFrame(rows, columns=["member_id", "timestamp", "item_id"])


MEMBERS = pd.DataFrame({
    "member_id": ["loyal", "risky_rich", "risky_poor", "newbie"],
    "segment": ["Champions", "Can't lose", "Lost", "New"],
    "rfm_score": ["555", "155", "111", "511"],
    "r_score": [5, 1, 1, 5], "f_score": [5, 5, 1, 1], "m_score": [5, 5, 1, 1],
    "cluster": [0, 1, 1, 0],
    "cluster_label": ["weekly coffee", "lapsed", "lapsed", "weekly coffee"],
    "recency_days": [2.0, 60.0, 90.0, 3.0],
    "frequency": [20.0, 10.0, 4.0, 1.0],
    "monetary_total": [1150.0, 3000.0, 40.0, 5.0],
    "monetary_mean_basket": [57.5, 300.0, 10.0, 5.0],
    "tenure_days": [350.0, 800.0, 200.0, 3.0],
    "interpurchase_mean_days": [7.0, 7.0, 7.0, np.nan],
    "overdue_ratio": [0.3, 8.5, 12.8, np.nan],
    "top_category": ["coffee", "wine", "bread", "bread"],
    "tier": [None, None, None, None],
    "points_balance": [900.0, 100.0, 20.0, np.nan],
    "plan": ["plus", None, None, None],
    "plan_status": ["active", None, "cancelled", None],
    "email_opt_in": [True, False, True, None],
    "sms_opt_in": [True, True, False, None],
    "push_opt_in": [True, True, True, None],
    "days_to_next_birthday": [3.0, 200.0, 100.0, np.nan],
    "referrals": [1.0, 0.0, 0.0, np.nan],
    "churn_risk": [0.05, 0.8, 0.85, 0.3],
    "expected_spend": [230.0, 60.0, 2.0, 5.0],
    "clv": [3000.0, 2000.0, 20.0, 60.0],
    "p_redeem_base": [0.10, 0.05, 0.05, np.nan],
    "churn_reason_codes": [[], ["RECENCY_HIGH"], ["RECENCY_HIGH", "LOW_FREQUENCY"], []],
    "churn_reasons": [[], ["no purchase for 60 days"],
                      ["no purchase for 90 days", "few visits"], []],
    "top_categories": [["coffee", "bread"], ["wine", "coffee"], ["bread"], ["bread"]],
})


def offer(offer_id: str, offer_type: str = "personalised_discount", **fields) -> dict:
    """An offer template with defaults that make it eligible for everyone known."""
    base = {"id": offer_id, "type": offer_type, "title": "t", "message": "m",
            "value": {"kind": "percent_off", "amount": 10}}
    base.update(fields)
    return base

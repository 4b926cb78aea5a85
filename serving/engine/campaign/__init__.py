"""Campaigns: offers for many members at once within a budget (``offers campaign``).

- :func:`allocate_campaign` scores the audience with the engine, allocates
  by expected value per unit of cost under the budget and every cap
  (:mod:`.allocation`), holds out the control group and renders the offers
  per template (:mod:`.render`), on forked workers at scale (:mod:`.parallel`).

Imports: :mod:`features`, :mod:`models` and :mod:`serving.engine`.
"""

from serving.engine.campaign.campaign import OFFER_COLUMNS, CampaignResult, allocate_campaign

__all__ = ["OFFER_COLUMNS", "CampaignResult", "allocate_campaign"]

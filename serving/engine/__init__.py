"""The offer engine: plain Python (no Flask) shared by the server and the command line.

- :func:`load_bundle` loads a verified artifact version into a :class:`ModelBundle`;
- :func:`load_catalog` reads and validates an offer catalog (docs/catalog.md);
- :class:`OfferEngine` decides offers for one member (:meth:`OfferEngine.decide`);
- :func:`allocate_campaign` allocates offers to many members under a budget;
- :class:`OfferHistory` is what the engine needs from an event store,
  :class:`InMemoryHistory` an implementation over an ``offer_events`` table.

Imports: :mod:`features`, :mod:`models` and :mod:`training.artifacts`; never Flask
nor the rest of :mod:`serving`.
"""

from serving.engine.bundle import ModelBundle, load_bundle
from serving.engine.campaign import CampaignResult, allocate_campaign
from serving.engine.catalog import DEFAULT_CATALOG, load_catalog, parse_catalog
from serving.engine.catalog.schema import CHANNELS, OFFER_TYPES, Catalog, OfferTemplate
from serving.engine.control import control_score, in_control
from serving.engine.engine import Decision, EngineConfig, OfferEngine
from serving.engine.history import InMemoryHistory, OfferEvent, OfferHistory

__all__ = [
    "CHANNELS", "DEFAULT_CATALOG", "OFFER_TYPES", "CampaignResult", "Catalog", "Decision",
    "EngineConfig", "InMemoryHistory", "ModelBundle", "OfferEngine", "OfferEvent",
    "OfferHistory", "OfferTemplate", "allocate_campaign", "control_score", "in_control",
    "load_bundle", "load_catalog", "parse_catalog",
]

"""Offer catalogs: the templates an engine may offer, their rules and the tier ladder.

- :mod:`.schema`: the typed catalog (:class:`Catalog`, :class:`OfferTemplate`,
  tiers, targets, channels and offer types);
- :mod:`.fields`: the placeholders a template's message may use;
- :mod:`.loading`: reading and validating a YAML/JSON catalog
  (:func:`load_catalog`; the shipped ``default_catalog.yaml``). docs/catalog.md
  documents the format.

Imports: :mod:`features` only (and its own modules).
"""

from serving.engine.catalog.loading import DEFAULT_CATALOG, load_catalog, parse_catalog
from serving.engine.catalog.schema import CHANNELS, OFFER_TYPES, Catalog, OfferTemplate

__all__ = ["CHANNELS", "DEFAULT_CATALOG", "OFFER_TYPES", "Catalog", "OfferTemplate",
           "load_catalog", "parse_catalog"]

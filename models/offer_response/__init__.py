"""Offer response: P(redeem | member, offer) learned from past sends and redemptions.

- :func:`fit_offer_response` fits an :class:`OfferResponseModel` on labelled
  sends (:mod:`.rows`), with member features at each send day, offer features
  (:mod:`.specs`) and the member's affinity to the offer (:mod:`.affinity`),
  validated on the later sends (:mod:`.evaluation`); with no history it
  returns the documented priors per offer type (:class:`OfferResponsePrior`);
  :func:`later_sends_calibration` (:mod:`.calibration`) measures the Brier
  score and reliability of its P(redeem) on later sends, next to the old heuristic;
- :mod:`.engine_affinity`: the affinity with the lines on DuckDB or Spark (Ibis;
  import it from its module, so that this package does not load Ibis).

Imports: :mod:`features` and :mod:`models` only.
"""

from models.offer_response.affinity import AFFINITY_FEATURES, OfferAffinity, compute_affinity
from models.offer_response.calibration import ResponseCalibration, later_sends_calibration
from models.offer_response.model import OfferResponseModel, fit_offer_response
from models.offer_response.prior import OfferResponsePrior
from models.offer_response.specs import offer_specs_from_events, validate_offer_specs

__all__ = [
    "AFFINITY_FEATURES", "OfferAffinity", "OfferResponseModel", "OfferResponsePrior",
    "ResponseCalibration", "compute_affinity", "fit_offer_response", "later_sends_calibration",
    "offer_specs_from_events", "validate_offer_specs",
]

"""P(redeem | member, offer) with no history: documented priors per offer type.

Used by :func:`models.offer_response.model.fit_offer_response` when a program has
no offer events yet, or too few to learn from.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.errors import ConfigError, NotFittedError
from models.offer_response.affinity import AFFINITY_FEATURES
from models.offer_response.inputs import resolve_affinity
from models.offer_response.specs import validate_offer_specs

#: Redemption probability per offer type when there is no history.
#: ASSUMPTIONS, not measurements: round figures chosen for this project (the
#: ordering, birthday > free item > percent discount > win-back > points
#: multiplier > tier perk > referral, is the claim; the levels are guesses in
#: the single-digit-percent range typical of targeted retail offers; the
#: Complete Journey campaigns, for scale, had 2-19% of households redeeming).
#: ``cashback`` and ``seasonal`` were added by analogy. Replace them with a
#: fitted :class:`~models.offer_response.model.OfferResponseModel` as soon as offer
#: events accumulate, or override them with ``OfferResponsePrior(priors=...)``.
DEFAULT_PRIORS: dict[str, float] = {
    "percent_discount": 0.08,
    "points_multiplier": 0.05,
    "free_item": 0.10,
    "tier_perk": 0.04,
    "referral": 0.02,
    "birthday": 0.15,
    "win_back": 0.06,
    "cashback": 0.06,
    "seasonal": 0.07,
}
#: Prior of a type not in the priors (after aliases).
DEFAULT_PRIOR = 0.05
#: Free-text spellings of offer types, normalised (lower case, ``_`` separated).
TYPE_ALIASES: dict[str, str] = {
    "percent_off": "percent_discount", "discount": "percent_discount",
    "coupon": "percent_discount", "amount_off": "percent_discount",
    "points": "points_multiplier", "bonus_points": "points_multiplier",
    "double_points": "points_multiplier", "points_bonus": "points_multiplier",
    "free_product": "free_item", "free_gift": "free_item", "gift": "free_item",
    "vip": "tier_perk", "vip_perk": "tier_perk", "tier": "tier_perk",
    "tier_nudge": "tier_perk", "early_access": "tier_perk", "free_shipping": "tier_perk",
    "refer_a_friend": "referral", "referral_reward": "referral",
    "anniversary": "birthday", "birthday_offer": "birthday",
    "winback": "win_back", "churn_prevention": "win_back", "retention": "win_back",
    "cash_back": "cashback", "holiday": "seasonal", "limited_time": "seasonal",
}  # fmt: skip


def normalise_type(offer_type: str) -> str:
    """``"Percent Off"`` -> ``"percent_off"``: lower case, runs of other characters to ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", str(offer_type).lower()).strip("_")


class OfferResponsePrior:
    """P(redeem | member, offer) with no history: a prior per offer type, scaled by affinity.

    ``p = prior[type] * (0.5 + 0.5 * lift)`` clipped to ``[0, max_proba]``,
    where ``lift`` is the member's spend share in the offer's categories
    divided by everyone's (1 for an average member, so the average member gets
    the prior; a member who never buys the categories gets half of it). An
    unknown lift (no purchases yet) counts as 1. The priors themselves are the
    documented assumptions of :data:`DEFAULT_PRIORS`; offer depth is not used.

    Parameters
    ----------
    priors : dict of str to float, optional
        Overrides or additions to :data:`DEFAULT_PRIORS` (keys are normalised
        types, see :func:`normalise_type`; aliases in :data:`TYPE_ALIASES` apply).
    default_prior : float
        For types in neither.
    max_proba : float
        Upper clip.

    Attributes
    ----------
    priors_ : dict of str to float
        The priors in use.
    """

    def __init__(self, priors: dict[str, float] | None = None,
                 default_prior: float = DEFAULT_PRIOR, max_proba: float = 0.95):
        self.priors = priors
        self.default_prior = default_prior
        self.max_proba = max_proba

    def fit(self, rows: pd.DataFrame | None = None) -> OfferResponsePrior:
        """Validate the priors; ``rows`` is accepted for a common interface and ignored."""
        given = {normalise_type(k): v for k, v in (self.priors or {}).items()}
        priors = {**DEFAULT_PRIORS, **given}
        for name, value in [*priors.items(), ("default_prior", self.default_prior),
                            ("max_proba", self.max_proba)]:
            if not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ConfigError(f"prior {name}={value!r} should be a probability in [0, 1].")
        self.priors_ = priors
        self.default_prior_ = float(self.default_prior)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "priors_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "(no data needed) before using it."
            )

    def prior_for(self, offer_type: str) -> float:
        """The prior of one free-text offer type."""
        self._check_fitted()
        key = normalise_type(offer_type)
        key = key if key in self.priors_ else TYPE_ALIASES.get(key, key)
        return self.priors_.get(key, self.default_prior_)

    def _scale(self, prior: np.ndarray, lift: np.ndarray) -> np.ndarray:
        lift = np.where(np.isnan(lift), 1.0, lift)
        return np.clip(prior * (0.5 + 0.5 * lift), 0.0, self.max_proba)

    def predict_proba(self, member_features: pd.DataFrame, offers: pd.DataFrame,
                      affinity) -> np.ndarray:
        """Same interface as :meth:`OfferResponseModel.predict_proba`; shape (n_members, n_offers).

        With an array of category shares instead of an ``OfferAffinity``, the
        lift is the share over its column mean (the mean over these members).
        """
        self._check_fitted()
        offers = validate_offer_specs(offers)
        stacked, _ = resolve_affinity(affinity, member_features, offers)
        lift = stacked[..., AFFINITY_FEATURES.index("lift")]
        if np.isnan(lift).all() and not np.isnan(stacked[..., 0]).all():
            share = stacked[..., 0]
            with np.errstate(invalid="ignore", divide="ignore"):
                lift = share / np.nanmean(share, axis=0, keepdims=True)
        prior = np.array([self.prior_for(t) for t in offers["type"]])
        return self._scale(prior[None, :], lift)

    def predict_proba_rows(self, rows: pd.DataFrame) -> np.ndarray:
        """P(redeem) of each row of a :func:`build_response_rows` frame, shape (n_rows,)."""
        self._check_fitted()
        prior = rows["type"].map(self.prior_for).to_numpy(dtype="float64")
        return self._scale(prior, rows["lift"].to_numpy(dtype="float64"))

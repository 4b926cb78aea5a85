"""Pick a recommender by name, or rebuild a saved one from its arrays."""

from __future__ import annotations

import numpy as np

from features.errors import ConfigError, DataError

from .als import ALSRecommender
from .base import Recommender
from .blend import BlendRecommender
from .buy_again import BuyAgainRecommender
from .category_popularity import CategoryPopularityRecommender
from .first_purchase import FirstPurchasePopularityRecommender
from .popularity import PopularityRecommender

#: Recommender classes by their ``name``.
RECOMMENDERS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (PopularityRecommender, BuyAgainRecommender, ALSRecommender, BlendRecommender,
                FirstPurchasePopularityRecommender, CategoryPopularityRecommender)
}


def make_recommender(name: str, **params) -> Recommender:
    """A new, unfitted recommender.

    Parameters
    ----------
    name : str
        A key of :data:`RECOMMENDERS` ("popularity", "buy_again", "als", "blend",
        "first_purchase_popularity", "category_popularity").
    **params
        Constructor arguments of that recommender.

    Raises
    ------
    ConfigError
        If ``name`` is unknown or a parameter is not one of its arguments.

    >>> make_recommender("buy_again", half_life_days=30)
    BuyAgainRecommender(half_life_days=30)
    """
    if name not in RECOMMENDERS:
        raise ConfigError(f"recommender {name!r} is not one of {sorted(RECOMMENDERS)}.")
    cls = RECOMMENDERS[name]
    unknown = sorted(set(params) - set(cls._param_names()))
    if unknown:
        raise ConfigError(
            f"{unknown} are not parameters of the {name!r} recommender; "
            f"it takes {cls._param_names()}."
        )
    return cls(**params)


def recommender_from_arrays(arrays) -> Recommender:
    """Rebuild any fitted recommender from :meth:`Recommender.to_arrays` output.

    ``arrays`` may be a dict or any mapping such as an ``np.load`` of an
    ``.npz`` file or a dict of memory-mapped ``.npy`` arrays.
    """
    if "model_class" not in arrays:
        raise DataError(
            "saved model arrays lack 'model_class'; they were not written by to_arrays."
        )
    name = str(np.asarray(arrays["model_class"]))
    if name not in RECOMMENDERS:
        raise DataError(f"saved model class {name!r} is not one of {sorted(RECOMMENDERS)}.")
    return RECOMMENDERS[name].from_arrays(arrays)

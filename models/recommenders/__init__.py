"""Item recommenders for the offers: buy again, popularity, ALS and their blend.

First-purchase popularity (:mod:`.first_purchase`) and category-aware popularity
(:mod:`.category_popularity`) feed the blend's "new to you" list (purchased items
excluded) only.

Fit any of them on an :class:`InteractionMatrix` built from the canonical
transactions before a cutoff, then ask for the top items of a batch of members::

    interactions = build_interactions(dataset.transactions, as_of)
    model = make_recommender("blend").fit(interactions)
    items, scores = model.recommend(model.member_rows(["m1", "m2"]), k=10)

The lines may also stay on a relational engine (DuckDB, Spark; issue 11):
:class:`EngineLines` wraps them, and :func:`tune_recommenders`-style callers
get :class:`PairInteractions` (one entry per bought pair, decayed counts
computed by the engine) with the same interface as :class:`InteractionMatrix`
(both are :class:`Interactions`); :mod:`.lines` says what is asked of the lines.

Category-level recommendations fit the same models on
:func:`category_interactions`, or aggregate item scores with
:func:`recommend_categories`.

:mod:`.metrics` holds the ranking metrics (precision, recall, NDCG, coverage at k) and
:mod:`.tuning` the validation split and the grid search of the blend;
:mod:`.spark_als` fits the ALS factors with Spark MLlib (``ALSRecommender(solver="spark")``);
:mod:`.als_fold_in` sweeps ALS over a seeded member sample (:func:`sample_rows`) and
solves every member against its item factors (:func:`fold_in_users`).

Imports: :mod:`features` and :mod:`models` only.
"""

from .als import ALSRecommender
from .als_fold_in import fold_in_users, sample_rows
from .base import Recommender, score_threads
from .blend import BlendRecommender
from .buy_again import BuyAgainRecommender
from .category import category_interactions, item_categories, recommend_categories
from .category_popularity import CategoryPopularityRecommender
from .engine_interactions import EngineLines, build_engine_interactions
from .factory import RECOMMENDERS, make_recommender, recommender_from_arrays
from .first_purchase import FirstPurchasePopularityRecommender
from .interactions import InteractionMatrix, Interactions, build_interactions
from .lines import FrameLines, Lines, as_lines
from .pairs import PairInteractions
from .popularity import PopularityRecommender

__all__ = [
    "ALSRecommender",
    "BlendRecommender",
    "BuyAgainRecommender",
    "CategoryPopularityRecommender",
    "EngineLines",
    "FirstPurchasePopularityRecommender",
    "FrameLines",
    "InteractionMatrix",
    "Interactions",
    "Lines",
    "PairInteractions",
    "PopularityRecommender",
    "RECOMMENDERS",
    "Recommender",
    "as_lines",
    "build_engine_interactions",
    "build_interactions",
    "category_interactions",
    "fold_in_users",
    "item_categories",
    "make_recommender",
    "recommend_categories",
    "recommender_from_arrays",
    "sample_rows",
    "score_threads",
]

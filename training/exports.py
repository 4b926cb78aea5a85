"""Exports of a trained version for other tools: member scores and top-k recommendations.

Both read a verified artifact version (memory-mapped arrays, no refit) and are
vectorised over members: recommendations are scored in batches by the model,
never one call per member.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd

from features.errors import DataError
from models.recommenders import recommend_categories
from training.artifacts import ArtifactVersion, load_recommender, read_members, schema
from training.artifacts.horizons import load_horizon_scorer, no_horizon_reason
from training.artifacts.uplift import read_uplift_spend

logger = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "member_id", "segment", "cluster", "cluster_label", "recency_days", "frequency",
    "monetary_total", "churn_risk", "clv",
)  # fmt: skip
BATCH = 20_000


def member_scores(version: ArtifactVersion, horizons=()) -> pd.DataFrame:
    """One row per member: segment, cluster, RFM figures, churn risk and CLV, and
    ``uplift_<offer_type>`` (predicted extra spend if sent an offer of that type) for each
    offer type whose uplift model validated better than random.

    ``horizons`` (days) add ``churn_risk_<N>d`` and ``expected_spend_<N>d`` per
    horizon (:mod:`training.artifacts.horizons`); DataError when the version
    has no purchase-cycle model. One frame of :func:`member_score_chunks`.
    """
    return pd.concat(list(member_score_chunks(version, horizons)), ignore_index=True)


def member_score_chunks(version: ArtifactVersion, horizons=()) -> Iterator[pd.DataFrame]:
    """:func:`member_scores` as frames of at most ``BATCH`` members each, in order.

    The member table is read whole (one Parquet file); the uplift join and the
    horizon columns are made one batch at a time. Checks run when called.
    """
    members = read_members(version)[list(SCORE_COLUMNS)]
    scorer = None
    if horizons:
        scorer = load_horizon_scorer(version)
        if scorer is None:
            raise DataError(f"--horizon-days: {no_horizon_reason(version)}")
    return _score_batches(members, uplift_columns(version), scorer, tuple(horizons))


def _score_batches(members, uplift, scorer, horizons):
    """The frames of :func:`member_score_chunks` (arguments already checked)."""
    for start in range(0, max(len(members), 1), BATCH):
        table = members.iloc[start:start + BATCH].join(uplift, on="member_id")
        table = table.reset_index(drop=True)
        if scorer is not None:
            extra = scorer.columns(table["member_id"].to_numpy(), horizons)
            table = pd.concat([table, extra.reset_index(drop=True)], axis=1)
        yield table


def uplift_columns(version: ArtifactVersion) -> pd.DataFrame:
    """``uplift_<offer_type>`` columns indexed by member id (none: no validated uplift model)."""
    wide = read_uplift_spend(version)
    if wide is None:
        return pd.DataFrame(index=pd.Index([], dtype=str, name="member_id"))
    return wide.rename(columns=lambda t: f"uplift_{t}")


def recommend_long(
    version: ArtifactVersion,
    member_ids: np.ndarray | None = None,
    *,
    k: int = 10,
    exclude_purchased: bool = False,
    level: str = "item",
) -> pd.DataFrame:
    """Top-``k`` recommendations in long form: ``member_id, rank, item_id|category, score``.

    ``member_ids=None`` means every member the model knows; unknown members get
    the popularity fallback. One frame of :func:`recommend_chunks`.
    """
    chunks = recommend_chunks(version, member_ids, k=k, exclude_purchased=exclude_purchased,
                              level=level)
    return pd.concat(list(chunks), ignore_index=True)


def recommend_chunks(
    version: ArtifactVersion,
    member_ids: np.ndarray | None = None,
    *,
    k: int = 10,
    exclude_purchased: bool = False,
    level: str = "item",
) -> Iterator[pd.DataFrame]:
    """:func:`recommend_long` as frames of at most ``BATCH`` members each, in order.

    Arguments are checked when called, before the first frame; at least one
    frame (maybe empty) comes, so a writer always learns the columns.
    """
    if level not in ("item", "category"):
        raise DataError(f"level={level!r} should be 'item' or 'category'.")
    if not isinstance(k, int) or k < 1:
        raise DataError(f"k={k!r} should be a positive integer.")
    model = load_recommender(version)
    if member_ids is None:
        member_ids = np.asarray(model.member_ids_, dtype=str)
    rows = model.member_rows(member_ids)
    unknown = int((rows < 0).sum())
    if unknown:
        logger.info("%d member(s) unknown to the model get popular items", unknown)
    item_category = version.load_array(schema.ITEM_CATEGORY, mmap=False)
    return _recommend_batches(model, item_category, member_ids, rows, k=k,
                              exclude_purchased=exclude_purchased, level=level)


def _recommend_batches(model, item_category, member_ids, rows, *, k, exclude_purchased, level):
    """The frames of :func:`recommend_chunks` (arguments already checked)."""
    column = "item_id" if level == "item" else "category"
    if len(rows) == 0:
        yield pd.DataFrame({"member_id": np.array([], dtype=str), "rank": np.array([], int),
                            column: np.array([], dtype=str), "score": np.array([], float)})
        return
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        if level == "item":
            idx, scores = model.recommend(chunk, k=k, exclude_purchased=exclude_purchased)
            names = np.asarray(model.item_ids_)
        else:
            idx, scores = recommend_categories(
                model, chunk, item_category, k=k, exclude_purchased=exclude_purchased
            )
            names = np.unique(item_category)
        ids = np.repeat(np.asarray(member_ids)[start:start + BATCH], k)
        flat = np.asarray(idx).ravel()
        keep = flat >= 0
        yield pd.DataFrame({
            "member_id": ids[keep],
            "rank": np.tile(np.arange(1, k + 1), len(chunk))[keep],
            column: names[flat[keep]],
            "score": np.asarray(scores).ravel()[keep],
        })

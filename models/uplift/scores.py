"""Each member's predicted uplift per offer type as of a cut-off: what the offer engine ranks on.

:func:`member_uplift` scores every member with the fitted models of an
:class:`~models.uplift.fit.UpliftFit` for an offer of each type *sent at the
cut-off*. The offer features (depth, categories, the member's affinity to the
offer) are those of the type's most recently sent offer in the data, so the
answer reads "had this member been sent an offer like the last one of this
type, at ``as_of``".

The result is a long table (:data:`SCORE_COLUMNS`): one row per member and
offer type with ``uplift_spend`` (expected extra money spent in the outcome
window) and ``uplift_retained`` (the change in the probability of buying at
all in it; NaN when that outcome has no model).

Imports: :mod:`features` and :mod:`models` only.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import DataError, NotFittedError
from models.offer_response.affinity import AffinityIndex
from models.offer_response.rows import attach_offer_columns, response_features
from models.uplift.fit import UpliftFit
from models.uplift.rows import OUTCOMES, feature_matrix, member_features_with_mix

logger = logging.getLogger(__name__)

#: Columns of :func:`member_uplift`'s table.
SCORE_COLUMNS = ("member_id", "offer_type", "offer_id", *(f"uplift_{o}" for o in OUTCOMES))


def representative_offers(fit: UpliftFit) -> dict[str, str]:
    """``offer_type -> offer_id`` of the type's most recently sent offer among the fit's rows."""
    if fit.rows is None or not fit.models:
        raise NotFittedError("This UpliftFit holds no rows or models; call fit_uplift first.")
    rows = fit.rows.sort_values("sent_at", kind="stable")
    last = rows.groupby(rows["type"].astype(str))["offer_id"].last()
    return {t: str(last[t]) for t in sorted({t for t, _ in fit.models}) if t in last.index}


def member_uplift(fit: UpliftFit, dataset: Dataset, offers: pd.DataFrame, as_of,
                  member_ids, *, chunk: int = 100_000) -> pd.DataFrame:
    """Predicted uplift of every member in ``member_ids`` for each offer type of ``fit``.

    Parameters
    ----------
    fit : UpliftFit
        Fitted by :func:`models.uplift.fit_uplift` (its ``rows`` kept).
    dataset : Dataset
        The data the fit was trained on; member features are computed from it at ``as_of``.
    offers : DataFrame
        The offer specs the fit was trained with.
    as_of : timestamp
        The cut-off: the hypothetical send day.
    member_ids : array-like of str
        Members to score (members without purchases get their features' missing values).
    chunk : int
        Rows per model call (bounds memory on large programs).

    Returns
    -------
    DataFrame
        :data:`SCORE_COLUMNS`, members in the order given, offer types sorted.
    """
    as_of, ids, by_type = scoring_inputs(fit, as_of, member_ids)
    cache: dict = {}

    def features_at(ds, cutoff):  # one member-feature build for every chunk and type
        if cutoff not in cache:
            cache[cutoff] = member_features_with_mix(ds, cutoff)
        return cache[cutoff]

    index = AffinityIndex(dataset, offers)  # one pass over the purchases for every chunk
    parts = []
    for offer_type, offer_id in by_type.items():
        for start in range(0, len(ids), chunk):
            sends = hypothetical_sends(ids[start:start + chunk], offer_id, as_of)
            block = response_features(dataset, offers, sends, member_features=features_at,
                                      affinity_index=index)
            parts.append(score_block(fit, offers, offer_type, sends, block))
    return score_table(parts, len(ids), len(by_type))


def scoring_inputs(fit: UpliftFit, as_of, member_ids) -> tuple[pd.Timestamp, pd.Index, dict]:
    """``as_of`` as a timestamp, the member ids (checked: no repeats) and the offers to score."""
    ids = pd.Index(np.asarray(member_ids, dtype=str))
    if ids.has_duplicates:
        raise DataError("member_ids repeats a member; give each member once.")
    return pd.Timestamp(as_of), ids, representative_offers(fit)


def hypothetical_sends(members: pd.Index, offer_id: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Hypothetical sends of ``offer_id`` to ``members`` at ``as_of``."""
    return pd.DataFrame({"member_id": members.to_numpy(), "offer_id": offer_id,
                         "sent_at": as_of})


def score_block(fit: UpliftFit, offers: pd.DataFrame, offer_type: str, sends: pd.DataFrame,
                features: pd.DataFrame) -> pd.DataFrame:
    """Rows of :data:`SCORE_COLUMNS` for ``sends`` of one offer, given their features
    (the frame of :func:`models.offer_response.rows.response_features`, aligned with ``sends``).
    """
    rows = attach_offer_columns(pd.concat([sends, features], axis=1), offers)
    X, _ = feature_matrix(rows, fit.feature_names)
    part = pd.DataFrame({"member_id": sends["member_id"].to_numpy(), "offer_type": offer_type,
                         "offer_id": sends["offer_id"].to_numpy()})
    for outcome in OUTCOMES:
        model = fit.models.get((offer_type, outcome))
        part[f"uplift_{outcome}"] = (model.predict(X) if model is not None
                                     else np.full(len(sends), np.nan))
    return part


def compact_scores(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (:data:`SCORE_COLUMNS`) with its three id columns as categoricals.

    Each member's id comes once per offer type, and the type and its offer once per
    member: as strings they were most of the table (1M members x 3 types: 215 MiB,
    79 as categoricals; bench/RESULTS.md), held through the member table, report
    and write steps. Same values; Parquet stores them as dictionary-encoded strings.
    """
    return table.astype({c: "category" for c in ("member_id", "offer_type", "offer_id")})


def score_table(parts: list[pd.DataFrame], n_members: int, n_types: int) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    table = pd.concat(parts, ignore_index=True)[list(SCORE_COLUMNS)]
    logger.info("uplift scored for %d members x %d offer types", n_members, n_types)
    return table

"""Every member's predicted uplift with the per-line work on a relational engine.

:func:`engine_member_uplift` is :func:`models.uplift.member_uplift` for lines
that stay on DuckDB or Spark: the member features (with every category's
share, as the uplift rows have them) come from
:func:`features.relational.member_features` and the members' affinity to the
representative offers from :func:`models.offer_response.engine_affinity.engine_affinity`,
both one row per member; only the model calls run in pandas, ``chunk``
members at a time, as on pandas. The answer equals ``member_uplift`` on the
same data (parity tests, up to the order of float sums).

Imports: :mod:`features` and :mod:`models` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.offer_response.affinity import AFFINITY_FEATURES
from models.uplift.fit import UpliftFit
from models.uplift.rows import MIX_CATEGORIES, TREND_DAYS
from models.uplift.scores import hypothetical_sends, score_block, score_table, scoring_inputs

#: Cutoff frequency of the features of a hypothetical send (``response_features``' default).
CUTOFF_FREQ = "D"


def engine_member_uplift(fit: UpliftFit, lines, small: dict, offers: pd.DataFrame, as_of,
                         member_ids, *, chunk: int = 100_000,
                         base: pd.DataFrame | None = None,
                         base_trend_days: float | None = None,
                         spend=None) -> pd.DataFrame:
    """Predicted uplift of every member in ``member_ids`` for each offer type of ``fit``.

    Parameters
    ----------
    fit : UpliftFit
        Fitted by :func:`models.uplift.fit_uplift` (its ``rows`` kept).
    lines : Ibis table
        Canonical lines on the engine (:mod:`features.relational.tables`).
    small : dict
        The canonical pandas ``items``, ``members`` and ``offer_events``
        (``training.engines.EngineTables.small``).
    offers, as_of, member_ids, chunk
        As in :func:`models.uplift.member_uplift`.
    base, base_trend_days : DataFrame and float, optional
        Member features of every member in ``member_ids`` as of ``as_of``, built
        with a trend window of ``base_trend_days`` and any number of category
        columns (a training run's own). When ``as_of`` is a day boundary and the
        window is :data:`models.uplift.rows.TREND_DAYS` they are the features
        the rows need but for the category columns, so only the category shares
        are computed again (:data:`~models.uplift.rows.MIX_CATEGORIES` of them):
        one pass over the lines instead of every member feature's (minutes at
        1M members). Otherwise they are not used.
    spend : SpendPairs, optional
        The (member, department, category) spend of the same lines staged by the
        features step (:func:`features.relational.purchases.spend_pairs`): with
        ``base``, the category shares are summed from it when it was made at the
        same cutoff, instead of grouping the lines again.

    Returns
    -------
    DataFrame
        :data:`models.uplift.scores.SCORE_COLUMNS`, members in the order given,
        offer types sorted.
    """
    from models.offer_response.engine_affinity import engine_affinity

    as_of, ids, by_type = scoring_inputs(fit, as_of, member_ids)
    cutoff = as_of.floor(CUTOFF_FREQ)
    if cutoff != as_of or base_trend_days is None or float(base_trend_days) != TREND_DAYS:
        base = None
    # The models read no other column: the others are dropped before any copy of every
    # member's features is made (at 1M members the full mix was ~1.2 GB a copy).
    used = {name.removeprefix("m__") for name in fit.feature_names if name.startswith("m__")}
    chosen = offers[offers["offer_id"].astype(str).isin(list(by_type.values()))]
    affinity = engine_affinity(lines, small["items"], chosen, cutoff, ids)
    column = {offer_id: j for j, offer_id in enumerate(affinity.offer_ids)}
    parts: dict = {offer_type: [] for offer_type in by_type}
    blocks = _feature_blocks(lines, small, cutoff, ids, base, used, chunk, spend)
    for start, features in zip(range(0, len(ids), chunk), blocks):
        stop = start + len(features)
        features = features.add_prefix("m__").reset_index(drop=True)
        for offer_type, offer_id in by_type.items():
            j = column[offer_id]
            sends = hypothetical_sends(ids[start:stop], offer_id, as_of)
            block = features.copy()
            for name in AFFINITY_FEATURES:
                block[name] = getattr(affinity, name)[start:stop, j]
            block["population_share"] = np.full(stop - start, affinity.population_share[j])
            block.insert(0, "cutoff", cutoff)
            parts[offer_type].append(score_block(fit, offers, offer_type, sends, block))
    return score_table([p for ps in parts.values() for p in ps], len(ids), len(by_type))


def _feature_blocks(lines, small: dict, cutoff: pd.Timestamp, ids: pd.Index,
                    base: pd.DataFrame | None, used: set[str], chunk: int, spend=None):
    """The member features named in ``used`` (of those with the full category mix) at
    ``cutoff``, ``chunk`` members at a time in ``ids`` order: with ``base``, the category
    shares are fetched a block at a time, so the wide mix of every member (800 MB at 1M
    members) never exists at once."""
    from features.relational import member_features  # Ibis: imported when used
    from features.relational.purchases import category_share_blocks

    if base is None:
        features = member_features(lines, small, cutoff, n_categories=MIX_CATEGORIES,
                                   trend_days=TREND_DAYS)
        features.index = features.index.astype(str)
        features = features[[c for c in features.columns if c in used]].reindex(ids)
        for start in range(0, len(ids), chunk):
            yield features.iloc[start:start + chunk]
        return
    kept = [c for c in base.columns if c in used and not c.startswith("cat_share__")]
    base = base[kept].set_axis(base.index.astype(str)).reindex(ids)
    shares = category_share_blocks(lines, small["items"], cutoff, ids, MIX_CATEGORIES,
                                   chunk=chunk, spend=spend)
    for start, block in zip(range(0, len(ids), chunk), shares):
        yield pd.concat([base.iloc[start:start + chunk],
                         block[[c for c in block.columns if c in used]]], axis=1)

"""Every member's predicted uplift, scored in partitions on Spark (step "uplift" on Spark).

:func:`spark_member_uplift` is :func:`models.uplift.engine_member_uplift` for a
run whose member features are on Spark (:class:`training.spark_members.SparkMembers`):
the per-member inputs of the scoring never come to the driver. On the executors,
one Spark DataFrame joins, per member,

- the run's member features the uplift models read (cached since the segmentation);
- the spend sums the category shares are taken from
  (:func:`features.relational.purchases.category_share_sums`: the rows' full mix of
  :data:`~models.uplift.rows.MIX_CATEGORIES` categories);
- the spend sums of the affinity to each offer type's representative offer
  (:func:`models.offer_response.engine_affinity.affinity_sums`);

and ``mapInPandas`` takes the shares and the affinities of each partition's
members (the same pandas code as the driver's) and scores them with the fitted
uplift models, pickled once in the driver and broadcast (in memory, never read
from disk). The offers' population shares are one aggregate over every member
(one row comes back). Only the result (:data:`~models.uplift.scores.SCORE_COLUMNS`,
one row per member and offer type: the version's ``uplift_scores``) is collected.

The answer equals ``engine_member_uplift``'s on the same run (parity test, up to
the order of float sums). When the run's features are not the rows' (a cut-off
that is not a day boundary, another trend window) the member features are built
again at the cut-off, in the driver (:func:`~models.uplift.engine_member_uplift`).

Imports: :mod:`features`, :mod:`models`, :mod:`training.spark_members`.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import replace

import ibis
import numpy as np
import pandas as pd

from features.relational.portable import to_frame
from features.relational.purchases import category_share_sums
from features.relational.spark import collect_arrow
from models.offer_response.affinity import AFFINITY_FEATURES
from models.offer_response.engine_affinity import (
    affinity_from_sums,
    affinity_sums,
    population_share,
    sum_columns,
)
from models.uplift import engine_member_uplift
from models.uplift.engine_scores import CUTOFF_FREQ
from models.uplift.rows import MIX_CATEGORIES, OUTCOMES, TREND_DAYS
from models.uplift.scores import SCORE_COLUMNS, hypothetical_sends, score_block, scoring_inputs
from training.spark_members import MEMBER, ROW, SparkMembers

logger = logging.getLogger(__name__)

#: Each result row's offer type, as its position among the scored types (the driver's order).
TYPE = "_type"
RESULT_SCHEMA = ", ".join([f"{ROW} long", f"{TYPE} int", "member_id string",
                           "offer_type string", "offer_id string"]
                          + [f"uplift_{o} double" for o in OUTCOMES])
_SHARE = "s__"  # prefixes of the joined sum columns (no clash with feature names)
_AFFINITY = "a__"


def spark_member_uplift(con, fit, lines, small: dict, offers: pd.DataFrame, as_of,
                        members: SparkMembers, *,
                        base_trend_days: float | None = None) -> pd.DataFrame:
    """Predicted uplift of every member of ``members`` for each offer type of ``fit``.

    Parameters
    ----------
    con : ibis Spark backend
        The run's session; ``lines`` are its table.
    fit, offers, as_of
        As in :func:`models.uplift.engine_member_uplift`.
    lines, small
        The run's lines on Spark and small tables (``EngineTables``).
    members : SparkMembers
        Every member's features as of ``as_of``, built with a trend window of
        ``base_trend_days``; their rows are scored, in their order.

    Returns
    -------
    DataFrame
        :data:`~models.uplift.scores.SCORE_COLUMNS`: the members in ``members``' order
        per offer type, types sorted (as ``engine_member_uplift`` gives them).
    """
    as_of, ids, by_type = scoring_inputs(fit, as_of, members.index)
    cutoff = as_of.floor(CUTOFF_FREQ)
    if cutoff != as_of or base_trend_days is None or float(base_trend_days) != TREND_DAYS:
        logger.warning("uplift: the run's member features are not those of the uplift rows "
                       "(cut-off %s, trend window %s days): every member's features are "
                       "built again, in the driver", as_of, base_trend_days)
        return engine_member_uplift(fit, lines, small, offers, as_of, ids)
    used = [name.removeprefix("m__") for name in fit.feature_names if name.startswith("m__")]
    kept = [c for c in members.columns if c in used and not c.startswith("cat_share__")]
    chosen = offers[offers["offer_id"].astype(str).isin(list(by_type.values()))]
    chosen = chosen.reset_index(drop=True)
    shares = category_share_sums(lines, small["items"], cutoff, MIX_CATEGORIES)
    try:
        affinity = affinity_sums(lines, small["items"], chosen, cutoff)
        population = _population(affinity, chosen)
        session = con._session
        share_df = _prefixed(session, shares.table, _SHARE)
        affinity_df = _prefixed(session, affinity, _AFFINITY)
        joined = (members.df.select(ROW, MEMBER, *kept)
                  .join(share_df, on=MEMBER, how="left")
                  .join(affinity_df, on=MEMBER, how="left"))
        plan = _Plan(fit=replace(fit, rows=None, response_models={}, curves={},
                                 validation=pd.DataFrame(), validation_members=[]),
                     offers=offers, chosen=chosen, by_type=by_type, as_of=as_of,
                     cutoff=cutoff, kept=kept, used=set(used), shares=shares,
                     population=population)
        shared = session.sparkContext.broadcast(pickle.dumps(plan, pickle.HIGHEST_PROTOCOL))
        try:
            def score(batches):  # on the executors
                from threadpoolctl import threadpool_limits

                got = pickle.loads(shared.value)  # the driver's bytes, in memory
                with threadpool_limits(1):
                    for batch in batches:
                        yield got.score(batch)

            table = collect_arrow(joined.mapInPandas(score, schema=RESULT_SCHEMA))
        finally:
            shared.destroy()
    finally:
        shares.release()
    table = table.sort_by([(TYPE, "ascending"), (ROW, "ascending")])
    expected = len(ids) * len(by_type)
    rows = table.column(ROW).to_numpy()
    if len(rows) != expected or not np.array_equal(rows, np.tile(np.arange(len(ids)),
                                                                 len(by_type))):
        raise RuntimeError(f"Spark scored {len(rows)} uplift rows for {len(ids)} members x "
                           f"{len(by_type)} offer types, not each once.")
    out = table.drop([ROW, TYPE]).to_pandas()
    out["member_id"] = out["member_id"].astype(object)
    logger.info("uplift scored on Spark for %d members x %d offer types", len(ids),
                len(by_type))
    return out[list(SCORE_COLUMNS)]


class _Plan:
    """What each partition needs to score its members: pickled once, broadcast."""

    def __init__(self, *, fit, offers, chosen, by_type, as_of, cutoff, kept, used, shares,
                 population):
        self.fit, self.offers, self.chosen, self.by_type = fit, offers, chosen, by_type
        self.as_of, self.cutoff, self.kept, self.used = as_of, cutoff, kept, used
        self.shares = replace(shares, pair=None, sums={}, _con=None, _owned=None)  # names only
        self.population = population

    def score(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The result rows of one partition's members (every offer type)."""
        rows = batch[ROW].to_numpy()
        ids = pd.Index(batch[MEMBER].astype(str).to_numpy())
        sums = batch[[_SHARE + n for n in self.shares.sum_names]]
        shares = self.shares.shares(sums.set_axis(self.shares.sum_names, axis=1), ids)
        base = batch[self.kept].set_axis(ids)
        features = pd.concat([base, shares[[c for c in shares.columns if c in self.used]]],
                             axis=1).add_prefix("m__")
        names = sum_columns(self.chosen)
        found = pd.DataFrame({n: (batch[_AFFINITY + n].to_numpy(dtype="float64")
                                  if _AFFINITY + n in batch else 0.0)
                              for n in names}, index=ids)
        affinity = affinity_from_sums(found, self.population, self.chosen, ids)
        column = {offer_id: j for j, offer_id in enumerate(affinity.offer_ids)}
        parts = []
        for position, (offer_type, offer_id) in enumerate(self.by_type.items()):
            j = column[offer_id]
            sends = hypothetical_sends(ids, offer_id, self.as_of)
            block = features.reset_index(drop=True)
            for name in AFFINITY_FEATURES:
                block[name] = getattr(affinity, name)[:, j]
            block["population_share"] = np.full(len(ids), affinity.population_share[j])
            block.insert(0, "cutoff", self.cutoff)
            part = score_block(self.fit, self.offers, offer_type, sends, block)
            part.insert(0, TYPE, np.int32(position))
            part.insert(0, ROW, rows)
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        for name in ("member_id", "offer_type", "offer_id"):  # numpy strings for Spark's
            out[name] = pd.Series(out[name].to_numpy(dtype=object), dtype=object)  # Arrow
        return out


def _population(affinity, chosen: pd.DataFrame) -> np.ndarray:
    """:func:`~models.offer_response.engine_affinity.population_share` of ``chosen``: the
    spend sums over every member, one aggregate on Spark."""
    on = [f"on_{j}" for j in range(len(chosen)) if f"on_{j}" in affinity.columns]
    totals = to_frame(affinity.aggregate(
        total=affinity.total.sum(), **{name: affinity[name].sum() for name in on}))
    row = totals.iloc[0].fillna(0.0)
    on_totals = np.array([float(row.get(f"on_{j}", 0.0)) for j in range(len(chosen))])
    return population_share(float(row["total"]), on_totals, chosen)


def _prefixed(session, table, prefix: str):
    """The Ibis ``table`` as a Spark DataFrame, its columns but ``member_id`` prefixed."""
    from pyspark.sql import functions as F

    df = session.sql(ibis.get_backend(table).compile(table))
    return df.select(F.col(MEMBER), *(F.col(c).alias(prefix + c)
                                      for c in df.columns if c != MEMBER))

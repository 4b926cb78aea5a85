"""Member-to-offer affinity with the per-line work on a relational engine (DuckDB, Spark).

:func:`engine_affinity` gives :func:`~models.offer_response.affinity.compute_affinity`'s
answer (category share, lift, item purchases, population share; module
:mod:`models.offer_response.affinity`) from canonical lines that stay on the
engine: one Ibis aggregate over the lines before the cutoff brings back one
row per member who bought (total spend, spend in each offer's categories,
lines of each offer's items), and the ratios are taken in pandas. Meant for a
few offers at a time (the uplift scoring's one offer per type): each offer is
two sums of the aggregate.

>>> aff = engine_affinity(lines, items, offers, "2017-10-01", ids)  # doctest: +SKIP
>>> aff.category_share.shape                                       # doctest: +SKIP
(2469, 3)
"""

from __future__ import annotations

import itertools

import ibis
import numpy as np
import pandas as pd

from features.relational.portable import register_frame, to_frame
from models.offer_response.affinity import OfferAffinity
from models.offer_response.specs import validate_offer_specs

_TABLES = itertools.count(1)  # names the catalog tables: a call never replaces another's


def engine_affinity(lines, items: pd.DataFrame, offers: pd.DataFrame, as_of,
                    member_ids) -> OfferAffinity:
    """Affinity of ``member_ids`` to ``offers`` from the lines strictly before ``as_of``.

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (:mod:`features.relational.tables`: ``member_id``,
        ``item_id``, ``ts_us``, ``amount``, ...).
    items : DataFrame
        Canonical items (``item_id``, ``category``); lines of items it lacks
        count in a member's total spend, in no offer's categories.
    offers : DataFrame
        Offer specs (:mod:`models.offer_response.specs`).
    as_of : timestamp
    member_ids : sequence of str
        Rows of the result; members without purchases get NaN shares.

    Returns
    -------
    OfferAffinity
        Equal to ``compute_affinity(dataset, offers, as_of, member_ids)`` on the
        same data, up to the order of float sums.
    """
    offers = validate_offer_specs(offers)
    member_ids = np.asarray(member_ids, dtype=str)
    per_member = _aggregate(lines, items, offers, pd.Timestamp(as_of))
    on_names = [f"on_{j}" for j in range(len(offers))]
    all_on = per_member[on_names].to_numpy(dtype="float64").reshape(len(per_member), -1)
    population = population_share(per_member["total"].to_numpy(dtype="float64").sum(),
                                  all_on.sum(axis=0), offers)
    return affinity_from_sums(per_member.reindex(pd.Index(member_ids)), population, offers,
                              member_ids)


def population_share(grand_total: float, on_totals: np.ndarray,
                     offers: pd.DataFrame) -> np.ndarray:
    """Each offer's share of every member's spend (1 for a whole-basket offer), from the sums
    of :func:`affinity_sums` over every member: ``total`` and ``on_j`` (``on_totals[j]``)."""
    whole = np.array([len(c) == 0 for c in offers["categories"]], dtype=bool)
    on_totals = np.asarray(on_totals, dtype="float64")
    population = (on_totals / grand_total if grand_total > 0
                  else np.full(len(offers), np.nan))
    population[whole] = 1.0
    return population


def affinity_from_sums(chosen: pd.DataFrame, population: np.ndarray, offers: pd.DataFrame,
                       member_ids) -> OfferAffinity:
    """The :class:`OfferAffinity` of the rows ``chosen`` of :func:`affinity_sums` (one per
    member of ``member_ids``, in order; missing values: no purchase), given the offers'
    :func:`population_share`. Row by row: the rows may be any part of the members."""
    n_offers = len(offers)
    whole = np.array([len(c) == 0 for c in offers["categories"]], dtype=bool)
    has_items = np.array([len(i) > 0 for i in offers["items"]], dtype=bool)
    on_names = [f"on_{j}" for j in range(n_offers)]
    total = chosen["total"].fillna(0.0).to_numpy(dtype="float64")
    on_target = chosen[on_names].fillna(0.0).to_numpy(dtype="float64", copy=True).reshape(
        -1, n_offers)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = on_target / total[:, None]
    share[:, whole] = 1.0
    share[total <= 0] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(population > 0, share / population, np.nan)
    bought = chosen[[f"items_{j}" for j in range(n_offers)]].fillna(0.0)
    item_purchases = bought.to_numpy(dtype="float64", copy=True).reshape(-1, n_offers)
    item_purchases[:, ~has_items] = np.nan
    return OfferAffinity(np.asarray(member_ids, dtype=str),
                         offers["offer_id"].to_numpy(dtype=str), share, lift,
                         item_purchases, population)


def _aggregate(lines, items: pd.DataFrame, offers: pd.DataFrame,
               cutoff: pd.Timestamp) -> pd.DataFrame:
    """:func:`affinity_sums` fetched: one row per member who bought, indexed by member id,
    with every ``on_j`` and ``items_j`` column (0 where the offer has nothing to sum)."""
    table = affinity_sums(lines, items, offers, cutoff)
    frame = to_frame(table)
    frame.index = pd.Index(frame.pop("member_id").astype(str), name="member_id")
    return frame.reindex(columns=sum_columns(offers), fill_value=0.0)


def sum_columns(offers: pd.DataFrame) -> list[str]:
    """``total``, then ``on_j`` and ``items_j`` of every offer j (:func:`affinity_sums`)."""
    n = len(offers)
    return ["total", *(f"on_{j}" for j in range(n)), *(f"items_{j}" for j in range(n))]


def affinity_sums(lines, items: pd.DataFrame, offers: pd.DataFrame, cutoff: pd.Timestamp):
    """Per member who bought before ``cutoff`` (an Ibis table, left on the engine):
    ``total`` spend (negative lines count 0), ``on_j`` spend in offer j's categories and
    ``items_j`` lines of offer j's items (only for the offers that have them)."""
    catalog = pd.DataFrame({
        "item_id": items["item_id"].astype("str"),
        "item_category": items["category"].astype("str"),
    }).drop_duplicates("item_id")
    con = ibis.get_backend(lines)
    table = register_frame(con, f"affinity_items_{next(_TABLES)}", catalog)
    before = lines.filter(lines.ts_us < pd.Timestamp(cutoff).value // 1000)
    joined = before.left_join(table, before.item_id == table.item_id).select(
        before.member_id, before.item_id, before.amount, table.item_category)
    spend = ibis.ifelse(joined.amount > 0, joined.amount, 0.0)
    sums = {"total": spend.sum()}
    for j, (categories, offer_items) in enumerate(zip(offers["categories"], offers["items"])):
        if len(categories):  # a whole-basket offer's share is 1: nothing to sum
            on = joined.item_category.isin(list(categories)).fill_null(False)
            sums[f"on_{j}"] = ibis.ifelse(on, spend, 0.0).sum()
        if len(offer_items):
            bought = joined.item_id.isin(list(offer_items)).fill_null(False)
            sums[f"items_{j}"] = ibis.ifelse(bought, 1, 0).sum()
    return joined.group_by("member_id").aggregate(**sums)

"""A trained version loaded once into read-only arrays for per-request use.

:func:`load_bundle` verifies a version (hashes, library versions: see
:func:`training.artifacts.store.open_version`) and builds a :class:`ModelBundle`:
member id -> row, the member table as arrays (:mod:`.member_table`), the
recommender with its arrays memory-mapped, item metadata aligned with the
recommender's columns and each member's purchase mix per category
(:mod:`.category_affinity`). Nothing on the per-request path touches pandas.

>>> bundle = load_bundle("artifacts/cj")                  # doctest: +SKIP
>>> bundle.profile("1")["segment"]                        # doctest: +SKIP
'Champions'
>>> [r["category"] for r in bundle.recommend("1", k=2)]   # doctest: +SKIP
['FLUID MILK PRODUCTS', 'BAKED BREAD/BUNS/ROLLS']
"""

from __future__ import annotations

import logging
import math
import os
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataError
from models.recommenders.base import top_k
from serving.engine.category_affinity import CategoryAffinity, build_category_affinity
from serving.engine.member_table import MemberTable
from serving.engine.response_model import ResponseInputs, load_response_inputs
from serving.engine.uplift import MemberUplift, load_member_uplift
from training.artifacts import (
    Precomputed,
    load_precomputed,
    load_recommender,
    open_version,
    read_members_table,
    schema,
)
from training.artifacts.horizons import HorizonScorer, load_horizon_scorer

logger = logging.getLogger(__name__)

#: Recommended categories per member kept from training (``top_categories``).
N_RECOMMENDED_CATEGORIES = 3


class ModelBundle:
    """One verified artifact version, ready to answer per-member questions fast.

    Build it with :func:`load_bundle`. All attributes are read-only after construction.

    Attributes
    ----------
    version : str
    manifest : dict
    as_of : pandas.Timestamp
        The training cutoff: member features describe members as of this moment.
    members : MemberTable
    recommender : BlendRecommender
    affinity : CategoryAffinity
        Rows in member table order.
    item_ids, item_names : ndarray of str, shape (n_items,)
        Aligned with the recommender's item columns.
    item_category : ndarray of int32, shape (n_items,)
        Codes into ``affinity.categories``.
    item_price : ndarray of float64, shape (n_items,)
        Price (median line price when the items table has none).
    rec_categories : ndarray of int32, shape (n_members, 3)
        The recommender's top categories per member at training (-1: none).
    category_top_item : ndarray of int64, shape (n_categories,)
        The most popular item of each category (-1 when it has none).
    popular_categories : ndarray of int64
        Categories by everyone's purchase share, most bought first.
    """

    def __init__(self, version: str, manifest: dict, members: MemberTable, recommender,
                 item_frame: pd.DataFrame, item_category: np.ndarray,
                 precomputed: Precomputed | None = None):
        self.version = version
        self.manifest = manifest
        self.as_of = pd.Timestamp(manifest.get("as_of") or "1970-01-01")
        self.members = members
        self.recommender = recommender
        self._index = {member_id: i for i, member_id in enumerate(members.ids.tolist())}
        self.table_to_rec = recommender.member_rows(members.ids)
        self.affinity: CategoryAffinity = build_category_affinity(
            recommender, item_category, self.table_to_rec
        )
        categories = self.affinity.categories
        self.item_ids = np.asarray(recommender.item_ids_, dtype=str)
        self.item_category = np.searchsorted(categories, np.asarray(item_category, dtype=str))
        self.item_category = self.item_category.astype(np.int32)
        self.item_names, self.item_price = _item_metadata(item_frame, self.item_ids)
        self._category_order = np.argsort(self.item_category, kind="stable")
        present, self._category_starts = np.unique(
            self.item_category[self._category_order], return_index=True
        )
        self._categories_present = present
        popularity = np.asarray(recommender.components_["popularity"].item_scores_, dtype=float)
        self.category_top_item = _best_per_group(popularity, self.item_category, len(categories))
        self.popular_categories = np.argsort(-self.affinity.population, kind="stable")
        self.rec_categories = _category_codes(members.lists["top_categories"], categories)
        self.horizon_days = int(manifest.get("metrics", {}).get("churn", {})
                                .get("horizon_days", 0) or 0)
        self._cold_answers: dict[tuple, tuple[list, list]] = {}  # recommend_with_categories
        # Each member's ranked lists from training (None: a version without them).
        self.precomputed = precomputed
        self.live_scored = 0  # answers the precomputed lists could not give
        # Training steps the data could not support, {step: reason} (training/applicability.py).
        self.skipped = dict(manifest.get("metrics", {}).get("skipped") or {})
        #: The trained response model and its member features (set by :func:`load_bundle`;
        #: None: the engine falls back to the per-type priors).
        self.response: ResponseInputs | None = None
        #: Members' predicted uplift per offer type (set by :func:`load_bundle`; None: the
        #: version has no validated uplift model and the engine ranks by expected value).
        self.uplift: MemberUplift | None = None
        self.horizon: HorizonScorer | None = None  # churn and spend at any horizon (issue 13)

    # ------------------------------------------------------------ look-ups
    def row(self, member_id) -> int:
        """Member table row of ``member_id``; -1 when the version does not know the member."""
        return self._index.get(str(member_id), -1)

    def has_member(self, member_id) -> bool:
        return str(member_id) in self._index

    @property
    def categories(self) -> np.ndarray:
        return self.affinity.categories

    def category_code(self, name: str) -> int:
        """Code of category ``name`` (-1 when no item has it)."""
        pos = int(np.searchsorted(self.categories, name))
        return pos if pos < len(self.categories) and self.categories[pos] == name else -1

    def favourite_item(self, row: int, category: int) -> int:
        """The member's most bought item of ``category``, else the category's most popular one."""
        rec_row = int(self.table_to_rec[row]) if row >= 0 else -1
        buy_again = self.recommender.components_.get("buy_again")
        if rec_row >= 0 and buy_again is not None:
            start, stop = buy_again.scores_indptr_[rec_row], buy_again.scores_indptr_[rec_row + 1]
            items = np.asarray(buy_again.scores_indices_[start:stop])
            inside = self.item_category[items] == category
            if inside.any():
                scores = np.asarray(buy_again.scores_data_[start:stop])[inside]
                return int(items[inside][int(np.argmax(scores))])
        return int(self.category_top_item[category]) if category >= 0 else -1

    # ------------------------------------------------------------ answers
    def profile(self, member_id, tiers=None) -> dict[str, Any] | None:
        """What the models say about one member, JSON-ready; None for an unknown member.

        Parameters
        ----------
        member_id : str
        tiers : TierLadder, optional
            The program's tiers (from a catalog): adds the tier reached on
            the ladder's basis and what is left to reach the next one.
        """
        row = self.row(member_id)
        if row < 0:
            return None
        m = self.members
        num = {k: _num(v[row]) for k, v in m.numeric.items()}
        codes = m.lists["churn_reason_codes"][row]
        texts = m.lists["churn_reasons"][row]
        if len(texts) != len(codes):
            texts = [""] * len(codes)
        out = {
            "member_id": str(member_id),
            "segment": m.name("segment", row),
            "rfm_score": str(m.text["rfm_score"][row]) or None,
            "r_score": num["r_score"], "f_score": num["f_score"], "m_score": num["m_score"],
            "cluster": int(m.cluster[row]),
            "cluster_label": m.name("cluster_label", row),
            "recency_days": num["recency_days"],
            "frequency": num["frequency"],
            "monetary_total": num["monetary_total"],
            "monetary_mean_basket": num["monetary_mean_basket"],
            "churn_risk": num["churn_risk"],
            "churn_drivers": [{"code": c, "text": t} for c, t in zip(codes, texts)],
            "clv": num["clv"],
            "expected_spend": num["expected_spend"],
            "horizon_days": self.horizon_days,
            "tier": m.name("tier", row),
            "points_balance": num["points_balance"],
            "plan": m.name("plan", row),
            "plan_status": m.name("plan_status", row),
            "top_category": str(m.text["top_category"][row]) or None,
            "top_categories": [str(self.categories[c]) for c in self.rec_categories[row]
                               if c >= 0],
        }
        if tiers is not None:
            out.update(tiers.progress(self, row))
        return out

    def recommend(self, member_id, k: int = 10, exclude_purchased: bool = False,
                  category: str | None = None) -> list[dict[str, Any]]:
        """Top ``k`` items (``item_id, name, category, score``); popular items for unknown members.

        ``category`` keeps only items of that category (an unknown category gives []).
        """
        _check_k(k, "k")
        row = self.row(member_id)
        rec_row = np.array([self.table_to_rec[row] if row >= 0 else -1])
        if category is None:
            items, scores = self.recommender.recommend(rec_row, k=k,
                                                       exclude_purchased=exclude_purchased)
            return self._item_dicts(items[0], scores[0])
        if self.category_code(category) < 0:
            return []
        return self._top_items(self.recommender.score(rec_row, exclude_purchased)[0], k,
                               category)

    def recommend_categories(self, member_id, k: int = 3) -> list[dict[str, Any]]:
        """Top ``k`` categories by their best item's score (``category, score``)."""
        _check_k(k, "k")
        row = self.row(member_id)
        rec_row = np.array([self.table_to_rec[row] if row >= 0 else -1])
        return self._top_categories(self.recommender.score(rec_row)[0], k)

    def recommend_with_categories(self, member_id, k: int = 10, exclude_purchased: bool = False,
                                  category: str | None = None, n_categories: int = 3
                                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """:meth:`recommend` and :meth:`recommend_categories` (``n_categories`` of them; 0: [])
        from one scoring of every item.

        Members without purchase history all get the same answer: it is computed
        once per argument set and copied out (at most 256 sets are kept).
        """
        _check_k(k, "k")
        if n_categories != 0:
            _check_k(n_categories, "n_categories")
        row = self.row(member_id)
        rec_row = int(self.table_to_rec[row]) if row >= 0 else -1
        if rec_row >= 0:
            found = self._precomputed_answer(rec_row, k, exclude_purchased, category,
                                             n_categories)
            if found is not None:
                return found
            if self.precomputed is not None:
                self.live_scored += 1
                logger.info("recommendations of member %s scored live: the precomputed "
                            "lists are too short for k=%d, category=%r", member_id, k,
                            None if category is None else category[:80])
            return self._recommend_with_categories(rec_row, k, exclude_purchased, category,
                                                   n_categories)
        key = (k, bool(exclude_purchased), category, n_categories)
        found = self._cold_answers.get(key)
        if found is None:
            found = self._recommend_with_categories(-1, k, exclude_purchased, category,
                                                    n_categories)
            if len(self._cold_answers) < 256:
                self._cold_answers[key] = found
        return [dict(x) for x in found[0]], [dict(x) for x in found[1]]

    def _precomputed_answer(self, rec_row: int, k: int, exclude_purchased: bool,
                            category: str | None, n_categories: int) -> tuple | None:
        """The answer from the training-time lists; None when they are too short.

        A category's items are taken in list order: the live answer when at least
        ``k`` of them are in the list, or when the list holds every item scored.
        """
        pre = self.precomputed
        if pre is None or k > pre.items.shape[1] or n_categories > pre.categories.shape[1]:
            return None
        items, scores = pre.item_list(rec_row, exclude_purchased)
        if category is not None:
            code = self.category_code(category)
            if code < 0:
                items = items[:0]
            else:
                valid = items >= 0
                inside = valid & (self.item_category[np.where(valid, items, 0)] == code)
                if inside.sum() < k and valid.all():  # more may lie beyond the list
                    return None
                items, scores = items[inside], scores[inside]
        top = []
        if n_categories:
            codes = pre.categories[rec_row, :n_categories].tolist()
            cat_scores = pre.category_scores[rec_row, :n_categories].tolist()
            top = [{"category": str(self.categories[c]), "score": s}
                   for c, s in zip(codes, cat_scores) if c >= 0]
        return self._item_dicts(items[:k], scores[:k]), top

    def _recommend_with_categories(self, rec_row: int, k: int, exclude_purchased: bool,
                                   category: str | None, n_categories: int) -> tuple[list, list]:
        rows = np.array([rec_row])
        dense = self.recommender.score(rows)[0]
        top = self._top_categories(dense, n_categories) if n_categories else []
        if exclude_purchased:  # rarely asked: score again, purchases masked
            dense = self.recommender.score(rows, exclude_purchased=True)[0]
        if category is not None and self.category_code(category) < 0:
            return [], top
        return self._top_items(dense, k, category), top

    def _top_items(self, dense: np.ndarray, k: int, category: str | None) -> list[dict]:
        """Top ``k`` of one member's dense item scores, of ``category`` only if given."""
        if category is not None:
            masked = np.full_like(dense, -np.inf)
            inside = self.item_category == self.category_code(category)
            masked[inside] = dense[inside]
            dense = masked
        items, scores = top_k(dense[None, :], k)
        return self._item_dicts(items[0], scores[0])

    def _item_dicts(self, items: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        return [
            {"item_id": str(self.item_ids[i]), "name": str(self.item_names[i]),
             "category": str(self.categories[self.item_category[i]]), "score": float(s)}
            for i, s in zip(items.tolist(), scores.tolist()) if i >= 0
        ]

    def _top_categories(self, dense: np.ndarray, k: int) -> list[dict[str, Any]]:
        """Top ``k`` categories of one member's dense item scores, by their best item."""
        best = np.full(len(self.categories), -np.inf, dtype=np.float32)
        best[self._categories_present] = np.maximum.reduceat(
            dense[self._category_order], self._category_starts
        )
        codes, scores = top_k(best[None, :], k)
        return [{"category": str(self.categories[c]), "score": float(s)}
                for c, s in zip(codes[0].tolist(), scores[0].tolist()) if c >= 0]

    def smoke_check(self) -> None:
        """A quick prediction on one known and one unknown member; raises if anything is off.

        Raises
        ------
        DataError
            Naming what failed, so a server can refuse to swap this version in.
        """
        try:
            if len(self.members) == 0:
                raise DataError("the member table is empty")
            member = str(self.members.ids[0])
            profile = self.profile(member)
            if profile is None or profile["segment"] is None:
                raise DataError(f"member {member} has no profile")
            for who in (member, "\x00smoke-check-unknown"):
                recs = self.recommend(who, k=3)
                if not recs or not all(math.isfinite(r["score"]) for r in recs):
                    raise DataError(f"no finite recommendations for {who!r}")
            self.recommend_categories(member, k=2)
        except DataError as exc:
            raise DataError(f"version {self.version} failed its smoke check: {exc}") from exc
        except Exception as exc:  # any failure means the bundle must not be served
            raise DataError(f"version {self.version} failed its smoke check: "
                            f"{type(exc).__name__}: {exc}") from exc


def load_bundle(artifacts_dir: str | os.PathLike, version: str | None = None) -> ModelBundle:
    """Load and verify ``version`` (default: current) of ``artifacts_dir`` into a bundle.

    Raises
    ------
    ArtifactError
        When the version is missing, incomplete, altered or written by
        incompatible libraries (see :func:`training.artifacts.store.open_version`),
        or its member table lacks a column of the schema or holds a wrong type
        (:func:`training.artifacts.read_members_table`).
    DataError
        When its member table repeats a member id.
    """
    opened = open_version(artifacts_dir, version)
    members = MemberTable.from_arrow(read_members_table(opened))
    recommender = load_recommender(opened)
    item_category = opened.load_array(schema.ITEM_CATEGORY, mmap=False)
    bundle = ModelBundle(opened.version, opened.manifest, members, recommender,
                         opened.load_frame(schema.ITEMS), item_category,
                         load_precomputed(opened))
    bundle.response = load_response_inputs(opened, members.ids)
    bundle.uplift = load_member_uplift(opened, members.ids)
    bundle.horizon = load_horizon_scorer(opened)
    logger.info("loaded version %s: %d members, %d items, %d categories", bundle.version,
                len(members), len(bundle.item_ids), len(bundle.categories))
    return bundle


def _check_k(k, name: str) -> None:
    if not isinstance(k, int) or not 1 <= k <= 1000:
        raise DataError(f"{name}={k!r} should be an integer between 1 and 1000.")


def _num(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _item_metadata(items: pd.DataFrame, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Names and prices aligned with ``item_ids`` (name: the id; price: the median)."""
    table = items.drop_duplicates("item_id").set_index(items["item_id"].astype(str)
                                                       .drop_duplicates())
    table = table.reindex(item_ids)
    names = (table["name"].astype(object) if "name" in table else pd.Series(index=table.index))
    names = np.where(names.notna().to_numpy(), names.astype(str).to_numpy(), item_ids)
    price = (pd.to_numeric(table["price"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
             if "price" in table else np.full(len(item_ids), np.nan))
    fallback = float(np.nanmedian(price)) if np.isfinite(price).any() else 1.0
    price = np.where(np.isfinite(price) & (price > 0), price, fallback)
    return np.asarray(names, dtype=str), price


def _best_per_group(scores: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of the highest score in each group (-1 for empty groups)."""
    order = np.lexsort((-scores, groups))
    first = np.full(n_groups, -1, dtype=np.int64)
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    first[sorted_groups[starts]] = order[starts]
    return first


def _category_codes(lists: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """Lists of category names to codes (n, 3): the first three known names, -1 after them.

    Parameters
    ----------
    lists : ndarray of object, shape (n,)
        Tuples of category names (``MemberTable.lists["top_categories"]``).
    categories : ndarray of str, sorted
    """
    n = len(lists)
    out = np.full((n, N_RECOMMENDED_CATEGORIES), -1, dtype=np.int32)
    if n == 0 or len(categories) == 0:
        return out
    # Members share a few thousand distinct lists: code each distinct one once.
    values = np.empty(n, dtype=object)
    values[:] = list(lists)
    inverse, distinct = pd.factorize(values, use_na_sentinel=False)
    if len(distinct) < n:
        return _category_codes(distinct, categories)[inverse]
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=n)
    if lengths.sum() == 0:
        return out
    names = np.array(list(chain.from_iterable(lists)), dtype=str)
    rows = np.repeat(np.arange(n), lengths)
    pos = np.minimum(np.searchsorted(categories, names), len(categories) - 1)
    known = categories[pos] == names
    rows, pos = rows[known], pos[known]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # place among the row's known
    keep = rank < N_RECOMMENDED_CATEGORIES
    out[rows[keep], rank[keep]] = pos[keep]
    return out

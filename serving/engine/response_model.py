"""The engine's P(redeem | member, template) from the trained offer-response model.

A version trained with an :class:`~models.offer_response.OfferResponseModel`
holds the model as numbers (``response_model.json``, never unpickled) and the
member features it reads,
as of the version's ``as_of`` (``response_features.parquet``, see
:data:`training.artifacts.schema.RESPONSE_FEATURES`). :func:`load_response_inputs`
reads both through the verified version; :func:`build_template_response`
resolves the catalog's templates to the model's offer features once; and
:func:`model_p` gives P(redeem) of member table rows for every template,
feeding the model exactly the features it was trained on:

=================== ==========================================================
model feature       the engine's value for (member, template)
=================== ==========================================================
member features     the member's row of ``response_features`` (NaN: unknown)
``type``            the model's type with the template's (alias-resolved) name
``depth``           percent values: ``amount / 100``; other values: unknown
``n_categories``    1 for a category or item target, 0 for the whole basket
``population_share`` everyone's purchase share in the target category (1: basket)
``category_share``  the member's purchase share in it (1: basket; NaN: no purchases)
``lift``            ``category_share / population_share``
``item_purchases``  not used: the bundle keeps no per-member item counts
product features    not used (``item_recent_purchases``, ``item_coupon_lines``,
                    :mod:`models.offer_response.products`)
=================== ==========================================================

The model is the version's :meth:`~models.offer_response.OfferResponseModel.engine_variant`:
the same estimator fitted without the item-level features, which a template has not
(scoring the full model with them unknown misjudged P by 0.028 Brier on Complete
Journey; the data's own offers, :mod:`serving.engine.data_offers`, use the full model).

A template whose type the model never saw in training (or whose catalog entry
states its own ``p_redeem``) gets the old estimate,
``prior(type) x responsiveness(member) x (0.5 + 0.5 x lift)`` (the catalog's
prior for the type scaled by the member's affinity), and its decisions carry
the reason code :data:`TYPE_PRIOR_CODE` naming that assumption. The engine
computes all this once per (member, template) at load when the scores fit in
memory (:func:`~serving.engine.scoring.with_static_scores`), so ``decide``
only reads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.offer_response import OfferResponseModel
from models.offer_response.export import import_model
from models.offer_response.prior import TYPE_ALIASES, normalise_type
from serving.engine.catalog.schema import OFFER_TYPES
from training.artifacts import schema

logger = logging.getLogger(__name__)

#: Reason code of a decision whose P(redeem) is the type's prior, not the learned model's.
TYPE_PRIOR_CODE = "P_REDEEM_TYPE_PRIOR"
#: Value kinds whose amount is a percentage (the model's depth is a share, 0..1).
_PERCENT_KINDS = ("percent_off", "cashback_percent")
_CHUNK = 2_000  # members per model call (bounds the matrix)


@dataclass(frozen=True, eq=False)
class ResponseInputs:
    """The trained response model and its member features in member table order.

    Attributes
    ----------
    model : OfferResponseModel
    members : ndarray of float64, shape (n_members, n_columns)
        ``model.member_columns_`` of each member table row (NaN: not in the file).
    """

    model: Any
    members: np.ndarray


@dataclass(frozen=True, eq=False)
class TemplateResponse:
    """:class:`ResponseInputs` resolved against a catalog's templates.

    Attributes
    ----------
    inputs : ResponseInputs
    model_type : tuple of (str or None)
        Per template, the model's type of the same name; None: never seen in training.
    learned : ndarray of bool, shape (T,)
        Templates whose P(redeem) comes from the model.
    depth : ndarray of float64, shape (T,)
    """

    inputs: ResponseInputs
    model_type: tuple[str | None, ...]
    learned: np.ndarray
    depth: np.ndarray


def load_response_inputs(opened, member_ids: np.ndarray) -> ResponseInputs | None:
    """The version's response model and member features, or None when it has no learned
    model (priors only, or a version written before the features were saved).

    ``opened`` is a verified :class:`~training.artifacts.store.OpenedVersion`. The
    model is read from its JSON export (:mod:`models.offer_response.export`):
    serving never unpickles.
    """
    features = f"{schema.RESPONSE_FEATURES}.parquet"
    if not (opened.has(features) and opened.has(f"{schema.RESPONSE_MODEL}.json")):
        return None
    model = import_model(opened.load_json(schema.RESPONSE_MODEL))
    frame = opened.load_frame(schema.RESPONSE_FEATURES)
    return response_inputs(model, frame, member_ids)


def response_inputs(model: OfferResponseModel, frame: pd.DataFrame,
                    member_ids: np.ndarray) -> ResponseInputs:
    """``frame`` (``member_id`` plus the model's member columns) aligned with ``member_ids``."""
    frame = frame.set_index(frame["member_id"].astype(str))
    columns = list(model.member_columns_)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        logger.warning("response features lack %s: scored as unknown", missing[:5])
    aligned = frame.reindex(pd.Index(np.asarray(member_ids, dtype=str)))
    members = np.column_stack([
        pd.to_numeric(aligned[c], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if c in aligned.columns else np.full(len(aligned), np.nan) for c in columns
    ]) if columns else np.empty((len(aligned), 0))
    members[~np.isfinite(members)] = np.nan
    members.flags.writeable = False
    return ResponseInputs(model=model, members=members)


def canonical_type(name: str) -> str:
    """A type name with the priors' aliases resolved (``percent_off`` -> ``percent_discount``)."""
    key = normalise_type(name)
    return TYPE_ALIASES.get(key, key)


def matching_types(trained: tuple[str, ...] | list[str],
                   types: tuple[str, ...]) -> tuple[str | None, ...]:
    """For each catalog template type, the trained type (a data offer type) it stands for, or
    None. A catalog type matches by its own name or its prior's key (``personalised_discount``
    -> ``percent_discount``, which ``percent_off`` is too), aliases resolved.
    """
    by_canonical = {canonical_type(t): t for t in trained}
    return tuple(by_canonical.get(canonical_type(t)) or by_canonical.get(
        canonical_type(OFFER_TYPES.get(t, (t,))[0])) for t in types)


def build_template_response(inputs: ResponseInputs | None, types: tuple[str, ...],
                            value_kinds: tuple[str, ...], amount: np.ndarray,
                            stated: tuple[bool, ...] = ()) -> TemplateResponse | None:
    """Resolve templates (their types, value kinds and amounts) to the model's offer features.

    Templates whose catalog entry states its own ``p_redeem`` (``stated``) keep it.
    """
    if inputs is None:
        return None
    model_type = matching_types(inputs.model.types_, types)
    percent = np.array([k in _PERCENT_KINDS for k in value_kinds], dtype=bool)
    depth = np.where(percent, np.asarray(amount, dtype="float64") / 100.0, np.nan)
    learned = np.array([t is not None for t in model_type], dtype=bool)
    if stated:
        learned &= ~np.asarray(stated, dtype=bool)
    for values in (depth, learned):
        values.flags.writeable = False
    return TemplateResponse(inputs=inputs, model_type=model_type, learned=learned, depth=depth)


def model_p(response: TemplateResponse, rows: np.ndarray, bought: np.ndarray,
            category: np.ndarray, item: np.ndarray, share: np.ndarray,
            population: np.ndarray) -> np.ndarray:
    """(n, T) P(redeem) under the model for member table ``rows`` (-1: unknown member);
    NaN in the columns of templates the model cannot score (``~response.learned``).

    ``bought`` (n,) says which members have purchases; ``category`` and ``item``
    (n, T) are the targets (-1: none), ``share`` the member's purchase share in
    the category (NaN: none or unknown) and ``population`` everyone's (NaN: no
    category), as in
    :func:`~serving.engine.scoring.static_scores`.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n, n_t = category.shape
    out = np.full((n, n_t), np.nan)
    cols = np.flatnonzero(response.learned)
    if n == 0 or len(cols) == 0:
        return out
    members = response.inputs.members
    known = rows >= 0
    member_block = np.full((n, members.shape[1]), np.nan)
    member_block[known] = members[rows[known]]
    targeted = (category[:, cols] >= 0) | (item[:, cols] >= 0)
    pop = np.where(targeted, population[:, cols], 1.0)
    # A whole-basket offer: share 1 for a member who bought anything, as in training.
    mine = np.where(targeted, share[:, cols], np.where(bought[:, None], 1.0, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(pop > 0, mine / pop, np.nan)
    # The model's matrix, laid out as OfferResponseModel._rows_matrix lays out training rows
    # (members, depth, n_categories, population_share, type one-hot, affinity), built in
    # numpy: a DataFrame per request costs more than the prediction (tests pin the equality).
    model, k = response.inputs.model.engine_variant(), len(cols)
    kinds = np.array([response.model_type[c] for c in cols], dtype=object)
    one_hot = (kinds[:, None] == np.asarray(model.types_, dtype=object)[None, :]).astype(float)
    n_products = len(getattr(model, "product_columns_", []))  # templates list no items: unknown
    p = np.empty(n * k)
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        m = b - a
        X = np.concatenate([
            np.repeat(member_block[a:b], k, axis=0),
            np.tile(response.depth[cols], m)[:, None],
            targeted[a:b].astype("float64").reshape(-1, 1),
            pop[a:b].reshape(-1, 1),
            np.tile(one_hot, (m, 1)),
            mine[a:b].reshape(-1, 1), lift[a:b].reshape(-1, 1), np.full((m * k, 1), np.nan),
            np.full((m * k, n_products), np.nan),  # none for the engine variant
        ], axis=1)
        p[a * k:b * k] = model.estimator_.predict_proba(X[:, model.used_features_])[:, 1]
    out[:, cols] = p.reshape(n, len(cols))
    return out

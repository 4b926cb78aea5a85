"""Turning member features, offer specs and affinity into the offer-response model's matrices.

Public functions here validate; they are shared by the fitted model and the
type priors of :mod:`models.offer_response.model`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.errors import DataError
from features.profile_features import CURRENT_ONLY
from models.offer_response.affinity import AFFINITY_FEATURES, OfferAffinity

#: Prefix of member feature columns in training rows.
MEMBER_PREFIX = "m__"


def select_member_columns(rows: pd.DataFrame) -> list[str]:
    """Member features a model learns from: numeric or boolean ``m__*`` columns of ``rows``.

    Per-category and per-department shares (names with ``"__"``, e.g.
    ``cat_share__dairy``) are left out: their set depends on the data and the
    cutoff, and the offer's own categories are covered by the affinity features.
    So are the members file's current-only values
    (:data:`features.profile_features.CURRENT_ONLY`: today's, not as of a past send, so
    learning from them would leak the future into training rows), and columns no row
    has a value in (a members file without ages gives an ``age`` column of missing
    values).

    Returns
    -------
    list of str
        Names without the prefix, in column order.
    """
    names = []
    for column, dtype in rows.dtypes.items():
        column = str(column)
        name = column[len(MEMBER_PREFIX):]
        if not column.startswith(MEMBER_PREFIX) or "__" in name or name in CURRENT_ONLY:
            continue
        if not rows[column].notna().any():
            continue
        if pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
        ):
            names.append(name)
    return names


def member_matrix(frame: pd.DataFrame, columns: list[str], *, prefixed: bool) -> np.ndarray:
    """``frame``'s member feature columns as float64 (NA and inf as NaN).

    Parameters
    ----------
    frame : DataFrame
        Training rows (``prefixed=True``: columns named ``m__<name>``) or a
        member feature frame (``prefixed=False``).
    columns : list of str
        Feature names without prefix.

    Raises
    ------
    DataError
        If a column is missing.
    """
    names = [MEMBER_PREFIX + c if prefixed else c for c in columns]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataError(
            f"the member features lack column(s) {missing[:10]}"
            f"{' and more' if len(missing) > 10 else ''}; build them with "
            "features.member_features.build_member_features, as in training."
        )
    if not names:
        return np.empty((len(frame), 0))
    out = np.column_stack([
        frame[n].astype("float64").to_numpy(dtype="float64", na_value=np.nan) for n in names
    ])
    out[~np.isfinite(out)] = np.nan
    return out


def offer_matrix(frame: pd.DataFrame, types: list[str],
                 normalise: Callable[[str], str]) -> np.ndarray:
    """Offer features: depth, number of target categories, population share, type one-hot.

    ``frame`` is either training rows (``type``, ``depth``, ``n_categories``,
    ``population_share``) or offer specs with a ``population_share`` column.
    A type not in ``types`` gets all zeros in the one-hot block.
    """
    n_categories = (
        frame["n_categories"] if "n_categories" in frame.columns
        else frame["categories"].map(len)
    )
    normalised = frame["type"].map(normalise).to_numpy()
    one_hot = (normalised[:, None] == np.asarray(types, dtype=object)[None, :]).astype("float64")
    return np.column_stack([
        frame["depth"].to_numpy(dtype="float64"),
        n_categories.to_numpy(dtype="float64"),
        frame["population_share"].to_numpy(dtype="float64"),
        one_hot,
    ])


def resolve_affinity(affinity, member_features: pd.DataFrame,
                     offers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The affinity argument of ``predict_proba`` as arrays.

    Parameters
    ----------
    affinity : OfferAffinity, ndarray or callable
        See :meth:`models.offer_response.model.OfferResponseModel.predict_proba`.
    member_features : DataFrame
        Indexed by member id: the rows of the result.
    offers : DataFrame
        Validated offer specs: the columns of the result.

    Returns
    -------
    stacked : ndarray, shape (n_members, n_offers, 3)
        :data:`AFFINITY_FEATURES` (unknown ones NaN).
    population_share : ndarray, shape (n_offers,)

    Raises
    ------
    DataError
        On a shape or id mismatch.
    """
    n_m, n_o = len(member_features), len(offers)
    member_ids = member_features.index.astype(str).to_numpy()
    offer_ids = offers["offer_id"].to_numpy(dtype=str)
    if callable(affinity) and not isinstance(affinity, OfferAffinity):
        affinity = affinity(member_ids, offers)
    if isinstance(affinity, OfferAffinity):
        rows = _positions(affinity.member_ids, member_ids, "member")
        cols = _positions(affinity.offer_ids, offer_ids, "offer")
        stacked = affinity.stack()[np.ix_(rows, cols)]
        return stacked, np.asarray(affinity.population_share, dtype="float64")[cols]
    share = np.asarray(affinity, dtype="float64")
    if share.shape != (n_m, n_o):
        raise DataError(
            f"affinity has shape {share.shape}; expected (n_members, n_offers) = ({n_m}, {n_o})."
        )
    stacked = np.full((n_m, n_o, len(AFFINITY_FEATURES)), np.nan)
    stacked[..., 0] = share
    return stacked, np.full(n_o, np.nan)


def resolve_products(affinity, member_features: pd.DataFrame, offers: pd.DataFrame,
                     names: list[str]) -> np.ndarray:
    """The product features ``names`` of an already resolved ``affinity`` (an
    :class:`OfferAffinity` or an array) as shape (n_members, n_offers, len(names)); NaN
    where the affinity does not carry them."""
    n_m, n_o = len(member_features), len(offers)
    out = np.full((n_m, n_o, len(names)), np.nan)
    products = getattr(affinity, "products", None) or {}
    if not names or not products:
        return out
    rows = _positions(affinity.member_ids, member_features.index.astype(str).to_numpy(), "member")
    cols = _positions(affinity.offer_ids, offers["offer_id"].to_numpy(dtype=str), "offer")
    for k, name in enumerate(names):
        if name in products:
            out[..., k] = np.asarray(products[name], dtype="float64")[np.ix_(rows, cols)]
    return out


def _positions(have: np.ndarray, want: np.ndarray, what: str) -> np.ndarray:
    index = pd.Index(np.asarray(have, dtype=str))
    if len(have) == len(want) and (index == want).all():
        return np.arange(len(want))
    if not index.is_unique:
        raise DataError(f"the affinity's {what} ids repeat; give each {what} once.")
    pos = index.get_indexer(want)
    if (pos < 0).any():
        absent = want[pos < 0][:5]
        raise DataError(f"the affinity has no {what}(s) {list(absent)}; compute it for the same "
                        f"{what}s that are scored.")
    return pos

"""The offer-response model: P(redeem | member, offer).

Two variants share one interface, ``predict_proba(member_features, offers,
affinity) -> array (n_members, n_offers)``:

- :class:`OfferResponseModel` learns from past sends and redemptions
  (:func:`models.offer_response.rows.build_response_rows`): member features at
  the send, the offer's type and depth, and the member's affinity to the offer;
- :class:`OfferResponsePrior` needs no history: a documented prior per offer
  type scaled by affinity.

:func:`fit_offer_response` picks the variant from how much history there is.

>>> model = fit_offer_response(dataset, campaigns_extra="data/cj")   # doctest: +SKIP
>>> aff = compute_affinity(dataset, offers, as_of, features.index)  # doctest: +SKIP
>>> model.predict_proba(features, offers, aff).shape                 # doctest: +SKIP
(2469, 27)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from features.dataset import Dataset
from features.errors import ConfigError, DataError, NotFittedError
from models.member_sample import member_sample, sample_fraction
from models.member_source import (
    MemberSource,
    events_of,
    member_source,
    members_with_events,
    require_as_of,
)
from models.metrics import pr_auc, roc_auc, standard_errors
from models.offer_response.affinity import AFFINITY_FEATURES, OfferAffinity
from models.offer_response.inputs import (
    MEMBER_PREFIX,
    member_matrix,
    offer_matrix,
    resolve_affinity,
    resolve_products,
    select_member_columns,
)
from models.offer_response.prior import (
    DEFAULT_PRIOR,
    DEFAULT_PRIORS,
    TYPE_ALIASES,
    OfferResponsePrior,
    normalise_type,
)
from models.offer_response.products import PRODUCT_FEATURES
from models.offer_response.rows import (
    LABEL,
    build_response_rows,
    default_as_of,
    label_sends,
)
from models.offer_response.specs import offer_specs_from_events, validate_offer_specs

logger = logging.getLogger(__name__)

ESTIMATORS = ("auto", "hgb", "logistic")
#: Sends beyond which the model learns from the sends of a seeded member sample.
DEFAULT_MAX_SENDS = 250_000


def _response_member_features(dataset: Dataset, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Member features without the spend shares, which the model leaves out anyway."""
    from features.member_features import build_member_features

    return build_member_features(dataset, cutoff, spend_mix=False)


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _make_estimator(kind: str, random_state):
    if kind == "hgb":
        return HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=100, max_leaf_nodes=7, min_samples_leaf=20,
            l2_regularization=1.0, early_stopping=False, random_state=random_state,
        )
    return make_pipeline(
        FunctionTransformer(_signed_log1p),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=0.1, max_iter=2000),
    )


class OfferResponseModel:
    """P(redeem | member, offer) learned from past sends.

    Features of a (member, offer) pair: the member's numeric features
    (:func:`~models.offer_response.inputs.select_member_columns`: recency,
    frequency, spend, purchase cycle, past offers sent / redeemed and the
    redemption rate, ...), the offer's depth, number of target categories, the
    population's spend share in them and its type (one-hot over the types seen
    in training; an unseen type gets all zeros), the member's affinity to
    the offer (:mod:`models.offer_response.affinity`) and, when the rows carry
    them, the member's recent purchases and coupon use of the offer's own items
    (:mod:`models.offer_response.products`).

    Parameters
    ----------
    estimator : {"auto", "hgb", "logistic"}
        ``"hgb"``: a histogram gradient-boosting classifier; ``"logistic"``:
        L2-regularised logistic regression on log-scaled, standardised features;
        ``"auto"``: fit both on the earlier 75% of the sends (by send time),
        keep the one with the better ROC-AUC on the later 25%, refit it on all.
    validation_fraction : float
        Share of the latest sends held out by ``"auto"``.
    random_state : int or None

    Attributes
    ----------
    estimator_ : fitted scikit-learn classifier
    estimator_kind_ : str
        ``"hgb"`` or ``"logistic"``.
    member_columns_ : list of str
        Member feature columns used (numeric ones, not per-category shares).
    types_ : list of str
        Normalised offer types seen in training (one-hot encoded).
    product_columns_ : list of str
        The :data:`~models.offer_response.products.PRODUCT_FEATURES` the rows held.
    engine_model_ : OfferResponseModel or None
        The same estimator fitted without the item-level features (item purchase
        counts, product features) that the engine cannot have for catalog
        templates (:meth:`engine_variant`); None when no row has any.
    feature_names_ : list of str
        Names of the features used, in matrix order.
    used_features_ : ndarray of bool
        Which candidate features were used (those not all-NaN in training).
    validation_scores_ : dict
        ROC-AUC and PR-AUC per candidate on the held-out sends (``"auto"`` only).
    validation_se_ : dict
        Their standard errors over resamples of those sends
        (:func:`models.metrics.standard_errors`).
    base_rate_ : float
        Share of training sends redeemed.
    n_rows_ : int
        Training sends.
    n_sends_total_ : int
        Sends before ``as_of``, of every member (set by :func:`fit_offer_response`).
    sample_fraction_ : float
        Share of the members with sends whose sends were learnt from (1.0: all;
        set by :func:`fit_offer_response`).
    """

    def __init__(self, estimator: str = "auto", validation_fraction: float = 0.25,
                 random_state=0):
        self.estimator = estimator
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, rows: pd.DataFrame) -> OfferResponseModel:
        """Learn from labelled rows of :func:`~models.offer_response.rows.build_response_rows`.

        Raises
        ------
        ConfigError
            If ``estimator`` or ``validation_fraction`` is invalid.
        DataError
            If a column is missing or the rows hold fewer than two classes.
        """
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"estimator={self.estimator!r} should be one of {ESTIMATORS}.")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(
                f"validation_fraction={self.validation_fraction} should be in (0, 1)."
            )
        needed = (LABEL, "sent_at", "type", "depth", "n_categories", "population_share",
                  *AFFINITY_FEATURES)
        missing = [c for c in needed if c not in rows.columns]
        if missing:
            raise DataError(f"the training rows lack column(s) {missing}; build them with "
                            "build_response_rows.")
        y = rows[LABEL].to_numpy(dtype=bool)
        if len(np.unique(y)) < 2:
            raise DataError(f"the {len(y)} training rows need both redeemed and not-redeemed "
                            "sends; use OfferResponsePrior when there is too little history.")
        self.member_columns_ = select_member_columns(rows)
        self.types_ = sorted({normalise_type(t) for t in rows["type"]})
        self.product_columns_ = [c for c in PRODUCT_FEATURES if c in rows.columns]
        X = self._rows_matrix(rows, masked=False)
        # Features never observed in training (e.g. depth on data with no depths) carry
        # nothing to learn and trip the estimators: they are left out.
        self.used_features_ = ~np.isnan(X).all(axis=0)
        X = X[:, self.used_features_]
        kind = self.estimator
        self.validation_scores_, self.validation_se_ = {}, {}
        if kind == "auto":
            kind = self._select(X, y, rows["sent_at"].to_numpy())
        self.estimator_ = _make_estimator(kind, self.random_state).fit(X, y)
        self.estimator_kind_ = kind
        self.base_rate_ = float(y.mean())
        self.n_rows_ = len(y)
        logger.info("offer-response model (%s) fitted on %d sends, %.1f%% redeemed",
                    kind, len(y), 100 * self.base_rate_)
        self.engine_model_ = self._fit_engine_model(rows, kind)
        return self

    def _fit_engine_model(self, rows: pd.DataFrame, kind: str) -> OfferResponseModel | None:
        """The same model without the item-level features (``item_purchases`` and the
        product features), which the engine cannot have for catalog templates; None
        when the rows hold none. Fed unknowns instead, the full model misjudges
        (Brier 0.028 worse on later Complete Journey sends); refitted without them it
        stays within 0.002 of the full model's Brier (bench/RESULTS.md, issue 12)."""
        products = self._product_columns()
        if rows[["item_purchases", *products]].isna().all(axis=None):
            return None  # no offer listed items: the model reads none of them already
        reduced = rows.drop(columns=products).assign(item_purchases=np.nan)
        return OfferResponseModel(estimator=kind, random_state=self.random_state).fit(reduced)

    def engine_variant(self) -> OfferResponseModel:
        """The model the offer engine uses: :attr:`engine_model_` when fitted, else this one."""
        return getattr(self, "engine_model_", None) or self

    def _select(self, X: np.ndarray, y: np.ndarray, sent_at: np.ndarray) -> str:
        split = np.quantile(sent_at.astype("int64"), 1 - self.validation_fraction)
        late = sent_at.astype("int64") >= split
        if late.all() or not late.any() or len(np.unique(y[~late])) < 2 \
                or len(np.unique(y[late])) < 2:
            logger.info("too few sends to compare estimators on later sends; using logistic")
            return "logistic"
        for kind in ("logistic", "hgb"):
            model = _make_estimator(kind, self.random_state).fit(X[~late], y[~late])
            p = model.predict_proba(X[late])[:, 1]
            self.validation_scores_[kind] = {"roc_auc": roc_auc(y[late], p),
                                              "pr_auc": pr_auc(y[late], p)}
            self.validation_se_[kind] = standard_errors(
                y[late], p, {"roc_auc": roc_auc, "pr_auc": pr_auc})
        best = max(self.validation_scores_, key=lambda k: self.validation_scores_[k]["roc_auc"])
        logger.info("estimator chosen on the latest %d sends: %s (%s)",
                    int(late.sum()), best, self.validation_scores_)
        return best

    @property
    def feature_names_(self) -> list[str]:
        self._check_fitted()
        names = [*self.member_columns_, *self._offer_names(), *AFFINITY_FEATURES,
                 *self._product_columns()]
        return [n for n, used in zip(names, self.used_features_) if used]

    def _offer_names(self) -> list[str]:
        return ["depth", "n_categories", "population_share", *(f"type={t}" for t in self.types_)]

    def _product_columns(self) -> list[str]:
        """Product features learned from (none for a model fitted before they existed)."""
        return list(getattr(self, "product_columns_", []))

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "training rows (build_response_rows) before using this model."
            )

    def _rows_matrix(self, rows: pd.DataFrame, masked: bool = True) -> np.ndarray:
        members = member_matrix(rows, self.member_columns_, prefixed=True)
        offers = offer_matrix(rows, self.types_, normalise_type)
        affinity = rows[list(AFFINITY_FEATURES)].to_numpy(dtype="float64")
        products = self._product_columns()
        missing = [c for c in products if c not in rows.columns]
        if missing:
            raise DataError(f"the rows lack column(s) {missing}; build them with "
                            "build_response_rows.")
        X = np.hstack([members, offers, affinity,
                       rows[products].to_numpy(dtype="float64").reshape(len(rows), -1)])
        return X[:, self.used_features_] if masked else X

    def predict_proba_rows(self, rows: pd.DataFrame) -> np.ndarray:
        """P(redeem) of each row of a :func:`build_response_rows` frame, shape (n_rows,)."""
        self._check_fitted()
        return self.estimator_.predict_proba(self._rows_matrix(rows))[:, 1]

    def predict_proba(self, member_features: pd.DataFrame, offers: pd.DataFrame, affinity,
                      *, chunk_rows: int = 200_000) -> np.ndarray:
        """P(redeem) of every member for every offer.

        Parameters
        ----------
        member_features : DataFrame, shape (n_members, ...)
            From :func:`features.member_features.build_member_features`, indexed
            by member id; must hold :attr:`member_columns_`.
        offers : DataFrame, shape (n_offers, ...)
            Offer specs.
        affinity : OfferAffinity, ndarray or callable
            Precomputed :class:`~models.offer_response.affinity.OfferAffinity`
            for these members and offers (the fast path; its ids must match);
            its ``products`` give the product features (absent: unknown);
            an array of shape (n_members, n_offers) of category shares (other
            affinity features then count as unknown); or a callable
            ``(member_ids, offers) -> OfferAffinity``.
        chunk_rows : int
            Member-offer pairs scored at a time (bounds memory).

        Returns
        -------
        ndarray of float, shape (n_members, n_offers)
        """
        self._check_fitted()
        offers = validate_offer_specs(offers)
        n_m, n_o = len(member_features), len(offers)
        if callable(affinity) and not isinstance(affinity, OfferAffinity):
            affinity = affinity(member_features.index.astype(str).to_numpy(), offers)
        stacked, population = resolve_affinity(affinity, member_features, offers)
        products = resolve_products(affinity, member_features, offers, self._product_columns())
        stacked = np.concatenate([stacked, products], axis=-1)
        if n_m == 0 or n_o == 0:
            return np.empty((n_m, n_o))
        members = member_matrix(member_features, self.member_columns_, prefixed=False)
        offer_block = offer_matrix(offers.assign(population_share=population), self.types_,
                                   normalise_type)
        n_mem, n_off = members.shape[1], offer_block.shape[1]
        used = self.used_features_
        members = members[:, used[:n_mem]]
        offer_block = offer_block[:, used[n_mem:n_mem + n_off]]
        stacked = stacked[..., used[n_mem + n_off:]]
        widths = np.cumsum([0, members.shape[1], offer_block.shape[1], stacked.shape[-1]])
        out = np.empty((n_m, n_o))
        per_chunk = max(1, chunk_rows // max(n_o, 1))
        for start in range(0, n_m, per_chunk):
            stop = min(n_m, start + per_chunk)
            X = np.empty((stop - start, n_o, widths[-1]))
            X[:, :, widths[0]:widths[1]] = members[start:stop, None, :]
            X[:, :, widths[1]:widths[2]] = offer_block[None, :, :]
            X[:, :, widths[2]:widths[3]] = stacked[start:stop]
            flat = X.reshape((stop - start) * n_o, widths[-1])
            out[start:stop] = self.estimator_.predict_proba(flat)[:, 1].reshape(stop - start, n_o)
        return out


def fit_offer_response(
    dataset: Dataset | MemberSource,
    offers: pd.DataFrame | None = None,
    *,
    campaigns_extra: pd.DataFrame | str | os.PathLike | None = None,
    as_of: pd.Timestamp | str | None = None,
    min_sends: int = 200,
    min_redemptions: int = 20,
    horizon_days: float = 60.0,
    cutoff_freq: str = "D",
    estimator: str = "auto",
    random_state=0,
    max_sends: int | None = DEFAULT_MAX_SENDS,
    on_rows: Callable[[pd.DataFrame, OfferResponseModel], None] | None = None,
) -> OfferResponseModel | OfferResponsePrior:
    """Fit the offer-response variant the data supports.

    An :class:`OfferResponseModel` when ``dataset`` has at least ``min_sends``
    labelled sends and ``min_redemptions`` of them redeemed before ``as_of``;
    otherwise (no offer events, too few, or one class only) an
    :class:`OfferResponsePrior`. The decision is logged at INFO level.

    With a sample (``max_sends``) the rows are built from the sampled
    members' data, on every engine alike (same members, same lines, same
    model). Without one, pandas builds them from the whole data set and an
    engine from the lines of the members who received offers only
    (:meth:`~models.member_source.MemberSource.rows_data`).

    Parameters
    ----------
    dataset : Dataset or MemberSource
        The data, or a :class:`~models.member_source.MemberSource`: its offer
        events choose the members, and only those members' lines are fetched
        (how the relational engines run this step).
    offers : DataFrame, optional
        Offer specs; default :func:`offer_specs_from_events` with ``campaigns_extra``.
    campaigns_extra : DataFrame or path, optional
        See :func:`offer_specs_from_events`.
    as_of, horizon_days, cutoff_freq
        See :func:`build_response_rows`; ``as_of`` is required with a source on an engine.
    estimator, random_state
        See :class:`OfferResponseModel`; ``random_state`` also seeds the sample.
    max_sends : int or None
        When more offers than this were sent before ``as_of``, learn from the
        sends of a seeded random sample of the members who received offers,
        sized to about ``max_sends`` sends (every send, line and event of a
        sampled member is kept; see :mod:`models.member_sample`). Each send
        needs member features at its own send day, so the cost grows with
        sends x send days; the sample bounds time and memory on large data,
        and a quarter of a million sends is plenty for this model's few dozen
        features. None: never sample.
    on_rows : callable, optional
        Called with the training rows and the fitted model when a model is
        learned, e.g. to measure its calibration
        (:func:`~models.offer_response.calibration.later_sends_calibration`)
        without building the rows again.

    Returns
    -------
    OfferResponseModel or OfferResponsePrior
        Fitted.
    """
    source = member_source(dataset)
    if offers is None:
        offers = offer_specs_from_events(source, campaigns_extra)
    offers = validate_offer_specs(offers)
    as_of = require_as_of(dataset, as_of, default_as_of)
    kept, n_total, fraction = _sample_senders(source.offer_events, as_of, max_sends,
                                              random_state)
    sends = label_sends(events_of(source.offer_events, kept), offers, as_of=as_of,
                        horizon_days=horizon_days)
    n_sends, n_redeemed = len(sends), int(sends[LABEL].sum())
    if n_sends < min_sends or n_redeemed < min_redemptions or n_redeemed == n_sends:
        logger.info(
            "offer response: %d labelled sends, %d redeemed (need >= %d and >= %d, both "
            "classes): using the per-type priors (OfferResponsePrior)",
            n_sends, n_redeemed, min_sends, min_redemptions,
        )
        return OfferResponsePrior().fit()
    logger.info("offer response: %d labelled sends, %d redeemed: fitting OfferResponseModel",
                n_sends, n_redeemed)
    data = source.rows_data(kept, sampled=fraction < 1.0)
    rows = build_response_rows(data, offers, as_of, horizon_days=horizon_days,
                               cutoff_freq=cutoff_freq,
                               member_features=_response_member_features)
    model = OfferResponseModel(estimator=estimator, random_state=random_state).fit(rows)
    model.n_sends_total_, model.sample_fraction_ = n_total, fraction
    if on_rows is not None:
        on_rows(rows, model)
    return model


def _sample_senders(events: pd.DataFrame, as_of: pd.Timestamp, max_sends: int | None,
                    random_state) -> tuple[pd.Index, int, float]:
    """The members whose sends the model learns from: a seeded sample with about
    ``max_sends`` sends before ``as_of`` when there are more, else every member sent one.

    Returns the chosen member ids, the number of sends before ``as_of`` and the
    share of the members with sends that was kept.
    """
    senders, n_total = members_with_events(events, as_of, ("sent",))
    fraction = sample_fraction(n_total, max_sends)
    if fraction >= 1.0:
        return senders, n_total, 1.0
    kept = senders[member_sample(senders, fraction, random_state)]
    logger.info("offer response: %d sends before %s; learning from the sends of %d of the %d "
                "members who received offers", n_total, as_of.date(), len(kept), len(senders))
    return kept, n_total, len(kept) / max(len(senders), 1)


__all__ = [
    "DEFAULT_PRIOR", "DEFAULT_PRIORS", "ESTIMATORS", "MEMBER_PREFIX", "TYPE_ALIASES",
    "OfferResponseModel", "OfferResponsePrior", "fit_offer_response", "normalise_type",
]

"""Fit uplift models per offer type and outcome, and validate them on held-out members.

:func:`fit_uplift` builds the rows (:mod:`.rows`), splits the *members* at
random into training and validation members (so no member is on both sides),
and for every offer type and outcome (``spend``, ``retained``):

- fits the chosen meta-learner (:mod:`.learners`) on the training members' rows;
- fits the P(redeem) baseline: a classifier of ``redeemed`` on the training
  members' *sent* rows (what targeting by response would rank on);
- scores the validation members' rows with both and compares their Qini
  curves (:mod:`.metrics`) with random targeting.

The validation table has one row per offer type and outcome (see
:data:`VALIDATION_COLUMNS`); ``better_than_random`` is True when the uplift
model's normalised AUUC is above 0 and above the P(redeem) baseline's.
``normalized_auuc_uplift_se`` and ``auuc_margin_se`` say how far that AUUC, and its
margin over the baseline's, could move by the validation members it was measured on
(:func:`models.uplift.metrics.auuc_standard_errors`): outcomes of single sends are noisy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from features.dataset import Dataset
from features.errors import DataError, NotFittedError
from models.member_sample import sample_ids
from models.member_source import MemberSource, member_source, members_with_events
from models.threads import tree_threads
from models.tree_input import by_columns
from models.uplift.learners import MIN_GROUP_ROWS, make_learner
from models.uplift.metrics import (
    auuc_standard_errors,
    check_experiment,
    gain_at,
    normalized_auuc,
    qini_auc,
    qini_curve,
)
from models.uplift.rows import (
    OUTCOMES,
    ROW_KEYS,
    build_uplift_rows,
    check_experiment_events,
    feature_matrix,
)

logger = logging.getLogger(__name__)

VALIDATION_COLUMNS = (
    "offer_type", "outcome", "learner", "n_train", "n_validation", "treated_share",
    "ate", "auuc_uplift", "auuc_response", "auuc_random",
    "normalized_auuc_uplift", "normalized_auuc_response",
    "normalized_auuc_uplift_se", "auuc_margin_se",
    "gain_at_30_uplift", "gain_at_30_response", "better_than_random",
)  # fmt: skip


@dataclass
class UpliftFit:
    """What :func:`fit_uplift` returns.

    Attributes
    ----------
    models : dict
        ``(offer_type, outcome) -> fitted learner``, fitted on the training members
        (on every member with ``refit=True``).
    response_models : dict
        ``offer_type -> P(redeem)`` classifier of the baseline (training members).
    feature_names : list of str
        Columns of the feature matrix (:func:`models.uplift.rows.feature_matrix`).
    validation : DataFrame
        Columns :data:`VALIDATION_COLUMNS`.
    curves : dict
        ``(offer_type, outcome) -> DataFrame`` of the Qini curves on the
        validation members: ``policy`` (uplift, response, random), ``fraction``, ``gain``.
    validation_members : list of str
        Members held out of training.
    rows : DataFrame
        The rows that were used (with ``validation`` True for held-out members).
    """

    models: dict
    response_models: dict
    feature_names: list[str]
    validation: pd.DataFrame
    curves: dict = field(default_factory=dict)
    validation_members: list[str] = field(default_factory=list)
    rows: pd.DataFrame | None = None

    def predict_rows(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Per row of ``rows`` (as from :func:`build_uplift_rows`): the predicted uplift of
        its offer type, ``uplift_spend`` and ``uplift_retained``, and ``p_redeem``.

        Rows of an offer type without a model get NaN.
        """
        if not self.models:
            raise NotFittedError("This UpliftFit holds no model; call fit_uplift first.")
        X, _ = feature_matrix(rows, self.feature_names)
        out = pd.DataFrame(np.nan, index=rows.index,
                           columns=[f"uplift_{o}" for o in OUTCOMES] + ["p_redeem"])
        types = rows["type"].astype(str).to_numpy()
        for (offer_type, outcome), model in self.models.items():
            mask = types == offer_type
            if mask.any():
                out.loc[mask, f"uplift_{outcome}"] = model.predict(X[mask])
        for offer_type, model in self.response_models.items():
            mask = types == offer_type
            if mask.any() and model is not None:
                with tree_threads("auto", int(mask.sum())):
                    out.loc[mask, "p_redeem"] = model.predict_proba(by_columns(X[mask]))[:, 1]
        return out


def _response_model(X: np.ndarray, redeemed: np.ndarray, random_state,
                    max_iter: int) -> object | None:
    """The P(redeem) baseline, or None when the sends have only one class."""
    if len(np.unique(redeemed)) < 2:
        return None
    model = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.05,
                                           max_leaf_nodes=15, min_samples_leaf=40,
                                           random_state=random_state)
    with tree_threads("auto", len(X)):
        return model.fit(X, redeemed)


#: Members sent or held out beyond which the uplift rows come from a seeded sample.
DEFAULT_MAX_MEMBERS = 50_000


def fit_uplift(dataset: Dataset | MemberSource, as_of, offers: pd.DataFrame, *,
               window_days: float = 14.0,
               learner: str = "x_learner", validation_fraction: float = 0.3,
               refit: bool = False, random_state: int = 0, rows: pd.DataFrame | None = None,
               offer_types: list[str] | None = None, max_iter: int = 150,
               max_members: int | None = DEFAULT_MAX_MEMBERS,
               keep_row_features: bool = True) -> UpliftFit:
    """Uplift models per offer type and outcome, with their validation (module docstring).

    Parameters
    ----------
    dataset : Dataset or MemberSource
        With ``sent`` and ``holdout`` offer events (``docs/data.md``). A
        :class:`~models.member_source.MemberSource` on an engine fetches just
        the lines of the members sent or held out (how the relational engines
        run this step; their features' population values are then those members').
    as_of : timestamp
        What is known; sends whose window is open at ``as_of`` are left out.
    offers : DataFrame
        Offer specs of every offer sent or held out (their ``type`` groups the models).
    window_days : float
        Outcome window after each send.
    learner : str
        ``"x_learner"`` or ``"two_model"`` (:data:`models.uplift.learners.LEARNERS`).
    validation_fraction : float
        Share of members held out of training for validation, in (0, 1).
    refit : bool
        After validating, refit the models on every member.
    random_state : int
        Seeds the member split and the estimators.
    rows : DataFrame, optional
        Rows already built by :func:`models.uplift.rows.build_uplift_rows`.
    offer_types : list of str, optional
        Fit only these offer types (default: every type with enough rows).
    max_iter : int
        Boosting iterations of each estimator (:func:`models.uplift.learners.default_estimator`).
    max_members : int or None
        When more members than this were sent or held out before ``as_of``, learn
        from a seeded sample of that many of them (:func:`models.member_sample.member_sample`):
        their data is all the rows need, so memory and time stop growing with the
        program (at 1M synthetic members, fetching every participant's lines ran a
        24 GiB machine out of memory). None: never sample.
    keep_row_features : bool
        Keep the rows' feature columns in the result's ``rows`` (to predict them again,
        :meth:`UpliftFit.predict_rows`). False keeps only :data:`~models.uplift.rows.ROW_KEYS`
        and frees the features once the feature matrix holds them: the fits then run
        beside one copy of the features, not two (about 0.9 GB for the 50,000-member sample).

    Returns
    -------
    UpliftFit

    Raises
    ------
    DataError
        No control group, no sends, or no offer type with enough treated and control rows.
    """
    if not 0 < validation_fraction < 1:
        raise DataError(f"validation_fraction={validation_fraction} should be in (0, 1).")
    make_learner(learner, binary=False)  # refuse an unknown name before the slow part
    own = rows is None
    if own:
        rows = build_uplift_rows(_experiment_members(dataset, as_of, max_members, random_state),
                                 offers, as_of, window_days=window_days)
    members = np.sort(rows["member_id"].astype(str).unique())
    rng = np.random.default_rng(random_state)
    held = set(rng.choice(members, int(round(validation_fraction * len(members))),
                          replace=False))
    is_val = rows["member_id"].astype(str).isin(held).to_numpy()
    treated = rows["treated"].to_numpy(dtype=bool)
    types = rows["type"].astype(str).to_numpy()
    order, spans = training_order(types, is_val, treated)
    # Rows built here that keep no features give each column up once the matrix holds it.
    X, names = feature_matrix(rows, consume=own and not keep_row_features, order=order)
    if not keep_row_features:
        rows = rows[list(ROW_KEYS)].copy()  # a copy: no view keeps the feature columns alive
    rows = rows.assign(validation=is_val)
    # X's rows are in training order: each fit and prediction reads a slice of X, no copy.
    sent, redeemed = treated[order], rows["redeemed"].to_numpy()[order]
    who = rows["member_id"].to_numpy()[order]
    outcomes = {o: rows[o].to_numpy(dtype=float)[order] for o in OUTCOMES}
    fitted = UpliftFit({}, {}, names, pd.DataFrame(columns=list(VALIDATION_COLUMNS)),
                       validation_members=sorted(held), rows=rows)
    table = []
    for offer_type in sorted(set(types) if offer_types is None else set(offer_types)):
        of_type = types == offer_type
        train, val = of_type & ~is_val, of_type & is_val
        counts = [int((m & t).sum()) for m in (train, val) for t in (treated, ~treated)]
        if min(counts) < MIN_GROUP_ROWS:
            logger.info("offer type %r: too few treated/control rows %s; no uplift model",
                        offer_type, counts)
            continue
        start, holdouts, validation, end = spans[offer_type]
        sent_train, train, val = (slice(start, holdouts), slice(start, validation),
                                  slice(validation, end))
        response = _response_model(X[sent_train], redeemed[sent_train], random_state, max_iter)
        fitted.response_models[offer_type] = response
        p_redeem = (response.predict_proba(by_columns(X[val]))[:, 1] if response is not None
                    else np.zeros(end - validation))
        for outcome in OUTCOMES:
            y = outcomes[outcome]
            model = make_learner(learner, binary=outcome == "retained",
                                 random_state=random_state, max_iter=max_iter)
            try:
                model.fit(X[train], y[train], sent[train])
            except DataError as exc:
                logger.info("offer type %r, %s: %s", offer_type, outcome, exc)
                continue
            score = model.predict(X[val])
            fitted.models[(offer_type, outcome)] = model
            table.append(_validate(offer_type, outcome, learner, validation - start,
                                   y[val], sent[val], score, p_redeem, who[val], random_state))
            fitted.curves[(offer_type, outcome)] = _curves(y[val], sent[val], score, p_redeem)
    if not fitted.models:
        raise DataError("no offer type has enough sent and held-out rows on both sides of the "
                        f"validation split (at least {MIN_GROUP_ROWS} each); the data cannot "
                        "support an uplift model yet.")
    if refit:
        at = np.empty_like(order)
        at[order] = np.arange(len(order))  # row i of rows is row at[i] of X
        for (offer_type, outcome), model in fitted.models.items():
            mask = types == offer_type
            y = rows[outcome].to_numpy(dtype=float)
            model.fit(X[at[mask]], y[mask], treated[mask])
    fitted.validation = pd.DataFrame(table, columns=list(VALIDATION_COLUMNS))
    return fitted


def training_order(types: np.ndarray, is_val: np.ndarray, treated: np.ndarray
                   ) -> tuple[np.ndarray, dict]:
    """The feature matrix's row order: per offer type (sorted), its training rows sent, its
    training rows held out, then its validation rows, each in the rows' own order.

    So each fit reads the rows it would get by a boolean mask, in the same order,
    as a slice of the matrix (no copy). Returns the order (positions in the rows)
    and per type its bounds ``(start, holdouts, validation, end)`` in the order.
    """
    parts, spans, start = [], {}, 0
    for offer_type in sorted(set(types)):
        of_type = types == offer_type
        groups = [np.flatnonzero(of_type & ~is_val & treated),
                  np.flatnonzero(of_type & ~is_val & ~treated), np.flatnonzero(of_type & is_val)]
        bounds = np.cumsum([start, *(len(g) for g in groups)])
        spans[offer_type] = tuple(int(b) for b in bounds)
        parts += groups
        start = int(bounds[-1])
    return (np.concatenate(parts) if parts else np.arange(0)), spans


def _experiment_members(data: Dataset | MemberSource, as_of, max_members: int | None = None,
                        random_state=0) -> Dataset:
    """The data the rows are built from: the whole pandas data set, or on an engine the
    lines of the members sent or held out of an offer before ``as_of`` (all the rows
    need besides population values; :meth:`MemberSource.rows_data`); a seeded sample of
    ``max_members`` of those members when there are more."""
    source = member_source(data)
    as_of = pd.Timestamp(as_of)
    check_experiment_events(source.offer_events, as_of)
    ids, _ = members_with_events(source.offer_events, as_of, ("sent", "holdout"))
    kept = sample_ids(ids, max_members, random_state, purpose="uplift learns",
                      population="members sent or held out")
    if len(kept) == len(ids):
        return source.rows_data(kept, sampled=False)
    return source.rows_data(kept, sampled=True)


def _validate(offer_type, outcome, learner, n_train, y, treated, score, p_redeem, members,
              seed) -> list:
    y, treated, score = check_experiment(y, treated, score)
    auuc_u, auuc_r = qini_auc(y, treated, score), qini_auc(y, treated, p_redeem)
    ate = float(y[treated].mean() - y[~treated].mean())
    norm_u = normalized_auuc(y, treated, score)
    norm_r = normalized_auuc(y, treated, p_redeem)
    se_u, se_margin = auuc_standard_errors(y, treated, members, score, p_redeem, seed=seed)
    return [offer_type, outcome, learner, n_train, len(y), float(treated.mean()), ate,
            auuc_u, auuc_r, ate / 2, norm_u, norm_r, se_u, se_margin,
            gain_at(y, treated, score, 0.3),
            gain_at(y, treated, p_redeem, 0.3), bool(norm_u > 0 and norm_u > norm_r)]


def _curves(y, treated, score, p_redeem) -> pd.DataFrame:
    parts = []
    for policy, s in (("uplift", score), ("response", p_redeem)):
        fraction, gain = qini_curve(y, treated, s)
        parts.append(pd.DataFrame({"policy": policy, "fraction": fraction, "gain": gain}))
    ate = float(y[treated].mean() - y[~treated].mean())
    parts.append(pd.DataFrame({"policy": "random", "fraction": [0.0, 1.0], "gain": [0.0, ate]}))
    return pd.concat(parts, ignore_index=True)


"""Rows of the uplift models: one per member chosen for a campaign, sent or held out.

A row is a ``sent`` or ``holdout`` offer event ``(member, offer, sent_at)``
(``holdout``: chosen for the campaign but held out at random, see
``docs/data.md``), with

- ``treated``: True for a send, False for a holdout;
- the outcomes over ``[sent_at, sent_at + window_days)`` from the transactions:
  ``spend`` (money spent, the redeemed offer's baskets included) and
  ``retained`` (1 when the member bought anything in the window, else 0);
- ``redeemed`` (sends only: the offer was redeemed in the window), the label of
  the P(redeem) baseline;
- the features of the offer-response rows, as known at the send day
  (:func:`models.offer_response.rows.response_features`: member features
  ``m__*`` with the category mix, and the member's affinity to the offer) and
  the offer's ``type`` and ``depth``.

Sends whose window is still open at ``as_of`` are dropped: their outcome is not known yet.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import DataError
from features.profile_features import CURRENT_ONLY
from models.member_source import event_kinds
from models.offer_response.inputs import MEMBER_PREFIX
from models.offer_response.rows import attach_offer_columns, response_features
from models.offer_response.specs import validate_offer_specs

logger = logging.getLogger(__name__)

OUTCOMES = ("spend", "retained")
#: Columns of a row that are not features.
ROW_KEYS = ("member_id", "offer_id", "sent_at", "cutoff", "treated", "type", "redeemed",
            *OUTCOMES)


#: Categories with their own ``cat_share__`` column in the uplift rows (the full mix).
MIX_CATEGORIES = 100
#: The member features' spend-trend window in the uplift rows (their default).
TREND_DAYS = 90


def member_features_with_mix(dataset: Dataset, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Member features with the full category mix: who is persuadable depends on tastes."""
    from features.member_features import build_member_features

    return build_member_features(dataset, cutoff, n_categories=MIX_CATEGORIES,
                                 trend_days=TREND_DAYS)


def window_outcomes(transactions: pd.DataFrame, member_id: np.ndarray, start: np.ndarray,
                    window_days: float, as_of: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Spend and number of lines of each member in ``[start, start + window_days)``.

    ``member_id`` and ``start`` (datetime64) have one entry per row; lines at or
    after ``as_of`` are ignored. Returns two (rows,) arrays.
    """
    # Only the three columns, and member codes from factorize (a categorical's codes): the
    # filtered copy of every column and two strings per line were the uplift fit's peak.
    keep = (transactions["timestamp"] < as_of).to_numpy()
    every = bool(keep.all())

    def kept(column: str):
        values = transactions[column]
        return values if every else values[keep]

    codes, uniques = pd.factorize(kept("member_id"), use_na_sentinel=False)  # NaN: "nan", as before
    # Two ids may print the same (1 and "1" of an object column): one member, as before.
    members_code, members = pd.factorize(np.asarray(uniques).astype(str))
    members = pd.Index(members)
    code = members_code[codes]
    seconds = kept("timestamp").to_numpy("datetime64[s]").astype(np.int64)
    origin = int(min(seconds.min(initial=0), start.astype("datetime64[s]").astype(np.int64).min(
        initial=0)))
    window = int(round(window_days * 86_400))
    span = int(max(seconds.max(initial=origin), origin) - origin) + 2 * window + 1
    key = code.astype(np.int64) * span + (seconds - origin)
    order = np.argsort(key, kind="stable")
    key = key[order]
    cum = np.r_[0.0, np.cumsum(kept("amount").to_numpy(dtype=float)[order])]
    row_code = members.get_indexer(member_id.astype(str))
    row_start = start.astype("datetime64[s]").astype(np.int64) - origin
    lo = np.searchsorted(key, row_code.astype(np.int64) * span + row_start, side="left")
    hi = np.searchsorted(key, row_code.astype(np.int64) * span + row_start + window, side="left")
    known = row_code >= 0  # members who never bought spend 0
    spend = np.where(known, cum[hi] - cum[lo], 0.0)
    lines = np.where(known, hi - lo, 0)
    return spend, lines


def _redeemed(events: pd.DataFrame, rows: pd.DataFrame, window_days: float) -> np.ndarray:
    """Whether each sent row's offer was redeemed by its member within the window."""
    red = events.loc[events["event"] == "redeemed", ["member_id", "offer_id", "timestamp"]]
    red = red.astype({"member_id": str, "offer_id": str}).sort_values("timestamp")
    left = rows[["member_id", "offer_id", "sent_at"]].reset_index().sort_values("sent_at")
    hit = pd.merge_asof(left, red, left_on="sent_at", right_on="timestamp",
                        by=["member_id", "offer_id"], direction="forward",
                        tolerance=pd.Timedelta(days=window_days))
    found = pd.Series(hit["timestamp"].notna().to_numpy(), index=hit["index"].to_numpy())
    return found.reindex(rows.index).to_numpy(dtype=bool) & rows["treated"].to_numpy()


def check_experiment_events(events, as_of: pd.Timestamp) -> None:
    """Raise :class:`DataError` unless ``events`` before ``as_of`` hold sends and holdouts.

    ``events``: canonical offer events, a pandas frame or a table on an engine
    (one query there: :func:`models.member_source.event_kinds`).
    """
    kinds = event_kinds(events, before=as_of)
    for kind, why in (("holdout", "a randomised control group (members held out of a "
                                  "campaign at random, event 'holdout')"),
                      ("sent", "treated members (event 'sent')")):
        if kind not in kinds:
            raise DataError(f"the offer events before {as_of} have no '{kind}' event; uplift "
                            f"models need {why}. See docs/data.md.")


def build_uplift_rows(dataset: Dataset, offers: pd.DataFrame, as_of: pd.Timestamp | str, *,
                      window_days: float = 14.0, cutoff_freq: str = "D",
                      member_features=None) -> pd.DataFrame:
    """Featurised, labelled rows of every send and holdout whose window closed before ``as_of``.

    Parameters
    ----------
    dataset : Dataset
    offers : DataFrame
        Offer specs covering every offer sent or held out
        (:func:`models.offer_response.offer_specs_from_events`).
    as_of : timestamp
        What is known: events and purchases at or after it are ignored.
    window_days : float
        Length of the outcome window after each send.
    cutoff_freq, member_features
        See :func:`models.offer_response.rows.response_features`; by default
        member features with every category's share.

    Returns
    -------
    DataFrame
        Columns :data:`ROW_KEYS` and the features, one row per send or holdout.

    Raises
    ------
    DataError
        When the data has no ``holdout`` events (no control group) or no sends.
    """
    if not window_days > 0:
        raise DataError(f"window_days={window_days} should be > 0.")
    as_of = pd.Timestamp(as_of)
    offers = validate_offer_specs(offers)
    events = dataset.offer_events
    events = events[events["timestamp"] < as_of]
    check_experiment_events(events, as_of)
    kinds = events["event"].astype(str)
    chosen = events.loc[kinds.isin(["sent", "holdout"]).to_numpy()]
    rows = pd.DataFrame({
        "member_id": chosen["member_id"].astype(str).to_numpy(),
        "offer_id": chosen["offer_id"].astype(str).to_numpy(),
        "sent_at": chosen["timestamp"].to_numpy(),
        "treated": (chosen["event"].astype(str) == "sent").to_numpy(),
    })
    closed = rows["sent_at"] + pd.Timedelta(days=window_days) <= as_of
    if not closed.all():
        logger.info("dropping %d of %d sends/holdouts whose window is open at %s",
                    int((~closed).sum()), len(rows), as_of)
    rows = rows[closed].sort_values("sent_at", kind="stable").reset_index(drop=True)
    unknown = sorted(set(rows["offer_id"]) - set(offers["offer_id"]))
    if unknown:
        raise DataError(f"{len(unknown)} offer(s) have no spec, e.g. {unknown[:3]}; build the "
                        "specs with offer_specs_from_events on the same data.")
    spend, lines = window_outcomes(dataset.transactions, rows["member_id"].to_numpy(),
                                   rows["sent_at"].to_numpy(), window_days, as_of)
    rows["spend"] = spend
    rows["retained"] = (lines > 0).astype(float)
    rows["redeemed"] = _redeemed(events, rows, window_days)
    features = response_features(dataset, offers, rows, cutoff_freq=cutoff_freq,
                                 member_features=member_features or member_features_with_mix)
    rows = attach_offer_columns(pd.concat([rows, features], axis=1), offers)
    return rows


def _current_only(column: str) -> bool:
    return column.startswith(MEMBER_PREFIX) and column[len(MEMBER_PREFIX):] in CURRENT_ONLY


def feature_matrix(rows: pd.DataFrame, columns: list[str] | None = None, *,
                   consume: bool = False, order: np.ndarray | None = None
                   ) -> tuple[np.ndarray, list[str]]:
    """The numeric feature columns of ``rows`` as a float matrix (NaN kept, Fortran order),
    and their names.

    Without ``columns``: every numeric or boolean column that is not a key or
    outcome and takes at least two values, less the members file's current-only
    values (``m__points_balance``, ``m__referrals``;
    :data:`features.profile_features.CURRENT_ONLY`): they are today's, not the send
    day's, and today's balance counts the window's own spend, the outcome. (The
    synthetic test program's served ranking once rested on that leak; with the
    X-learner's effect models regularised, :func:`models.uplift.learners.effect_estimator`,
    it ranks better without it: bench/RESULTS.md, 2026-12-07.)
    ``consume=True`` leaves in ``rows`` (in place) only :data:`ROW_KEYS`, dropping each
    feature column once the matrix holds it, so the features are not held twice (for a
    caller whose own ``rows`` need only the keys afterwards). ``order`` (positions of
    ``rows``): the matrix's rows are ``rows``' in that order.
    """
    if columns is None:  # numeric columns that vary (an all-missing column breaks binning)
        columns = [c for c in rows.columns if c not in ROW_KEYS and c != "window_end"
                   and (pd.api.types.is_numeric_dtype(rows[c])
                        or pd.api.types.is_bool_dtype(rows[c]))
                   and not _current_only(c) and rows[c].nunique(dropna=True) > 1]
    # By columns (Fortran order): filled a column at a time, and what the trees read
    # fastest (:func:`models.uplift.learners.by_columns`).
    if consume:  # nor the columns that are neither keys nor features (strings, mostly)
        wanted = set(columns)
        for c in [c for c in rows.columns if c not in ROW_KEYS and c not in wanted]:
            del rows[c]
    X = np.empty((len(rows) if order is None else len(order), len(columns)), order="F")
    for j, c in enumerate(columns):
        values = pd.to_numeric(rows[c], errors="coerce").astype(float).to_numpy()
        X[:, j] = values if order is None else values[order]
        if consume:
            del rows[c]
    return X, list(columns)

"""Training rows of the offer-response model: one per offer sent, labelled and featurised.

A row is a ``"sent"`` offer event ``(member, offer, sent_at)``. Its label is 1
when the member redeemed *that* offer after *that* send (a ``"redeemed"``
event with the same member and offer id, at or after ``sent_at``, before any
later send of the same offer to the member, and within the offer's
``valid_days`` or ``horizon_days``). Everything is as known at ``as_of``:
later sends and redemptions do not exist, and by default a send whose window
is still open at ``as_of`` is dropped, since its label is not known yet.

Features are computed as of each send, never after it: member features from
:func:`features.member_features.build_member_features` at a cutoff on or
before the send (the send time floored to ``cutoff_freq``, so a few cutoffs
serve every row), and the member's affinity to the offer at the same cutoff
(:mod:`models.offer_response.affinity`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import ConfigError
from models.offer_response.affinity import AffinityIndex
from models.offer_response.products import attach_product_columns
from models.offer_response.specs import validate_offer_specs
from models.offer_response.stacking import stack_blocks

logger = logging.getLogger(__name__)

#: Columns that identify a row; every other column of a row frame is a feature or the label.
ROW_KEYS = ("member_id", "offer_id", "sent_at", "cutoff")
LABEL = "redeemed"


def default_as_of(dataset: Dataset) -> pd.Timestamp:
    """Just after the last purchase or offer event of ``dataset``."""
    last = dataset.transactions["timestamp"].max()
    if len(dataset.offer_events):
        last = max(last, dataset.offer_events["timestamp"].max())
    return pd.Timestamp(last) + pd.Timedelta(1, "s")


def label_sends(
    offer_events: pd.DataFrame,
    offers: pd.DataFrame | None = None,
    *,
    as_of: pd.Timestamp | str,
    horizon_days: float = 60.0,
    drop_censored: bool = True,
) -> pd.DataFrame:
    """Label every offer sent before ``as_of`` with whether it was redeemed.

    Parameters
    ----------
    offer_events : DataFrame
        ``member_id``, ``offer_id``, ``event``, ``timestamp`` (the canonical
        ``offer_events`` table).
    offers : DataFrame, optional
        Offer specs; an offer's ``valid_days`` (when given) is its window.
    as_of : timestamp
        Events at or after it are ignored.
    horizon_days : float
        Window of offers with no ``valid_days``.
    drop_censored : bool
        Drop sends whose window has not closed by ``as_of``.

    Returns
    -------
    DataFrame
        ``member_id``, ``offer_id``, ``sent_at``, ``window_end`` and ``redeemed``
        (bool), one row per send (repeated sends of one offer to one member
        are separate rows), sorted by ``sent_at``.
    """
    if not horizon_days > 0:
        raise ConfigError(f"horizon_days={horizon_days} should be > 0.")
    as_of = pd.Timestamp(as_of)
    events = offer_events[offer_events["timestamp"] < as_of]
    keys = ["member_id", "offer_id"]
    sends = events.loc[events["event"] == "sent", [*keys, "timestamp"]].astype(
        {"member_id": str, "offer_id": str}
    )
    sends = sends.rename(columns={"timestamp": "sent_at"}).sort_values("sent_at", kind="stable")
    sends = sends.reset_index(drop=True)
    window = pd.Series(horizon_days, index=sends.index, dtype="float64")
    if offers is not None and len(sends):
        offers = validate_offer_specs(offers)
        valid = sends["offer_id"].map(offers.set_index("offer_id")["valid_days"])
        window = valid.fillna(horizon_days).astype("float64")
    sends["window_end"] = sends["sent_at"] + pd.to_timedelta(window.to_numpy(), unit="D")
    sends["_send"] = np.arange(len(sends))

    redeemed = events.loc[events["event"] == "redeemed", [*keys, "timestamp"]].astype(
        {"member_id": str, "offer_id": str}
    )
    redeemed = redeemed.sort_values("timestamp", kind="stable")
    # Each redemption goes to the latest send of the same offer to the same member.
    matched = pd.merge_asof(
        redeemed, sends[[*keys, "sent_at", "window_end", "_send"]],
        left_on="timestamp", right_on="sent_at", by=keys, direction="backward",
    )
    hit = matched["_send"].notna() & (matched["timestamp"] <= matched["window_end"])
    positive = np.zeros(len(sends), dtype=bool)
    positive[matched.loc[hit, "_send"].astype("int64").to_numpy()] = True
    sends[LABEL] = positive
    if drop_censored:
        open_ = sends["window_end"] > as_of
        if open_.any():
            logger.info("dropping %d of %d sends whose window is still open at %s",
                        int(open_.sum()), len(sends), as_of)
        sends = sends[~open_]
    return sends.drop(columns="_send").reset_index(drop=True)


def response_features(
    dataset: Dataset,
    offers: pd.DataFrame,
    sends: pd.DataFrame,
    *,
    cutoff_freq: str = "D",
    member_features: Callable[[Dataset, pd.Timestamp], pd.DataFrame] | None = None,
    affinity_index: AffinityIndex | None = None,
) -> pd.DataFrame:
    """Features of each send, as known at a cutoff just before it.

    Parameters
    ----------
    dataset : Dataset
    offers : DataFrame
        Offer specs covering every offer in ``sends``.
    sends : DataFrame
        ``member_id``, ``offer_id``, ``sent_at`` (e.g. from :func:`label_sends`).
    cutoff_freq : str
        Each send's features are computed at ``sent_at`` floored to this pandas
        frequency (``"D"``, ``"W"`` is not a fixed frequency: use e.g. ``"7D"``);
        coarser means fewer, faster member-feature builds and slightly older features.
    member_features : callable, optional
        ``(dataset, cutoff) -> DataFrame`` indexed by member id; default
        :func:`features.member_features.build_member_features`.
    affinity_index : AffinityIndex, optional
        Reuse one already built for ``dataset`` and ``offers``.

    Returns
    -------
    DataFrame
        Aligned with ``sends`` (same index): ``cutoff``, the member features
        (prefixed ``m__``) and the affinity features.
    """
    if member_features is None:
        from features.member_features import build_member_features as member_features
    sent_at = pd.to_datetime(sends["sent_at"])
    cutoff = sent_at.dt.floor(cutoff_freq)
    index = affinity_index or AffinityIndex(dataset, offers)
    affinity = index.at_cutoffs(
        cutoff.to_numpy(), sends["member_id"].to_numpy(dtype=str),
        sends["offer_id"].to_numpy(dtype=str),
    )
    affinity.index = sends.index
    del index  # an index built here (171 MiB for the uplift sample) is not held beside the blocks
    ids = sends["member_id"].astype(str).to_numpy()

    def blocks():  # one cutoff's rows at a time, each freed once stacked
        for when in np.sort(cutoff.unique()):
            positions = np.flatnonzero((cutoff == when).to_numpy())
            frame = member_features(dataset, pd.Timestamp(when))
            frame.index = frame.index.astype(str)
            block = frame.reindex(ids[positions])
            block.index = sends.index[positions]
            yield positions, block.add_prefix("m__")

    members = stack_blocks(blocks(), sends.index)
    logger.info("member features built at %d cutoff(s) for %d sends",
                cutoff.nunique(), len(sends))
    return pd.concat([cutoff.rename("cutoff"), members, affinity], axis=1)


def build_response_rows(
    dataset: Dataset,
    offers: pd.DataFrame,
    as_of: pd.Timestamp | str | None = None,
    *,
    horizon_days: float = 60.0,
    drop_censored: bool = True,
    cutoff_freq: str = "D",
    member_features: Callable[[Dataset, pd.Timestamp], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Labelled, featurised training rows: one per offer sent before ``as_of``.

    Parameters
    ----------
    dataset : Dataset
    offers : DataFrame
        Offer specs covering every offer sent (see :func:`offer_specs_from_events`).
    as_of : timestamp, optional
        What is known: default just after the last event of ``dataset``.
    horizon_days, drop_censored
        See :func:`label_sends`.
    cutoff_freq, member_features
        See :func:`response_features`.

    Returns
    -------
    DataFrame
        ``member_id``, ``offer_id``, ``sent_at``, ``window_end``, ``redeemed``,
        ``cutoff``, member features ``m__*``, affinity features, the offer's
        ``type`` and ``depth``, and the member's dealings with the offer's items
        (:data:`~models.offer_response.products.PRODUCT_FEATURES`).
    """
    offers = validate_offer_specs(offers)
    as_of = default_as_of(dataset) if as_of is None else pd.Timestamp(as_of)
    sends = label_sends(dataset.offer_events, offers, as_of=as_of, horizon_days=horizon_days,
                        drop_censored=drop_censored)
    features = response_features(dataset, offers, sends, cutoff_freq=cutoff_freq,
                                 member_features=member_features)
    rows = pd.concat([sends, features], axis=1)
    return attach_product_columns(attach_offer_columns(rows, offers), dataset, offers)


def attach_offer_columns(rows: pd.DataFrame, offers: pd.DataFrame) -> pd.DataFrame:
    """Add the offer's ``type``, ``depth`` and ``n_categories`` to each row."""
    spec = offers.set_index("offer_id")
    # Shallow: the new columns go to the copy only (copy-on-write), and the rows' features
    # (about 0.9 GB in the uplift rows of the 50,000-member sample) are not duplicated.
    out = rows.copy(deep=False)
    out["type"] = out["offer_id"].map(spec["type"]).astype(object)
    out["depth"] = out["offer_id"].map(spec["depth"]).astype("float64")
    out["n_categories"] = out["offer_id"].map(spec["categories"].map(len)).astype("float64")
    return out

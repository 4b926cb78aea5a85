"""Scoring planned sends: P(redeem), expected cost and value of given (member, offer) rows.

:func:`score_sends` takes rows of ``member_id, offer_id`` (optional
``timestamp``, ``channel``) and returns them with what the engine would use
to decide them (:mod:`serving.engine.scoring`; P(redeem) from the learned
model where the version has one, :mod:`serving.engine.response_model`):

================= ===========================================================
column            meaning
================= ===========================================================
``status``        ``ok``; ``unknown_member`` (scored as a member the version
                  does not know, as ``decide`` does); ``unknown_offer`` (not
                  a catalog template: no scores); ``malformed_member_id`` or
                  ``malformed_offer_id`` (no scores)
``p_redeem``      P(redeem | member, offer)
``cost``          what one redemption costs
``expected_cost`` ``p_redeem x cost`` (retention offers: ``cost``, paid in full)
``expected_value`` the engine's EV net of the channel's send cost, NaN when
                  the offer is not eligible for the member at that moment
``eligible``      whether the engine could send it (rules, consent, dates)
================= ===========================================================

A missing column, a time that is not a time or an unknown channel is an
error naming the rows, before anything is scored.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.errors import DataError
from serving.engine.catalog.schema import CHANNELS

REQUIRED = ("member_id", "offer_id")
OPTIONAL = ("timestamp", "channel")
OUTPUT = ("status", "p_redeem", "cost", "expected_cost", "expected_value", "eligible")
DEFAULT_CHANNEL = "email"


def _id_text(col: pd.Series) -> np.ndarray:
    """Ids as text, "" where missing; float ids that are whole numbers (a Parquet column of
    integer ids with a gap is float: 1029.0) as integers, as the data loader reads them."""
    if pd.api.types.is_float_dtype(col.dtype) and np.all(np.mod(col.dropna(), 1) == 0):
        col = col.astype("Int64")
    return col.astype("string").fillna("").to_numpy(dtype=object)


def score_sends(engine, sends: pd.DataFrame, *, now=None,
                id_pattern: re.Pattern | None = None, data_offers=None) -> pd.DataFrame:
    """``sends`` with :data:`OUTPUT` columns added (see the module docstring).

    Parameters
    ----------
    engine : OfferEngine
    sends : DataFrame
        ``member_id``, ``offer_id`` and optionally ``timestamp`` (ISO 8601; empty:
        ``now``) and ``channel`` (empty: ``email``).
    now : optional
        The moment of rows without a timestamp; default the current time.
    id_pattern : compiled regex, optional
        What an id must match (the API's rule); rows that do not get a ``malformed_*`` status.
    data_offers : DataOffers, optional
        The data's own offers (:mod:`serving.engine.data_offers`): rows naming one
        that is not a template get its ``p_redeem`` from the learned model (no cost
        or value: the catalog's economics do not describe it) and ``source`` says
        ``catalog`` or ``data``.

    Raises
    ------
    DataError
        A required column is missing, a timestamp is not a time or a channel is unknown.
    """
    from serving.engine.engine import to_datetime64

    missing = [c for c in REQUIRED if c not in sends.columns]
    if missing:
        raise DataError(f"the sends lack column(s) {missing}; give one row per planned send "
                        f"with {', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)}).")
    out = sends.copy()
    n = len(out)
    member, offer = _id_text(out["member_id"]), _id_text(out["offer_id"])
    stamps = _timestamps(out, to_datetime64(now))
    channels = _channels(out)

    status = np.full(n, "ok", dtype=object)
    index = {t.id: i for i, t in enumerate(engine.catalog.offers)}
    template = np.array([index.get(o, -1) for o in offer], dtype=np.int64)
    status[template < 0] = "unknown_offer"
    rows = np.array([engine.bundle.row(m) for m in member], dtype=np.int64)
    status[(rows < 0) & (template >= 0)] = "unknown_member"
    if id_pattern is not None:
        status[[not id_pattern.match(o) for o in offer]] = "malformed_offer_id"
        status[[not id_pattern.match(m) for m in member]] = "malformed_member_id"
    scored = np.isin(status, ("ok", "unknown_member"))

    p, cost, ev = (np.full(n, np.nan) for _ in range(3))
    eligible = np.zeros(n, dtype=bool)
    keys = pd.DataFrame({"t": stamps, "c": channels})[scored]
    for (stamp, channel), group in keys.groupby(["t", "c"], sort=False).groups.items():
        at = np.asarray(group, dtype=np.int64)
        result = engine.score(rows[at], now=np.datetime64(stamp, "s"), channel=channel)
        pick = (np.arange(len(at)), template[at])
        p[at], cost[at] = result.p[pick], result.cost[pick]
        eligible[at] = result.eligible[pick]
        ev[at] = np.where(eligible[at], result.ev[pick], np.nan)
    retention = np.array([engine.catalog.offers[t].retention if t >= 0 else False
                          for t in template])
    out["status"] = status
    out["p_redeem"] = np.round(p, 6)
    out["cost"] = np.round(cost, 4)
    out["expected_cost"] = np.round(np.where(retention, cost, p * cost), 4)
    out["expected_value"] = np.round(ev, 4)
    out["eligible"] = eligible
    if data_offers is not None:
        _score_data_offers(out, data_offers, member, offer, rows)
    return out


def _score_data_offers(out: pd.DataFrame, data_offers, member: np.ndarray, offer: np.ndarray,
                       rows: np.ndarray) -> None:
    status = out["status"].to_numpy(dtype=object).copy()
    source = np.where(np.isin(status, ("ok", "unknown_member")), "catalog", "").astype(object)
    in_data = np.array([o in data_offers.offer_ids for o in offer], dtype=bool)
    pick = (status == "unknown_offer") & in_data
    if pick.any():
        p = out["p_redeem"].to_numpy(dtype="float64").copy()
        p[pick] = np.round(data_offers.p_redeem(member[pick], offer[pick]), 6)
        status[pick] = np.where(rows[pick] >= 0, "ok", "unknown_member")
        source[pick] = "data"
        out["p_redeem"] = p
        out["status"] = status
    out["source"] = source


def _timestamps(frame: pd.DataFrame, default: np.datetime64) -> np.ndarray:
    if "timestamp" not in frame.columns:
        return np.full(len(frame), default, dtype="datetime64[s]")
    raw = frame["timestamp"]
    parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    given = raw.notna() & (raw.astype("string").str.strip() != "")
    bad = np.flatnonzero((given & parsed.isna()).to_numpy())
    if len(bad):
        raise DataError(f"timestamp of row(s) {_rows(bad)} is not a time "
                        f"(e.g. {str(raw.iloc[bad[0]])!r}); use ISO 8601 like "
                        "2024-03-31T14:05:00, or leave it empty for now.")
    values = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
    return np.where(given.to_numpy(), values, default)


def _channels(frame: pd.DataFrame) -> np.ndarray:
    if "channel" not in frame.columns:
        return np.full(len(frame), DEFAULT_CHANNEL, dtype=object)
    raw = frame["channel"].astype("string").str.strip().fillna("")
    values = np.where(raw == "", DEFAULT_CHANNEL, raw).astype(object)
    bad = np.flatnonzero(~np.isin(values, CHANNELS))
    if len(bad):
        raise DataError(f"channel of row(s) {_rows(bad)} is {values[bad[0]]!r}; use one of "
                        f"{', '.join(CHANNELS)} (empty: {DEFAULT_CHANNEL}).")
    return values


def _rows(positions: np.ndarray) -> str:
    """1-based data row numbers, the first five."""
    shown = ", ".join(str(int(i) + 1) for i in positions[:5])
    return shown + (f" and {len(positions) - 5} more" if len(positions) > 5 else "")

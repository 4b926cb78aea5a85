"""Offer specs: the small frame that describes offers to the offer-response model.

An *offer spec* frame has one row per offer and these columns:

``offer_id`` : str
    Unique.
``type`` : str
    Free text (``"percent_off"``, ``"points_multiplier"``, ``"Type A"`` ...).
``depth`` : float
    How generous the offer is, e.g. the share taken off (0..1); NaN when unknown.
``categories`` : list of str
    Item categories the offer targets; empty means the whole basket.

and optionally

``items`` : list of str
    Item ids the offer covers (coupons that name products).
``valid_days`` : float
    How long the offer can be redeemed after it is sent (NaN: use the default horizon).

:func:`offer_specs_from_events` builds such a frame for the offers seen in a
data set's ``offer_events``, from the data's own ``offers`` table when it has
one (:data:`features.contract.OFFERS`, docs/data.md), else from a side file
describing the campaigns when there is one (the Complete Journey importer's
``extras/campaigns.parquet``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.errors import DataError

logger = logging.getLogger(__name__)

#: Columns every offer spec frame must have.
OFFER_SPEC_COLUMNS = ("offer_id", "type", "depth", "categories")
#: Columns an offer spec frame may have.
OPTIONAL_SPEC_COLUMNS = ("items", "valid_days")
UNKNOWN_TYPE = "unknown"


def validate_offer_specs(offers: pd.DataFrame) -> pd.DataFrame:
    """Check an offer spec frame and return it in canonical form.

    Parameters
    ----------
    offers : DataFrame
        One row per offer with the columns in :data:`OFFER_SPEC_COLUMNS`
        (and optionally :data:`OPTIONAL_SPEC_COLUMNS`).

    Returns
    -------
    DataFrame
        A copy with a fresh ``RangeIndex``: ``offer_id`` and ``type`` as ``str``,
        ``depth`` and ``valid_days`` as ``float64``, ``categories`` and ``items``
        as tuples of ``str`` (a single string becomes a one-element tuple, a
        missing value an empty one).

    Raises
    ------
    DataError
        If a column is missing, an offer id is missing or repeated, or a depth
        is negative or not a number.
    """
    if not isinstance(offers, pd.DataFrame):
        raise DataError(
            f"offers should be a DataFrame of offer specs, got {type(offers).__name__}."
        )
    missing = [c for c in OFFER_SPEC_COLUMNS if c not in offers.columns]
    if missing:
        raise DataError(
            f"the offer spec frame lacks column(s) {missing}; it has {list(offers.columns)}. "
            f"An offer spec needs {list(OFFER_SPEC_COLUMNS)}."
        )
    out = pd.DataFrame({"offer_id": offers["offer_id"].to_numpy()})
    if out["offer_id"].isna().any():
        raise DataError("the offer spec frame has a missing offer_id.")
    out["offer_id"] = out["offer_id"].astype(str)
    repeated = out["offer_id"][out["offer_id"].duplicated()].unique()
    if len(repeated):
        raise DataError(
            f"offer_id(s) {list(repeated[:5])} appear more than once in the offer specs."
        )
    out["type"] = [UNKNOWN_TYPE if _missing(t) else str(t) for t in offers["type"]]
    out["depth"] = _floats(offers["depth"], "depth")
    out["categories"] = [_strings(v) for v in offers["categories"]]
    out["items"] = (
        [_strings(v) for v in offers["items"]] if "items" in offers.columns else [()] * len(out)
    )
    out["valid_days"] = (
        _floats(offers["valid_days"], "valid_days")
        if "valid_days" in offers.columns
        else np.full(len(out), np.nan)
    )
    return out


def row_positions(members: pd.Index, offers: pd.DataFrame, member_ids,
                  offer_ids) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``member_ids`` in ``members`` (-1: unknown) and of ``offer_ids`` in
    ``offers["offer_id"]``.

    Raises
    ------
    DataError
        When an offer id is not in ``offers`` (the first five named).
    """
    member_pos = members.get_indexer(np.asarray(member_ids, dtype=str))
    offer_pos = pd.Index(offers["offer_id"]).get_indexer(np.asarray(offer_ids, dtype=str))
    if (offer_pos < 0).any():
        unknown = pd.unique(np.asarray(offer_ids)[offer_pos < 0])[:5]
        raise DataError(f"offer(s) {list(unknown)} are not in the offer specs.")
    return member_pos, offer_pos


def offer_specs_from_events(
    dataset: Dataset,
    campaigns_extra: pd.DataFrame | str | os.PathLike | None = None,
    *,
    campaign_categories: pd.DataFrame | None = None,
    campaign_items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Offer specs for every offer seen in ``dataset.offer_events``.

    Parameters
    ----------
    dataset : Dataset or MemberSource
        The loaded data set; its offer events name the offers (on an engine,
        a :class:`~models.member_source.MemberSource` whose events are a table
        there, asked for the offers and their campaigns only). Its ``offers``
        table, when it has one, describes them and ``campaigns_extra`` is not
        read (offers the table lacks get type ``"unknown"``).
    campaigns_extra : DataFrame or path, optional
        What is known about the offers when the data has no ``offers`` table,
        one row per offer, matched on ``offer_id`` (or ``campaign_id`` when it
        has no ``offer_id``). Read:
        ``type`` (or ``campaign_type``), ``depth``, ``categories`` (a list) or
        ``category`` (one), ``items``, ``valid_days`` (or ``end_date`` -
        ``start_date``), and ``top_category`` when nothing else names a
        category. A path may be a Parquet/CSV file or a directory holding
        ``extras/campaigns.parquet`` (the Complete Journey importer's side
        files, whose ``campaign_categories`` and ``campaign_items`` are then
        read too).
    campaign_categories : DataFrame, optional
        ``offer_id``, ``category`` pairs: every category an offer covers.
    campaign_items : DataFrame, optional
        ``offer_id``, ``item_id`` pairs: every item an offer covers.

    Returns
    -------
    DataFrame
        Offer specs (see :func:`validate_offer_specs`), in order of each
        offer's first event. Offers the side file does not describe get type
        ``"unknown"``, depth NaN and no categories (the whole basket).
    """
    events = dataset.offer_events
    specs = pd.DataFrame({"offer_id": _first_seen_offers(events).to_numpy()})
    extra = campaigns_extra
    if getattr(dataset, "offers", None) is not None:
        if extra is not None:
            logger.info("the data's offers table describes the offers; %s is not read",
                        "the campaign description" if isinstance(extra, pd.DataFrame) else extra)
        extra = dataset.offers
    if extra is not None and not isinstance(extra, pd.DataFrame):
        extra, found_categories, found_items = _read_extras(Path(extra))
        campaign_categories = campaign_categories if campaign_categories is not None else (
            found_categories
        )
        campaign_items = campaign_items if campaign_items is not None else found_items
    if extra is not None:
        specs = specs.merge(_normalise_extra(extra, events), on="offer_id", how="left")
    for column, default in (("type", UNKNOWN_TYPE), ("depth", np.nan), ("valid_days", np.nan)):
        if column not in specs.columns:
            specs[column] = default
    specs["type"] = specs["type"].astype(object).where(specs["type"].notna(), UNKNOWN_TYPE)
    specs["categories"] = _lists_for(specs, campaign_categories, "category", "categories")
    specs["items"] = _lists_for(specs, campaign_items, "item_id", "items")
    n_unknown = int((specs["type"] == UNKNOWN_TYPE).sum())
    if n_unknown:
        logger.info("%d of %d offers have no description: type %r, whole basket",
                    n_unknown, len(specs), UNKNOWN_TYPE)
    return validate_offer_specs(specs)


def _first_seen_offers(events) -> pd.Series:
    """Every offer id of ``events`` (a frame, or a table on an engine: one query there) in the
    order of its first event, ties in the events' order, as ``str``."""
    if not isinstance(events, pd.DataFrame):
        from features.relational.event_queries import offers_in_first_seen_order

        return offers_in_first_seen_order(events)
    return events.sort_values("timestamp", kind="stable")["offer_id"].astype(str).drop_duplicates()


def _campaign_offers(events) -> pd.DataFrame:
    """The distinct ``(campaign_id, offer_id)`` pairs of ``events`` in order of first
    appearance, as ``str`` (a frame, or a table on an engine: one query there)."""
    if not isinstance(events, pd.DataFrame):
        from features.relational.event_queries import campaign_offers

        return campaign_offers(events)
    return events[["campaign_id", "offer_id"]].dropna().astype(str).drop_duplicates()


def _read_extras(path: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    if path.is_dir():
        folder = path / "extras" if (path / "extras").is_dir() else path
        main = folder / "campaigns.parquet"
        if not main.exists():
            raise DataError(f"{path} holds no campaigns.parquet (nor extras/campaigns.parquet).")
        side = [folder / f"campaign_{name}.parquet" for name in ("categories", "items")]
        frames = [pd.read_parquet(p) if p.exists() else None for p in side]
        return pd.read_parquet(main), frames[0], frames[1]
    if not path.exists():
        raise DataError(f"the campaign description file {path} does not exist.")
    if path.suffix == ".csv":
        return pd.read_csv(path), None, None
    return pd.read_parquet(path), None, None


def _normalise_extra(extra: pd.DataFrame, events) -> pd.DataFrame:
    """Map a campaign side file onto spec columns, keyed by offer_id."""
    extra = extra.copy()
    if "offer_id" not in extra.columns:
        if "campaign_id" not in extra.columns or "campaign_id" not in events.columns:
            raise DataError(
                "the campaign description needs an offer_id column (or a campaign_id that "
                f"offer_events also has); it has {list(extra.columns)}."
            )
        pairs = _campaign_offers(events)
        extra = extra.assign(campaign_id=extra["campaign_id"].astype(str)).merge(
            pairs, on="campaign_id", how="inner"
        )
    out = pd.DataFrame({"offer_id": extra["offer_id"].astype(str).to_numpy()})
    type_column = next((c for c in ("type", "campaign_type") if c in extra.columns), None)
    if type_column:
        out["type"] = extra[type_column].to_numpy()
    if "depth" in extra.columns:
        out["depth"] = pd.to_numeric(extra["depth"]).to_numpy(dtype="float64")
    if "valid_days" in extra.columns:
        out["valid_days"] = pd.to_numeric(extra["valid_days"]).to_numpy(dtype="float64")
    elif {"start_date", "end_date"} <= set(extra.columns):
        span = pd.to_datetime(extra["end_date"]) - pd.to_datetime(extra["start_date"])
        out["valid_days"] = (span.dt.total_seconds() / 86_400).to_numpy(dtype="float64")
    for column in ("categories", "items"):
        if column in extra.columns:
            out[column] = extra[column].to_numpy()
    if "categories" not in out.columns:
        single = next((c for c in ("category", "top_category") if c in extra.columns), None)
        if single:
            out["_category"] = extra[single].to_numpy()
    return out.drop_duplicates("offer_id")


def _lists_for(
    specs: pd.DataFrame, pairs: pd.DataFrame | None, value: str, column: str
) -> list[tuple[str, ...]]:
    """Per offer, the values listed in ``pairs``, else the spec's own column."""
    if pairs is not None:
        if not {"offer_id", value} <= set(pairs.columns):
            raise DataError(
                f"the campaign {column} table needs columns offer_id and {value}; "
                f"it has {list(pairs.columns)}."
            )
        grouped = pairs.dropna(subset=[value]).groupby(pairs["offer_id"].astype(str))[value]
        lists = grouped.agg(lambda v: tuple(dict.fromkeys(v.astype(str))))
        return [lists.get(o, ()) for o in specs["offer_id"]]
    if column in specs.columns:
        return [_strings(v) for v in specs[column]]
    if column == "categories" and "_category" in specs.columns:
        return [_strings(v) for v in specs["_category"]]
    return [()] * len(specs)


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _strings(value) -> tuple[str, ...]:
    if isinstance(value, tuple) and (not value or type(value[0]) is str):
        return value  # taken as canonical (specs validated before), checked cheaply
    if _missing(value):
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value if not (_missing(v) or pd.isna(v)))
    raise DataError(f"{value!r} is not a list of names; give a list (or one name as a string).")


def _floats(values: pd.Series, name: str) -> np.ndarray:
    try:
        out = pd.to_numeric(values).to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(f"offer spec column {name!r} should hold numbers: {exc}") from exc
    bad = ~np.isnan(out) & ~(np.isfinite(out) & (out >= 0))
    if bad.any():
        raise DataError(
            f"offer spec column {name!r} has {list(out[bad][:5])}; values should be >= 0 "
            "(or NaN when unknown)."
        )
    return out

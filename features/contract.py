"""The input data contract: which tables a data directory holds and their columns.

A data directory holds one file per table, ``<table>.csv`` or ``<table>.parquet``.
The full contract, with the cleaning policy, is documented in ``docs/data.md``;
this module is its machine-readable form and the single place that defines it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Column kinds: how a raw value is parsed and checked.
ID = "id"  # a string identifier; integers are accepted and kept as their decimal string
TEXT = "text"
TIMESTAMP = "timestamp"  # ISO 8601; time zones are converted to UTC and dropped
DATE = "date"
NUMBER = "number"
BOOL = "bool"  # true/false, yes/no, 1/0, y/n, t/f (case-insensitive)
BAND = "band"  # a number or a band of them: 34, 35-44, 65+, Under 15K (features.bands)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    columns: tuple[Column, ...]
    key: str | None = None  # a column that must be unique

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


TRANSACTIONS = Table(
    "transactions",
    required=True,
    columns=(
        Column("member_id", ID, True),
        Column("timestamp", TIMESTAMP, True),
        Column("item_id", ID, True),
        Column("quantity", NUMBER, True),
        Column("amount", NUMBER, True),
        Column("basket_id", ID),
        Column("discount", NUMBER),
        Column("coupon_discount", NUMBER),
        Column("store_id", ID),
        Column("channel", TEXT),
    ),
)

ITEMS = Table(
    "items",
    required=True,
    key="item_id",
    columns=(
        Column("item_id", ID, True),
        Column("category", TEXT, True),
        Column("department", TEXT),
        Column("brand", TEXT),
        Column("name", TEXT),
        Column("price", NUMBER),
    ),
)

MEMBERS = Table(
    "members",
    required=False,
    key="member_id",
    columns=(
        Column("member_id", ID, True),
        Column("joined_at", TIMESTAMP),
        Column("tier", TEXT),
        Column("birthday", DATE),
        Column("email_opt_in", BOOL),
        Column("sms_opt_in", BOOL),
        Column("push_opt_in", BOOL),
        Column("plan", TEXT),
        Column("plan_status", TEXT),
        Column("points_balance", NUMBER),
        Column("referrals", NUMBER),
        Column("age", BAND),
        Column("income", BAND),
        Column("household_size", BAND),
        Column("kids_count", BAND),
    ),
)

OFFER_EVENTS = Table(
    "offer_events",
    required=False,
    columns=(
        Column("member_id", ID, True),
        Column("offer_id", ID, True),
        Column("event", TEXT, True),
        Column("timestamp", TIMESTAMP, True),
        Column("channel", TEXT),
        Column("campaign_id", ID),
        Column("event_id", ID),
    ),
)

#: What the offers of ``offer_events`` are, so that the offer-response model learns per
#: offer type and depth (docs/data.md). ``category`` may name several categories
#: separated by :data:`CATEGORY_SEPARATOR`; empty means the whole basket.
OFFERS = Table(
    "offers",
    required=False,
    key="offer_id",
    columns=(
        Column("offer_id", ID, True),
        Column("type", TEXT, True),
        Column("depth", NUMBER),
        Column("category", TEXT),
        Column("valid_days", NUMBER),
    ),
)
CATEGORY_SEPARATOR = "|"

TABLES: dict[str, Table] = {
    t.name: t for t in (TRANSACTIONS, ITEMS, MEMBERS, OFFER_EVENTS, OFFERS)
}
#: ``holdout``: the member was chosen for the campaign (``campaign_id``/``offer_id``)
#: but held out of it at random, as its control group; nothing was delivered.
#: Uplift models (:mod:`models.uplift`) compare these members with those ``sent``.
EVENT_TYPES = ("sent", "viewed", "redeemed", "dismissed", "holdout")
FILE_SUFFIXES = (".parquet", ".csv")

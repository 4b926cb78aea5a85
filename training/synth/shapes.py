"""Data shapes other than a year of a large grocery program: knobs of the generator.

Real shops export one item or none (a CLV-only file of customer, date, amount),
no categories, a few weeks of history, many one-time buyers, returns as
negative lines and no offer history. :class:`DataShape` describes such a shape;
:func:`apply_shape` rewrites a generated data directory into it, so every
training step can be tested on it (``tests/training/test_data_shapes.py``).
The window (``weeks``) and the member count are arguments of
:func:`training.synth.generate`; the rest is applied to the written tables.
``truth/`` describes the data before the shape was applied.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import ConfigError

logger = logging.getLogger(__name__)

#: Item id of the single-item shape (``n_items=1``), as the CSV importer names it.
ANY_ITEM = "any purchase"


@dataclass(frozen=True)
class DataShape:
    """How a generated program departs from the default shape.

    Parameters
    ----------
    n_items : int or None
        Keep this many items (the best sellers); every other line is moved to
        one of them, so volume is kept. ``1``: a single item, :data:`ANY_ITEM`.
    no_categories : bool
        Every item is its own category and department, as the CSV importer
        does without a category column.
    weeks : int or None
        Only the last ``weeks`` weeks of the window (see :meth:`start_for`).
    one_time_share : float
        Share of members who keep only their first basket.
    returns_share : float
        Share of purchase lines followed, a few days later, by a return line
        with negative quantity and amount; one return in five refunds more than
        was paid, and a few members keep only their returns.
    no_offers : bool
        No ``offer_events`` table (nor ``offers``).
    member_bands : bool
        The members file gets who each member is as a survey export gives it: ``age``,
        ``income``, ``household_size`` and ``kids_count`` as bands (``35-44``,
        ``50-74K``, ``5+``), a tenth of them ``unknown`` or empty. Drawn at random: no
        planted effect, only the path from a members file's bands to the models.

    Examples
    --------
    >>> DataShape(n_items=1, no_offers=True).is_default()
    False
    """

    n_items: int | None = None
    no_categories: bool = False
    weeks: int | None = None
    one_time_share: float = 0.0
    returns_share: float = 0.0
    no_offers: bool = False
    member_bands: bool = False

    def validate(self) -> DataShape:
        """Raise :class:`ConfigError` naming a knob out of range."""
        if self.n_items is not None and self.n_items < 1:
            raise ConfigError(f"n_items={self.n_items} should be >= 1.")
        if self.weeks is not None and not 1 <= self.weeks <= 520:
            raise ConfigError(f"weeks={self.weeks} should be between 1 and 520.")
        for name in ("one_time_share", "returns_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name}={value} should be between 0 and 1.")
        return self

    def is_default(self) -> bool:
        return self == DataShape()

    def start_for(self, end):
        """The first day of a ``weeks``-long window ending on ``end`` (None: the default)."""
        if self.weeks is None:
            return None
        return end - pd.Timedelta(days=7 * self.weeks - 1).to_pytimedelta()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def apply_shape(data_dir: str | Path, shape: DataShape, seed: int = 0) -> None:
    """Rewrite the tables of a generated ``data_dir`` into ``shape`` (in place)."""
    shape.validate()
    if shape.is_default():
        return
    root = Path(data_dir)
    rng = np.random.default_rng([seed, 13])
    tx = pd.read_parquet(root / "transactions.parquet")
    items = pd.read_parquet(root / "items.parquet")
    for col in ("member_id", "item_id", "store_id", "channel"):
        tx[col] = tx[col].astype(str)
    if shape.n_items is not None:
        tx, items = _fewer_items(tx, items, shape.n_items)
    if shape.no_categories:
        items = items.assign(category=items["item_id"], department=items["item_id"])
    if shape.one_time_share:
        tx = _one_time_buyers(tx, shape.one_time_share, rng)
    if shape.returns_share:
        tx = _with_returns(tx, shape.returns_share, rng)
    tx = tx.sort_values(["member_id", "timestamp", "basket_id"], kind="stable")
    tx.reset_index(drop=True).to_parquet(root / "transactions.parquet", index=False)
    items.to_parquet(root / "items.parquet", index=False)
    offers_file = root / "offers.parquet"
    if offers_file.exists() and (shape.n_items is not None or shape.no_categories):
        # Offers whose category no item has left target the whole basket.
        offers = pd.read_parquet(offers_file)
        offers["category"] = offers["category"].where(
            offers["category"].isin(set(items["category"])), None)
        offers.to_parquet(offers_file, index=False)
    if shape.member_bands:
        members = pd.read_parquet(root / "members.parquet")
        pd.concat([members, _member_bands(len(members), rng)], axis=1).to_parquet(
            root / "members.parquet", index=False)
    if shape.no_offers:
        (root / "offer_events.parquet").unlink(missing_ok=True)
        (root / "offers.parquet").unlink(missing_ok=True)
    logger.info("applied %s: %d lines, %d items", shape, len(tx), len(items))


#: The bands :func:`_member_bands` draws from, as a survey export writes them.
MEMBER_BANDS = {
    "age": ("19-24", "25-34", "35-44", "45-54", "55-64", "65+"),
    "income": ("Under 15K", "15-24K", "25-34K", "35-49K", "50-74K", "75-99K", "100K+"),
    "household_size": ("1", "2", "3", "4", "5+"),
    "kids_count": ("0", "1", "2", "3+"),
}


def _member_bands(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` members' bands, a tenth of the values ``unknown`` or empty."""
    out = {}
    for column, bands in MEMBER_BANDS.items():
        values = np.asarray(bands, dtype=object)[rng.integers(0, len(bands), n)]
        unknown = rng.random(n) < 0.1
        values[unknown] = np.where(rng.random(int(unknown.sum())) < 0.5, "unknown", None)
        out[column] = values
    return pd.DataFrame(out)


def _fewer_items(tx: pd.DataFrame, items: pd.DataFrame, n: int) -> tuple[pd.DataFrame, ...]:
    if n == 1:
        tx = tx.assign(item_id=ANY_ITEM)
        one = items.iloc[:1].assign(item_id=ANY_ITEM, name=ANY_ITEM,
                                    price=float(items["price"].median()))
        return tx, one.reset_index(drop=True)
    sales = tx.groupby("item_id")["amount"].sum().sort_values(ascending=False, kind="stable")
    keep = sales.index[:n].to_numpy()
    codes = pd.Categorical(tx["item_id"], categories=sales.index).codes
    tx = tx.assign(item_id=keep[codes % len(keep)])  # every other item folds onto a kept one
    return tx, items[items["item_id"].isin(keep)].reset_index(drop=True)


def _one_time_buyers(tx: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.DataFrame:
    members = tx["member_id"].unique()
    once = members[rng.random(len(members)) < share]
    first = tx.groupby("member_id")["basket_id"].transform("min")
    drop = tx["member_id"].isin(once) & (tx["basket_id"] != first)
    return tx.loc[~drop]


def _with_returns(tx: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.DataFrame:
    returned = tx.loc[rng.random(len(tx)) < share].copy()
    refund = np.where(rng.random(len(returned)) < 0.2, 1.5, 1.0)  # refunds larger than paid
    returned["quantity"] = -returned["quantity"]
    returned["amount"] = -returned["amount"] * refund
    returned["timestamp"] += pd.to_timedelta(rng.integers(1, 8, len(returned)), unit="D")
    returned["basket_id"] = tx["basket_id"].max() + 1 + np.arange(len(returned))
    returned = returned[returned["timestamp"] <= tx["timestamp"].max()]
    # A few members keep only their returns (their purchases gone).
    members = returned["member_id"].unique()
    only = members[rng.random(len(members)) < 0.05]
    kept = tx.loc[~tx["member_id"].isin(only)]
    return pd.concat([kept, returned], ignore_index=True)

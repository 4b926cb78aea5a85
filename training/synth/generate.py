"""A synthetic loyalty-program data directory with planted, documented structure.

:func:`generate` writes the five tables of the data contract
(:mod:`features.contract`) plus the planted truth under ``truth/``, which is
not a table of the contract, for tests of later models to check against.
``docs/synthetic.md`` describes the structure; the constants live in
:mod:`training.synth.spec`.

Members are generated in chunks of :data:`~training.synth.spec.MEMBER_CHUNK`,
each from its own random stream seeded by ``(seed, chunk index)``, and every
table is streamed to Parquet one row group per chunk: memory stays bounded
(about 1 GB) at any member count, and the same seed gives byte-identical files.

>>> import tempfile, pathlib, pandas as pd
>>> out = pathlib.Path(tempfile.mkdtemp()) / "synth"
>>> _ = generate(out, n_members=50, seed=1)
>>> sorted(p.name for p in out.iterdir())  # doctest: +NORMALIZE_WHITESPACE
['items.parquet', 'members.parquet', 'offer_events.parquet', 'offers.parquet',
 'transactions.parquet', 'truth']
>>> pd.read_parquet(out / "transactions.parquet")["member_id"].dtype.name
'category'
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.contract import EVENT_TYPES
from features.errors import ConfigError
from features.storage import atomic_directory
from training.synth import spec
from training.synth.activity import Lines, OfferEvents, make_lines, make_offer_events
from training.synth.catalog import (
    Calendar,
    Campaigns,
    Catalog,
    build_calendar,
    build_campaigns,
    build_catalog,
    rng_for,
)
from training.synth.members import NS_PER_DAY, MemberChunk, make_members
from training.synth.shapes import DataShape, apply_shape
from training.synth.spec import SynthConfig
from training.synth.uplift import PlantedUplift, plant_uplift

logger = logging.getLogger(__name__)

DICT = pa.dictionary(pa.int32(), pa.string())
TS = pa.timestamp("ns")

SCHEMAS: dict[str, pa.Schema] = {
    "transactions": pa.schema([
        ("member_id", DICT), ("timestamp", TS), ("item_id", DICT), ("quantity", pa.float64()),
        ("amount", pa.float64()), ("basket_id", pa.int64()), ("discount", pa.float64()),
        ("store_id", DICT), ("channel", DICT),
    ]),
    "members": pa.schema([
        ("member_id", pa.string()), ("joined_at", TS), ("tier", DICT), ("birthday", pa.date32()),
        ("email_opt_in", pa.bool_()), ("sms_opt_in", pa.bool_()), ("push_opt_in", pa.bool_()),
        ("plan", DICT), ("plan_status", DICT), ("points_balance", pa.float64()),
        ("referrals", pa.int64()),
    ]),
    "offer_events": pa.schema([
        ("member_id", DICT), ("offer_id", DICT), ("event", DICT), ("timestamp", TS),
        ("channel", DICT), ("campaign_id", DICT), ("event_id", pa.string()),
    ]),
    "truth/members": pa.schema([
        ("member_id", pa.string()), ("segment", pa.int8()), ("segment_name", DICT),
        ("churn_date", TS), ("fav_category_1", DICT), ("fav_category_2", DICT),
        ("fav_category_3", DICT), ("baskets_per_month", pa.float64()),
        ("lines_per_basket", pa.float64()), ("repeat_share", pa.float64()),
        ("spend", pa.float64()), ("n_baskets", pa.int64()),
    ]),
    "truth/affinity": pa.schema(
        [("member_id", pa.string())] + [(c, pa.float32()) for c in spec.CATEGORIES]),
    "truth/favourite_items": pa.schema([
        ("member_id", DICT), ("category", DICT), ("rank", pa.int8()), ("item_id", DICT),
    ]),
    "truth/uplift": pa.schema([
        ("member_id", DICT), ("offer_type", DICT), ("true_effect_spend", pa.float64()),
        ("true_effect_retention", pa.float64()), ("group", DICT),
    ]),
}

STORES = [spec.ONLINE_STORE] + [f"S{i:03d}" for i in range(1, spec.N_STORES + 1)]
PLANS = ("free", "plus")
PLAN_STATUSES = ("active", "trial", "cancelled")


def _dict(indices: np.ndarray, values: pa.Array | list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()),
                                          pa.array(values, pa.string()))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers``: ``_ids("M", [1], 7) -> ["M0000001"]``."""
    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _table(name: str, columns: dict) -> pa.Table:
    return pa.Table.from_arrays([columns[f.name] for f in SCHEMAS[name]], schema=SCHEMAS[name])


class _Writers:
    """One :class:`pyarrow.parquet.ParquetWriter` per table, one row group per write."""

    def __init__(self, root: Path, stack: contextlib.ExitStack):
        self.root, self.stack, self.open = root, stack, {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.open:
            path = self.root / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            strings = [f.name for f in table.schema
                       if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)]
            self.open[name] = self.stack.enter_context(
                pq.ParquetWriter(path, table.schema, compression="zstd", use_dictionary=strings))
        self.open[name].write_table(table, row_group_size=max(len(table), 1))


def _transactions_table(lines: Lines, member_ids: pa.Array, item_ids: pa.Array) -> pa.Table:
    return _table("transactions", {
        "member_id": _dict(lines.member, member_ids),
        "timestamp": pa.array(lines.timestamp, TS),
        "item_id": _dict(lines.item, item_ids),
        "quantity": pa.array(lines.quantity), "amount": pa.array(lines.amount),
        "basket_id": pa.array(lines.basket_id), "discount": pa.array(lines.discount),
        "store_id": _dict(lines.store, STORES),
        "channel": _dict(lines.channel, list(spec.BASKET_CHANNELS)),
    })


def _offer_events_table(events: OfferEvents, member_ids: pa.Array,
                        campaigns: Campaigns) -> pa.Table:
    return _table("offer_events", {
        "member_id": _dict(events.member, member_ids),
        "offer_id": _dict(events.campaign, campaigns.offer_id),
        "event": _dict(events.event, list(EVENT_TYPES)),
        "timestamp": pa.array(events.timestamp, TS),
        "channel": _dict(events.channel, list(spec.OFFER_CHANNELS)),
        "campaign_id": _dict(events.campaign, campaigns.campaign_id),
        "event_id": pc.binary_join_element_wise(
            "E", pa.array(events.event_number).cast(pa.string()), ""),
    })


def _member_tables(rng: np.random.Generator, members: MemberChunk, lines: Lines,
                   member_ids: pa.Array, calendar: Calendar,
                   item_ids: pa.Array) -> dict[str, pa.Table]:
    n = len(members)
    spend = np.bincount(lines.member, lines.amount, minlength=n)
    first_line = np.r_[True, lines.basket_id[1:] != lines.basket_id[:-1]][:len(lines)]
    n_baskets = np.bincount(lines.member[first_line], minlength=n)
    tier = np.searchsorted([t for _, t in spec.TIERS], spend, side="right") - 1
    churned = members.churn_day >= 0
    paid = members.plus & ~members.trial
    cancelled = paid & churned & (rng.random(n) < spec.PLUS_CANCEL_IF_CHURNED)
    status = np.where(members.trial, 1, np.where(cancelled, 2, 0))
    points = np.floor(spend * np.where(members.plus, 2, 1) * rng.uniform(0.1, 1.0, n))
    birthday = pa.array(members.birth, pa.date32(), mask=~members.birthday_known)
    churn_ns = calendar.start_ns + members.churn_day * NS_PER_DAY
    top = np.argsort(-members.affinity, axis=1, kind="stable")[:, :3]
    cats = list(spec.CATEGORIES)
    fav_rows = np.repeat(np.arange(n), 3 * spec.FAVOURITES_PER_CATEGORY)
    fav_cat = np.repeat(top, spec.FAVOURITES_PER_CATEGORY, axis=1).ravel()
    fav_rank = np.tile(np.arange(1, spec.FAVOURITES_PER_CATEGORY + 1), 3 * n)
    fav_item = members.favourites[fav_rows, fav_cat, fav_rank - 1]
    return {
        "members": _table("members", {
            "member_id": member_ids, "joined_at": pa.array(members.joined_ns, TS),
            "tier": _dict(tier, [t for t, _ in spec.TIERS]), "birthday": birthday,
            "email_opt_in": pa.array(members.opt_in[:, 0]),
            "sms_opt_in": pa.array(members.opt_in[:, 1]),
            "push_opt_in": pa.array(members.opt_in[:, 2]),
            "plan": _dict(members.plus.astype(np.int32), list(PLANS)),
            "plan_status": _dict(status, list(PLAN_STATUSES)),
            "points_balance": pa.array(points),
            "referrals": pa.array(members.referrals, pa.int64()),
        }),
        "truth/members": _table("truth/members", {
            "member_id": member_ids, "segment": pa.array(members.segment, pa.int8()),
            "segment_name": _dict(members.segment, [s.name for s in spec.SEGMENTS]),
            "churn_date": pa.array(churn_ns, TS, mask=~churned),
            **{f"fav_category_{j + 1}": _dict(top[:, j], cats) for j in range(3)},
            "baskets_per_month": pa.array(members.rate * 365.25 / 12),
            "lines_per_basket": pa.array(members.basket_size),
            "repeat_share": pa.array(members.repeat_share),
            "spend": pa.array(np.round(spend, 2)), "n_baskets": pa.array(n_baskets, pa.int64()),
        }),
        "truth/affinity": _table("truth/affinity", {
            "member_id": member_ids,
            **{c: pa.array(members.affinity[:, j], pa.float32()) for j, c in enumerate(cats)},
        }),
        "truth/favourite_items": _table("truth/favourite_items", {
            "member_id": _dict(fav_rows, member_ids), "category": _dict(fav_cat, cats),
            "rank": pa.array(fav_rank, pa.int8()), "item_id": _dict(fav_item, item_ids),
        }),
    }


def _uplift_table(planted: PlantedUplift, member_ids: pa.Array) -> pa.Table:
    n, t = planted.group.shape
    return _table("truth/uplift", {
        "member_id": _dict(np.repeat(np.arange(n), t), member_ids),
        "offer_type": _dict(np.tile(np.arange(t), n), list(spec.OFFER_TYPES)),
        "true_effect_spend": pa.array(np.round(planted.effect_spend.ravel(), 4)),
        "true_effect_retention": pa.array(np.round(planted.effect_retention.ravel(), 6)),
        "group": _dict(planted.group.ravel(), list(spec.UPLIFT_GROUPS)),
    })


def _items_table(catalog: Catalog) -> pa.Table:
    cats = np.asarray(spec.CATEGORIES)[catalog.item_category]
    return pa.table({
        "item_id": pa.array(catalog.item_ids, pa.string()),
        "category": pa.array(cats, pa.string()),
        "department": pa.array([spec.CATEGORY_DEPARTMENT[c] for c in cats], pa.string()),
        "brand": pa.array(catalog.brand, pa.string()),
        "name": pa.array(catalog.names, pa.string()),
        "price": pa.array(catalog.price),
    })


def _offers_table(campaigns: Campaigns, calendar: Calendar) -> pa.Table:
    cats = [spec.CATEGORIES[c] for c in campaigns.category]
    send = np.datetime64(calendar.start, "D") + campaigns.send_day
    return pa.table({
        "offer_id": campaigns.offer_id, "campaign_id": campaigns.campaign_id,
        "category": cats, "department": [spec.CATEGORY_DEPARTMENT[c] for c in cats],
        "type": campaigns.offer_type, "depth": pa.array(campaigns.depth),
        "send_date": pa.array(send, pa.date32()),
        "valid_days": pa.array(np.full(len(cats), spec.OFFER_VALID_DAYS), pa.int32()),
    })


def _contract_offers_table(campaigns: Campaigns) -> pa.Table:
    """The data's ``offers`` table (:data:`features.contract.OFFERS`): what each offer is.

    Its types (:data:`spec.OFFER_TYPES`) are names the engine's catalog resolves
    (``percent_off`` is an alias of ``personalised_discount``'s type), so that a
    version trained on this data scores those templates with the learned model.
    """
    return pa.table({
        "offer_id": campaigns.offer_id, "type": campaigns.offer_type,
        "depth": pa.array(campaigns.depth),
        "category": [spec.CATEGORIES[c] for c in campaigns.category],
        "valid_days": pa.array(np.full(len(campaigns.depth), spec.OFFER_VALID_DAYS), pa.float64()),
    })


def _as_date(name: str, value) -> dt.date:
    """A date from a date, a datetime (its day) or an ISO string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(value)
    raise ConfigError(f"{name}={value!r} is not a date; write it as 2025-12-31.")


def _year_before(end: dt.date) -> dt.date:
    """The first day of the year-long window ending on ``end`` (inclusive)."""
    after = end + dt.timedelta(days=1)
    day = min(after.day, 28) if (after.month, after.day) == (2, 29) else after.day
    return after.replace(year=after.year - 1, day=day)


def generate(out_dir: str | os.PathLike, n_members: int, seed: int = 0,
             start: dt.date | None = None, end: dt.date | None = None, *,
             overwrite: bool = False,
             progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
             chunk_size: int = spec.MEMBER_CHUNK, shape: DataShape | None = None) -> Path:
    """Write a synthetic data directory to ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Created atomically; an existing non-empty directory is replaced only
        with ``overwrite``.
    n_members : int
        Members to generate (about 100 transaction lines each per year).
    seed : int
        Same seed (and arguments) -> byte-identical files.
    start, end : date or ISO string, optional
        The window, both days inclusive; by default the year 2025. Without
        ``start`` the window is the year ending on ``end``, which must be
        before today.
    progress : callable, optional
        Wraps the iterable of chunk indices, e.g. ``tqdm`` or
        :func:`training.progress.track`, to show progress per chunk.
    chunk_size : int
        Members per chunk and row group. Part of the random seeding: changing
        it changes the data. Keep the default except in tests.
    shape : DataShape, optional
        Another data shape (one item, no categories, a few weeks, one-time
        buyers, returns as negative lines, no offers; :mod:`training.synth.shapes`).
        ``shape.weeks`` sets the window when ``start`` is not given.

    Returns
    -------
    Path
        ``out_dir``.
    """
    end = _as_date("end", end or spec.DEFAULT_END)
    shape = (shape or DataShape()).validate()
    if start is None and shape.weeks is not None:
        start = shape.start_for(end)
    start = _year_before(end) if start is None else _as_date("start", start)
    config = SynthConfig(n_members, seed, start, end, chunk_size).validate()
    catalog = build_catalog(seed)
    calendar = build_calendar(start, config.n_days)
    campaigns = build_campaigns(seed, calendar)
    item_ids = pa.array(catalog.item_ids, pa.string())
    width = max(7, len(str(n_members)))
    with atomic_directory(out_dir, overwrite) as tmp, contextlib.ExitStack() as stack:
        pq.write_table(_items_table(catalog), tmp / "items.parquet", compression="zstd")
        writers = _Writers(tmp, stack)
        chunks = range(-(-n_members // chunk_size))
        for chunk in progress(chunks) if progress is not None else chunks:
            first = chunk * chunk_size
            n = min(chunk_size, n_members - first)
            rng = rng_for(seed, 1, chunk)
            members = make_members(rng, first + 1, n, catalog, calendar)
            lines = make_lines(rng, members, catalog, calendar)
            events = make_offer_events(rng_for(seed, 2, chunk), members, campaigns, calendar)
            planted = plant_uplift(rng_for(seed, 3, chunk), members, lines, events, catalog,
                                   campaigns, calendar)
            lines, events = planted.lines, planted.events
            member_ids = _ids("M", members.number, width)
            writers.write("transactions", _transactions_table(lines, member_ids, item_ids))
            for name, table in _member_tables(rng, members, lines, member_ids, calendar,
                                              item_ids).items():
                writers.write(name, table)
            writers.write("offer_events", _offer_events_table(events, member_ids, campaigns))
            writers.write("truth/uplift", _uplift_table(planted, member_ids))
            logger.debug("chunk %d: %d members, %d lines, %d offer events",
                         chunk, n, len(lines), len(events))
        stack.close()
        (tmp / "truth").mkdir(exist_ok=True)
        pq.write_table(_offers_table(campaigns, calendar), tmp / "truth" / "offers.parquet")
        pq.write_table(_contract_offers_table(campaigns), tmp / "offers.parquet")
        truth = spec.spec_dict(config)
        if not shape.is_default():
            truth["shape"] = shape.to_dict()  # truth/ describes the data before the shape
        (tmp / "truth" / "segments.json").write_text(json.dumps(truth, indent=2) + "\n")
        apply_shape(tmp, shape, seed)
    logger.info("wrote %d members to %s", n_members, out_dir)
    return Path(out_dir)

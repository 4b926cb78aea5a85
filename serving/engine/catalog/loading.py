"""Read and validate an offer catalog (YAML or JSON) into a :class:`Catalog`.

Every problem raises :class:`~features.errors.ConfigError` naming the file,
the offer id, the field and what was expected, e.g.::

    catalog.yaml: offer 'fav-discount': field 'value.amount': expected a number
    in (0, 100], got 150.

The schema is documented in ``docs/catalog.md``; :data:`DEFAULT_CATALOG` is
the catalog shipped with the package.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from features.errors import ConfigError
from serving.engine.catalog.fields import (
    ID,
    Where,
    check_placeholders,
    date,
    mapping,
    month_day,
    number,
)
from serving.engine.catalog.schema import (
    AUDIENCES,
    CHANNELS,
    DEPTH_KINDS,
    OFFER_TYPES,
    RANGE_FIELDS,
    TARGET_KINDS,
    TIER_BASES,
    VALUE_KINDS,
    Caps,
    Catalog,
    Economics,
    Eligibility,
    OfferTemplate,
    Retention,
    Target,
    Tier,
    Value,
)

#: The catalog shipped with the package (package data of ``serving.engine``).
DEFAULT_CATALOG = Path(__file__).with_name("default_catalog.yaml")
_TOP_KEYS = {"catalog_version", "campaign", "currency", "economics", "retention", "tiers",
             "consent", "contact_policy", "control_group", "exclude_categories", "defaults",
             "offers"}
_OFFER_KEYS = {"id", "type", "title", "message", "reason", "target", "value", "cost",
               "business_value", "incremental_share", "p_redeem", "retention", "eligibility",
               "caps", "priority", "expiry_days", "response_type"}


def load_catalog(path: str | os.PathLike | None = None) -> Catalog:
    """Read and validate the catalog at ``path`` (default :data:`DEFAULT_CATALOG`).

    ``.yaml``/``.yml`` files are read as YAML, ``.json`` as JSON.

    Raises
    ------
    ConfigError
        If the file is missing, unreadable or breaks the schema.
    """
    path = Path(path) if path is not None else DEFAULT_CATALOG
    if not path.is_file():
        raise ConfigError(f"catalog file {path} does not exist; give a YAML or JSON catalog "
                          "(see docs/catalog.md).")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'YAML'}: "
                          f"{exc}") from None
    return parse_catalog(raw, source=str(path))


def parse_catalog(raw: Any, source: str = "<memory>") -> Catalog:
    """Validate an already parsed catalog (a dict, as read from YAML/JSON)."""
    top = Where(source)
    mapping(raw, top, _TOP_KEYS)
    if raw.get("catalog_version", 1) != 1:
        raise (top / "catalog_version").fail("1", raw.get("catalog_version"))
    economics = _economics(raw.get("economics", {}), top / "economics")
    retention = _retention(raw.get("retention", {}), top / "retention")
    tiers, basis = _tiers(raw.get("tiers"), top / "tiers")
    consent = mapping(raw.get("consent", {}), top / "consent", {"unknown", "fields"})
    unknown_consent = consent.get("unknown", "allow")
    if unknown_consent not in ("allow", "deny"):
        raise (top / "consent.unknown").fail("'allow' or 'deny'", unknown_consent)
    fields = {"app": None, "email": "email_opt_in", "sms": "sms_opt_in"}
    given = mapping(consent.get("fields", {}), top / "consent.fields", set(CHANNELS))
    for channel, name in given.items():
        if name not in (None, "email_opt_in", "sms_opt_in", "push_opt_in"):
            raise (top / f"consent.fields.{channel}").fail(
                "null or one of email_opt_in, sms_opt_in, push_opt_in", name)
        fields[channel] = name
    contact = mapping(raw.get("contact_policy", {}), top / "contact_policy",
                       {"max_offers", "days"})
    control = mapping(raw.get("control_group", {}), top / "control_group", {"share"})
    defaults = mapping(raw.get("defaults", {}), top / "defaults",
                        {"expiry_days", "channels", "caps"})
    offers_raw = raw.get("offers")
    if not isinstance(offers_raw, list) or not offers_raw:
        raise (top / "offers").fail("a non-empty list of offer templates", offers_raw)
    offers, seen = [], set()
    for k, item in enumerate(offers_raw):
        offer_id = item.get("id") if isinstance(item, dict) else None
        where = Where(source, str(offer_id) if offer_id is not None else f"#{k + 1}")
        template = _offer(item, where, defaults, tiers)
        if template.id in seen:
            raise (where / "id").fail("an id used by no other offer", template.id)
        seen.add(template.id)
        offers.append(template)
    excluded = raw.get("exclude_categories", [])
    if not isinstance(excluded, list) or not all(isinstance(c, str) for c in excluded):
        raise (top / "exclude_categories").fail("a list of category names", excluded)
    campaign = raw.get("campaign", "always-on")
    if not isinstance(campaign, str) or not ID.match(campaign):
        raise (top / "campaign").fail("an id of letters, digits, '-', '_' or '.'", campaign)
    currency = raw.get("currency", "$")
    if not isinstance(currency, str) or len(currency) > 5:
        raise (top / "currency").fail("a currency symbol or code of at most 5 characters",
                                      currency)
    max_offers = contact.get("max_offers", 3)
    return Catalog(
        offers=tuple(offers), source=source, campaign=campaign, currency=currency,
        economics=economics, retention=retention, tiers=tiers, tier_basis=basis,
        consent_unknown=unknown_consent, consent_fields=fields,
        contact_max=None if max_offers is None else int(
            number(max_offers, top / "contact_policy.max_offers", lo=1, integer=True)),
        contact_days=number(contact.get("days", 7), top / "contact_policy.days", lo=0,
                             lo_open=True),
        control_share=number(control.get("share", 0.05), top / "control_group.share", 0, 0.5),
        exclude_categories=frozenset(excluded),
    )


# ----------------------------------------------------------------- sections
def _economics(raw, where: Where) -> Economics:
    raw = mapping(raw, where, {"margin", "incremental_share", "point_value", "points_per_unit",
                                "send_cost", "default_basket"})
    send = mapping(raw.get("send_cost", {}), where / "send_cost", set(CHANNELS))
    costs = dict.fromkeys(CHANNELS, 0.0)
    for channel, value in send.items():
        costs[channel] = number(value, where / f"send_cost.{channel}", lo=0)
    basket = raw.get("default_basket")
    return Economics(
        margin=number(raw.get("margin", 0.30), where / "margin", 0, 1),
        incremental_share=number(raw.get("incremental_share", 0.25),
                                  where / "incremental_share", 0, 1),
        point_value=number(raw.get("point_value", 0.01), where / "point_value", lo=0),
        points_per_unit=number(raw.get("points_per_unit", 1.0), where / "points_per_unit", lo=0),
        send_cost=costs,
        default_basket=None if basket is None else number(basket, where / "default_basket",
                                                           lo=0, lo_open=True),
    )


def _retention(raw, where: Where) -> Retention:
    raw = mapping(raw, where, {"effect_max", "half_effect", "max_clv_share"})
    return Retention(
        effect_max=number(raw.get("effect_max", 0.30), where / "effect_max", 0, 1),
        half_effect=number(raw.get("half_effect", 10.0), where / "half_effect", lo=0,
                            lo_open=True),
        max_clv_share=number(raw.get("max_clv_share", 0.05), where / "max_clv_share", 0, 1),
    )


def _tiers(raw, where: Where) -> tuple[tuple[Tier, ...], str]:
    if raw is None:
        return (), "annual_spend"
    raw = mapping(raw, where, {"basis", "levels"})
    basis = raw.get("basis", "annual_spend")
    if basis not in TIER_BASES:
        raise (where / "basis").fail(f"one of {', '.join(TIER_BASES)}", basis)
    levels = raw.get("levels")
    if not isinstance(levels, list) or len(levels) < 2:
        raise (where / "levels").fail("a list of at least two {name, min} levels", levels)
    tiers = []
    for k, level in enumerate(levels):
        at = where / f"levels[{k}]"
        level = mapping(level, at, {"name", "min"})
        name = level.get("name")
        if not isinstance(name, str) or not name:
            raise (at / "name").fail("a tier name", name)
        tiers.append(Tier(name, number(level.get("min"), at / "min", lo=0)))
    mins = [t.min for t in tiers]
    if mins[0] != 0 or any(b <= a for a, b in zip(mins, mins[1:])):
        raise (where / "levels").fail("levels in increasing order of min, the first at 0", mins)
    if len({t.name.lower() for t in tiers}) != len(tiers):
        raise (where / "levels").fail("distinct tier names", [t.name for t in tiers])
    return tuple(tiers), basis


def _offer(raw, where: Where, defaults: dict, tiers: tuple[Tier, ...]) -> OfferTemplate:
    raw = mapping(raw, where, _OFFER_KEYS)
    offer_id = raw.get("id")
    if not isinstance(offer_id, str) or not ID.match(offer_id):
        raise (where / "id").fail("an id of letters, digits, '-', '_' or '.' (at most 64)",
                                  offer_id)
    offer_type = raw.get("type")
    if offer_type not in OFFER_TYPES:
        raise (where / "type").fail(f"one of {', '.join(OFFER_TYPES)}", offer_type)
    if offer_type == "tier_upgrade" and not tiers:
        raise (where / "type").fail("a 'tiers' section at the top of the catalog for a "
                                    "tier_upgrade offer", None, show_got=False)
    target = _target(raw.get("target", {"kind": "basket"}), where / "target")
    value = _value(raw.get("value"), where / "value")
    caps = _caps(raw.get("caps", defaults.get("caps", {})), where / "caps")
    eligibility = _eligibility(raw.get("eligibility", {}), where / "eligibility",
                               defaults.get("channels"), tiers)
    texts = {"title": raw.get("title"), "reason": raw.get("reason", OFFER_TYPES[offer_type][1])}
    for name, text in texts.items():
        if not isinstance(text, str) or not text.strip():
            raise (where / name).fail("a non-empty text", text)
    message = raw.get("message")
    if isinstance(message, str):
        message = dict.fromkeys(CHANNELS, message)
    elif isinstance(message, dict):
        missing = [c for c in sorted(eligibility.channels) if c not in message]
        if missing or set(message) - set(CHANNELS):
            channels = ", ".join(sorted(eligibility.channels))
            raise (where / "message").fail(
                f"a text, or one text per channel it is offered on ({channels})", sorted(message))
    else:
        raise (where / "message").fail("a text or a mapping of channel to text", message)
    for key, text in [*texts.items(), *((f"message.{c}", t) for c, t in message.items())]:
        check_placeholders(text, where / key, target, bool(tiers), value.item_id is not None)
    cost = mapping(raw.get("cost", {}), where / "cost", {"fixed", "per_redemption"})
    per_redemption = cost.get("per_redemption")
    if value.kind in ("perk", "free_trial") and per_redemption is None and "fixed" not in cost:
        raise (where / "cost").fail(f"cost.fixed or cost.per_redemption for a {value.kind!r} value",
                                    None, show_got=False)
    item_target = target.kind == "item" or (target.kind == "recommended"
                                            and target.level == "item")
    if value.kind == "free_item" and value.item_id is None and not item_target:
        raise (where / "value.item_id").fail(
            "the free item's id (or an item or recommended item target)", None, show_got=False)
    optional = {}
    for key, lo, hi in (("incremental_share", 0, 1), ("p_redeem", 0, 1)):
        if key in raw:
            optional[key] = number(raw[key], where / key, lo, hi)
    retention = raw.get("retention", offer_type == "win_back")
    if not isinstance(retention, bool):
        raise (where / "retention").fail("true or false", retention)
    if value.depths and not retention:
        raise (where / "value.depths").fail("depths only on a retention offer", value.depths)
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise (where / "priority").fail("an integer", priority)
    if "response_type" in raw:
        if not (isinstance(raw["response_type"], str) and raw["response_type"].strip()):
            raise (where / "response_type").fail(
                "the offer type of the data (offers table) to score this template as",
                raw["response_type"])
        optional["response_type"] = raw["response_type"].strip()
    return OfferTemplate(
        id=offer_id, type=offer_type, title=texts["title"], message=message,
        reason=texts["reason"], target=target, value=value,
        cost_fixed=number(cost.get("fixed", 0.0), where / "cost.fixed", lo=0),
        cost_per_redemption=None if per_redemption is None else number(
            per_redemption, where / "cost.per_redemption", lo=0),
        business_value=number(raw.get("business_value", 0.0), where / "business_value", lo=0),
        retention=retention, eligibility=eligibility, caps=caps, priority=priority,
        expiry_days=number(raw.get("expiry_days", defaults.get("expiry_days", 14)),
                            where / "expiry_days", lo=0, lo_open=True),
        **optional,
    )


def _target(raw, where: Where) -> Target:
    raw = mapping(raw, where, {"kind", "category", "item_id", "level", "rank"})
    kind = raw.get("kind")
    if kind not in TARGET_KINDS:
        raise (where / "kind").fail(f"one of {', '.join(TARGET_KINDS)}", kind)
    if kind == "category" and not isinstance(raw.get("category"), str):
        raise (where / "category").fail("a category name for a category target",
                                        raw.get("category"))
    if kind == "item" and not isinstance(raw.get("item_id"), (str, int)):
        raise (where / "item_id").fail("an item id for an item target", raw.get("item_id"))
    level = raw.get("level", "category")
    if level not in ("category", "item"):
        raise (where / "level").fail("'category' or 'item'", level)
    rank = raw.get("rank", 1)
    if rank not in (1, 2, 3):
        raise (where / "rank").fail("1, 2 or 3 (which of the member's top categories)", rank)
    item = raw.get("item_id")
    return Target(kind, raw.get("category"), None if item is None else str(item), level, rank)


def _value(raw, where: Where) -> Value:
    raw = mapping(raw, where, {"kind", "amount", "depths", "points_price", "item_id"})
    kind = raw.get("kind")
    if kind not in VALUE_KINDS:
        raise (where / "kind").fail(f"one of {', '.join(VALUE_KINDS)}", kind)
    depths = raw.get("depths")
    amount = math.nan
    hi = 100 if kind in ("percent_off", "cashback_percent") else 50 if kind == \
        "points_multiplier" else math.inf
    if depths is not None:
        if kind not in DEPTH_KINDS:
            raise (where / "depths").fail(f"depths only for {', '.join(DEPTH_KINDS)}", depths)
        if not isinstance(depths, list) or not depths:
            raise (where / "depths").fail("a non-empty list of amounts", depths)
        depths = tuple(sorted(number(d, where / "depths", lo=0, hi=hi, lo_open=True)
                              for d in depths))
        if "amount" in raw:
            raise (where / "amount").fail("either amount or depths, not both", raw["amount"])
    elif VALUE_KINDS[kind] is not None:
        lo = 1 if kind == "points_multiplier" else 0
        amount = number(raw.get("amount"), where / "amount", lo=lo, hi=hi, lo_open=True)
    points_price = math.nan
    if "points_price" in raw:
        points_price = number(raw["points_price"], where / "points_price", lo=0)
    item = raw.get("item_id")
    return Value(kind, amount, depths or (), points_price, None if item is None else str(item))


def _caps(raw, where: Where) -> Caps:
    raw = mapping(raw, where, {"per_member", "cooldown_days", "budget", "redemptions"})
    per = mapping(raw.get("per_member", {}), where / "per_member", {"max", "days"})
    budget, limit = raw.get("budget"), raw.get("redemptions")
    return Caps(
        per_member_max=None if per.get("max") is None else int(
            number(per["max"], where / "per_member.max", lo=1, integer=True)),
        per_member_days=number(per.get("days", 30), where / "per_member.days", lo=0,
                                lo_open=True),
        cooldown_days=number(raw.get("cooldown_days", 0), where / "cooldown_days", lo=0),
        budget=None if budget is None else number(budget, where / "budget", lo=0),
        redemptions=None if limit is None else int(
            number(limit, where / "redemptions", lo=0, integer=True)),
    )


def _eligibility(raw, where: Where, default_channels, tiers) -> Eligibility:
    keys = {"audience", "channels", "segments", "clusters", "tiers", "plan_status",
            "birthday_within_days", "anniversary_within_days", "dates", "season", *RANGE_FIELDS}
    raw = mapping(raw, where, keys)
    audience = raw.get("audience", "known")
    if audience not in AUDIENCES:
        raise (where / "audience").fail(f"one of {', '.join(AUDIENCES)}", audience)
    channels = raw.get("channels", default_channels or list(CHANNELS))
    if not isinstance(channels, list) or not channels or set(channels) - set(CHANNELS):
        raise (where / "channels").fail(f"a non-empty list of {', '.join(CHANNELS)}", channels)
    names = {}
    for key in ("segments", "clusters", "tiers", "plan_status"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, list) or not value:
                raise (where / key).fail("a non-empty list of names", value)
            names[key] = frozenset(str(v).lower() if key in ("tiers", "plan_status") else str(v)
                                   for v in value)
    if "tiers" in names and not tiers:
        raise (where / "tiers").fail("a 'tiers' section at the top of the catalog first",
                                     sorted(names["tiers"]))
    if "tiers" in names and names["tiers"] - {t.name.lower() for t in tiers}:
        raise (where / "tiers").fail(f"names from {[t.name for t in tiers]}",
                                     sorted(names["tiers"]))
    ranges = {}
    for key in RANGE_FIELDS:
        if key in raw:
            bounds = mapping(raw[key], where / key, {"min", "max"})
            lo = number(bounds.get("min", -math.inf), where / f"{key}.min")
            hi = number(bounds.get("max", math.inf), where / f"{key}.max")
            if lo > hi:
                raise (where / key).fail("min <= max", bounds)
            ranges[key] = (lo, hi)
    if "next_tier_gap" in ranges and not tiers:
        raise (where / "next_tier_gap").fail("a 'tiers' section at the top of the catalog",
                                             None, show_got=False)
    within = {k: number(raw[k], where / k, lo=0, hi=366)
              for k in ("birthday_within_days", "anniversary_within_days") if k in raw}
    start = end = None
    if "dates" in raw:
        dates = mapping(raw["dates"], where / "dates", {"start", "end"})
        start, end = (date(dates.get(k), where / f"dates.{k}") for k in ("start", "end"))
        if end is not None and len(str(dates["end"])) <= 10:  # a date: the whole day counts
            end = end + np.timedelta64(86_399, "s")
        if start is not None and end is not None and end < start:
            raise (where / "dates").fail("end on or after start", dates)
    season = None
    if "season" in raw:
        window = mapping(raw["season"], where / "season", {"from", "to"})
        season = tuple(month_day(window.get(k), where / f"season.{k}") for k in ("from", "to"))
    return Eligibility(audience=audience, channels=frozenset(channels),
                       segments=names.get("segments"), clusters=names.get("clusters"),
                       tiers=names.get("tiers"), plan_status=names.get("plan_status"),
                       ranges=ranges, birthday_within_days=within.get("birthday_within_days"),
                       anniversary_within_days=within.get("anniversary_within_days"),
                       start=start, end=end, season=season)

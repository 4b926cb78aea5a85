"""Offer catalogs: the shipped default is valid and complete; bad catalogs are rejected clearly."""

from __future__ import annotations

import json

import pytest

from features.errors import ConfigError
from serving.engine import OFFER_TYPES, load_catalog, parse_catalog
from serving.engine.catalog.loading import DEFAULT_CATALOG

GOOD = {"id": "ok", "type": "personalised_discount", "title": "{percent}% off {category}",
        "message": "m", "target": {"kind": "recommended"},
        "value": {"kind": "percent_off", "amount": 10}}


def test_default_catalog_is_valid_and_covers_every_offer_type():
    catalog = load_catalog()
    assert catalog.source == str(DEFAULT_CATALOG)
    assert set(OFFER_TYPES) <= {t.type for t in catalog.offers}
    kinds = {t.value.kind for t in catalog.offers}
    assert {"percent_off", "amount_off", "cashback_percent", "points_multiplier", "bonus_points",
            "free_item", "perk", "free_trial", "points_donation"} <= kinds
    deep = catalog.offer("win-back-discount")
    assert deep.retention and len(deep.value.depths) > 1
    assert catalog.control_share == 0.05 and catalog.contact_max == 3
    assert [t.name for t in catalog.tiers] == ["bronze", "silver", "gold", "platinum"]


def test_json_catalog_reads_like_yaml(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"offers": [GOOD]}))
    assert load_catalog(path).offers[0].id == "ok"


def _error(offers=None, **top) -> str:
    raw = {"offers": offers if offers is not None else [GOOD], **top}
    with pytest.raises(ConfigError) as info:
        parse_catalog(raw, source="bad.yaml")
    return str(info.value)


@pytest.mark.parametrize("change, expected", [
    ({"type": "coupon"}, "offer 'ok': field 'type': expected one of personalised_discount"),
    ({"value": {"kind": "percent_off", "amount": 150}},
     "field 'value.amount': expected a number in (0, 100], got 150"),
    ({"value": {"kind": "percent_off"}}, "field 'value.amount': expected a number"),
    ({"target": {"kind": "category"}}, "field 'target.category': expected a category name"),
    ({"title": "{percent}% off {catgory}"}, "field 'title': expected placeholders from"),
    ({"title": "{category} deal", "target": {"kind": "basket"}},
     "expected no {category} or {item} on a whole-basket offer"),
    ({"eligibility": {"churn_risk": {"min": 0.8, "max": 0.2}}},
     "field 'eligibility.churn_risk': expected min <= max"),
    ({"eligibility": {"channels": ["fax"]}}, "field 'eligibility.channels'"),
    ({"eligibility": {"season": {"from": "13-01", "to": "12-31"}}},
     "field 'eligibility.season.from': expected a month and day like '11-15'"),
    ({"eligibility": {"dates": {"start": "2026-13-45"}}},
     "field 'eligibility.dates.start': expected an ISO date"),
    ({"eligibility": {"tiers": ["gold"]}}, "expected a 'tiers' section at the top"),
    ({"caps": {"per_member": {"max": 0}}}, "field 'caps.per_member.max': expected an integer"),
    ({"value": {"kind": "perk"}}, "field 'cost': expected cost.fixed or cost.per_redemption"),
    ({"value": {"kind": "percent_off", "depths": [5, 10]}},
     "field 'value.depths': expected depths only on a retention offer"),
    ({"colour": "red"}, "expected only the fields"),
    ({"message": {"app": "hi"}}, "field 'message': expected a text, or one text per channel"),
])
def test_bad_offer_is_rejected_naming_file_offer_and_field(change, expected):
    message = _error([{**GOOD, **change}])
    assert message.startswith("bad.yaml: offer 'ok':")
    assert expected in message


def test_bad_top_level_sections_are_rejected():
    assert "field 'economics.margin': expected a number in [0, 1], got 1.5" in _error(
        economics={"margin": 1.5})
    assert "field 'offers': expected a non-empty list" in _error(offers=[])
    assert "field 'id': expected an id used by no other offer" in _error(offers=[GOOD, GOOD])
    assert "field 'tiers.levels': expected levels in increasing order" in _error(
        tiers={"levels": [{"name": "a", "min": 0}, {"name": "b", "min": 0}]})
    assert "field 'consent.unknown': expected 'allow' or 'deny'" in _error(
        consent={"unknown": "maybe"})
    assert "field 'control_group.share': expected a number in [0, 0.5]" in _error(
        control_group={"share": 0.9})


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalog(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("offers: [\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_catalog(broken)

"""serving.api.json_response: orjson-encoded responses are what Flask's own provider writes."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import numpy as np
import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from serving.api.json_response import FastJSONProvider


@pytest.fixture()
def apps():
    fast, plain = Flask("fast"), Flask("plain")
    fast.json = FastJSONProvider(fast)
    plain.json = DefaultJSONProvider(plain)
    plain.json.sort_keys = False
    return fast, plain


DOCUMENTS = [
    {"member_id": "123", "known": True, "offers": [
        {"offer_id": "a", "score": 1.2345, "p_redeem": 0.0001, "cost": 0.0, "codes": ["X", "Y"],
         "value": {"kind": "percent_off", "amount": 15.0}, "none": None}], "z": 1, "a": -2},
    {"items": [{"score": 0.1 + 0.2}, {"score": 1 / 3}, {"score": 123456.789}], "n": 2**40},
    [1, "two", 3.5, False, None, {"nested": [{}]}],
    {"name": "Café crème", "tier": "Ünter"},  # non-ASCII: escaped, as Flask does
    {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)},  # dates: Flask's format
    {"numpy": np.float64(0.25), "count": np.int64(3)},  # Flask rejects these: so must we
    {1: "int keys", "b": "str"},  # json turns int keys into strings
    {"big": 2**70},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_same_body_and_headers_as_flask(apps, document):
    fast, plain = apps
    with fast.app_context():
        try:
            expected = plain.json.response(document)
        except TypeError:
            with pytest.raises(TypeError):
                fast.json.response(document)
            return
        got = fast.json.response(document)
    assert got.get_data() == expected.get_data()
    assert got.mimetype == expected.mimetype == "application/json"
    assert got.get_data().endswith(b"\n")


def test_small_and_large_floats_keep_their_value(apps):
    fast, _ = apps
    values = [1e-05, 3.2e-07, 1e16, 12345678901234567890.0, 0.1]
    with fast.app_context():
        body = fast.json.response({"v": values}).get_data()
    assert json.loads(body)["v"] == values


def test_indented_in_debug_mode_like_flask(apps):
    fast, plain = apps
    fast.debug = plain.debug = True
    with fast.app_context():
        assert fast.json.response({"a": [1]}).get_data() == plain.json.response(
            {"a": [1]}).get_data()


def test_non_finite_floats_are_null(apps):
    fast, _ = apps
    with fast.app_context():
        body = fast.json.response({"x": math.nan}).get_data()
    assert json.loads(body) == {"x": None}

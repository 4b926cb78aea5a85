"""Scoring planned sends (serving/engine/planned_sends.py) on the tiny bundle."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from tiny_program import offer

from features.errors import DataError
from serving.engine import EngineConfig, OfferEngine
from serving.engine.planned_sends import score_sends

NOW = "2026-01-02T10:00"


@pytest.fixture(scope="module")
def engine(tiny_bundle, catalog):
    cat = catalog(offer("basket", value={"kind": "percent_off", "amount": 10}),
                  offer("coffee", "cashback", target={"kind": "category", "category": "coffee"},
                        value={"kind": "cashback_percent", "amount": 5}))
    return OfferEngine(tiny_bundle(), cat, EngineConfig(min_expected_value=-1e9))


def test_each_send_gets_the_engines_p_cost_and_value_and_a_status(engine):
    sends = pd.DataFrame({"member_id": ["loyal", "newbie", "nobody", "bad id!", "loyal"],
                          "offer_id": ["coffee", "basket", "basket", "basket", "nope"],
                          "channel": ["app", "", "app", "app", "app"],
                          "timestamp": [NOW, "", NOW, NOW, NOW]})
    out = score_sends(engine, sends, now=NOW, id_pattern=re.compile(r"^[a-z]+$"))
    assert list(out["status"]) == ["ok", "ok", "unknown_member", "malformed_member_id",
                                   "unknown_offer"]
    rows = np.array([engine.bundle.row(m) for m in ["loyal", "nobody"]])
    scored = engine.score(rows, now=NOW, channel="app")
    assert out["p_redeem"][0] == pytest.approx(scored.p[0, 1], abs=1e-6)
    assert out["cost"][0] == pytest.approx(scored.cost[0, 1], abs=1e-4)
    assert out["expected_value"][0] == pytest.approx(scored.ev[0, 1], abs=1e-4)
    assert out["expected_cost"][0] == pytest.approx(scored.p[0, 1] * scored.cost[0, 1], abs=1e-4)
    assert out["p_redeem"][2] == pytest.approx(scored.p[1, 0], abs=1e-6)
    assert out[["p_redeem", "cost"]].iloc[3:].isna().all().all()
    email = engine.score(np.array([engine.bundle.row("newbie")]), now=NOW, channel="email")
    assert out["expected_value"][1] == pytest.approx(email.ev[0, 0], abs=1e-4)  # default email


@pytest.mark.parametrize(("frame", "message"), [
    ({"member_id": ["loyal"]}, "lack column(s) ['offer_id']"),
    ({"member_id": ["loyal"], "offer_id": ["basket"], "timestamp": ["soon"]},
     "timestamp of row(s) 1 is not a time"),
    ({"member_id": ["loyal"] * 2, "offer_id": ["basket"] * 2, "channel": ["app", "fax"]},
     "channel of row(s) 2 is 'fax'; use one of"),
])
def test_bad_send_files_say_what_is_wrong(engine, frame, message):
    with pytest.raises(DataError, match=re.escape(message)):
        score_sends(engine, pd.DataFrame(frame), now=NOW)


def test_whole_float_ids_are_read_as_the_loader_reads_them(engine, monkeypatch):
    """A Parquet column of integer ids with a gap is float (1029.0): it was looked up as
    the unknown member "1029.0"; the data loader reads such ids as 1029."""
    looked_up = []
    loyal = engine.bundle.row("loyal")

    def row(member_id):
        looked_up.append(member_id)
        return loyal if member_id == "1029" else -1

    monkeypatch.setattr(engine.bundle, "row", row)
    sends = pd.DataFrame({"member_id": [1029.0, np.nan, 7.0], "offer_id": ["basket"] * 3})
    out = score_sends(engine, sends, now=NOW, id_pattern=re.compile(r"^[a-z0-9]+$"))
    assert list(out["status"]) == ["ok", "malformed_member_id", "unknown_member"]
    assert looked_up[0] == "1029" and looked_up[2] == "7"

"""``POST /v1/offers/score``: planned sends scored over HTTP (serving/api/score_sends.py)."""

from __future__ import annotations

import numpy as np
import pytest
from keys import EVENTS, READ

from serving import create_app


@pytest.fixture(scope="module")
def app(make_config, trained_artifacts, tmp_path_factory):
    app = create_app(make_config(trained_artifacts[0], tmp_path_factory.mktemp("score")))
    yield app
    app.extensions["offers_store"].close()


def test_score_answers_each_send_in_order_as_the_engine_scores_it(app, auth):
    engine = app.extensions["offers_model"].served.engine
    member = str(engine.bundle.members.ids[0])
    sends = [{"member_id": member, "offer_id": "double-points", "channel": "email",
              "timestamp": "2026-12-01T10:00:00Z"},
             {"member_id": "nobody", "offer_id": "double-points"},
             {"member_id": member, "offer_id": "no-such-offer", "channel": None}]
    response = app.test_client().post("/v1/offers/score", json={"sends": sends},
                                      headers=auth(READ))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["count"] == 3
    rows = body["results"]
    assert [r["status"] for r in rows] == ["ok", "unknown_member", "unknown_offer"]
    t = [o.id for o in engine.catalog.offers].index("double-points")
    scored = engine.score(np.array([engine.bundle.row(member)]), now="2026-12-01T10:00",
                          channel="email")
    assert rows[0]["p_redeem"] == pytest.approx(float(scored.p[0, t]), abs=1e-6)
    assert rows[2]["p_redeem"] is None and rows[2]["eligible"] is False


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"sends": []}, 400, "sends must be a non-empty list"),
    ({"sends": [{"member_id": "1"}]}, 400, "sends[0]: offer_id is missing"),
    ({"sends": [{"member_id": "bad id!", "offer_id": "x"}]}, 400,
     "malformed sends[0].member_id"),
    ({"sends": [{"member_id": "1", "offer_id": "x", "channel": "fax"}]}, 400,
     "sends[0]: channel 'fax' is not one of"),
    ({"sends": [{"member_id": "1", "offer_id": "x", "timestamp": "soon"}]}, 400,
     "sends[0]: timestamp 'soon' is not ISO 8601"),
    ({"sends": [{"member_id": "1", "offer_id": "x", "timestamp": "1900-01-01T00:00:00Z"}]},
     422, "outside 1970..2261"),
    ({"sends": [{"member_id": "1", "offer_id": "x"}] * 10_001}, 400, "more than 10000"),
])
def test_bad_sends_are_a_clear_4xx(app, auth, body, status, message):
    app.config["MAX_CONTENT_LENGTH"] = 4 << 20
    response = app.test_client().post("/v1/offers/score", json=body, headers=auth(READ))
    assert response.status_code == status
    assert message in response.get_json()["error"]["message"]


def test_score_needs_the_read_scope(app, auth):
    response = app.test_client().post("/v1/offers/score", headers=auth(EVENTS),
                                      json={"sends": [{"member_id": "1", "offer_id": "x"}]})
    assert response.status_code == 403


def test_ten_thousand_sends_fit_in_one_request_with_the_default_limits(make_config,
                                                                       trained_artifacts,
                                                                       tmp_path, auth):
    """The endpoint takes up to 10,000 rows, but the default 1 MiB body limit refused
    10,000 rows with a timestamp and channel (about 105 bytes each) with a 413."""
    app = create_app(make_config(trained_artifacts[0], tmp_path))
    try:
        assert app.config["MAX_CONTENT_LENGTH"] == 1 << 20  # the default, untouched
        member = str(app.extensions["offers_model"].served.engine.bundle.members.ids[0])
        sends = [{"member_id": member, "offer_id": "double-points",
                  "timestamp": "2026-12-05T09:00:00Z", "channel": "email"}] * 10_000
        response = app.test_client().post("/v1/offers/score", json={"sends": sends},
                                          headers=auth(READ))
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert response.get_json()["count"] == 10_000
        too_big = app.test_client().post(
            "/v1/offers/score", headers={**auth(READ), "Content-Type": "application/json"},
            data=b'{"sends": [' + b" " * app.config["STREAM_MAX_BYTES"] + b"]}")
        assert too_big.status_code == 413
    finally:
        app.extensions["offers_store"].close()

"""The serving API through Flask's test client: every endpoint, every error class, auth."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from keys import ADMIN, ALL, EVENTS, READ

from serving import create_app
from serving.engine import in_control


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def member(app):
    """A known member outside the control group who gets offers in the app."""
    engine = app.extensions["offers_model"].served.engine
    for member_id in engine.bundle.members.ids[:200].tolist():
        decision = engine.decide(member_id, "app", limit=3)
        if len(decision.offers) >= 2:
            return str(member_id)
    pytest.fail("no member with two offers in the first 200")


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()["error"]
    assert body["status"] == status and body["message"] and body["request_id"]
    return body["message"]


# -------------------------------------------------------------------------- members

def test_profile_of_a_known_and_an_unknown_member(auth, client, member, trained_artifacts):
    body = client.get(f"/v1/members/{member}", headers=auth(READ)).get_json()
    assert body["known"] is True and body["model_version"] == trained_artifacts[1]
    profile = body["profile"]
    for key in ("segment", "cluster", "recency_days", "frequency", "monetary_total",
                "churn_risk", "churn_drivers", "clv", "tier"):
        assert key in profile
    assert 0 <= profile["churn_risk"] <= 1
    unknown = client.get("/v1/members/no-such-member", headers=auth(READ)).get_json()
    assert unknown == {"member_id": "no-such-member", "known": False,
                       "model_version": trained_artifacts[1], "profile": None}


def test_profile_at_a_chosen_horizon(auth, client, member, trained_run):
    horizon = trained_run.horizon_days
    plain = client.get(f"/v1/members/{member}", headers=auth(READ)).get_json()["profile"]
    assert "horizon" not in plain
    short, long = (client.get(f"/v1/members/{member}?horizon_days={n}", headers=auth(READ))
                   .get_json()["profile"]["horizon"] for n in (30, 365))
    assert short["horizon_days"] == 30 and 0 <= short["churn_risk"] <= 1
    assert long["churn_risk"] <= short["churn_risk"]
    assert long["expected_spend"] >= short["expected_spend"] > 0
    assert long["mean_spend"] >= short["mean_spend"] > 0
    # which model answers (this version validates no horizon: BG/NBD + Gamma-Gamma alone;
    # the mean spend is the value model's, the CLV's, whenever it was trained)
    assert short["answered_by"] == {
        "churn_risk": "BG/NBD churn", "expected_spend": "BG/NBD + Gamma-Gamma spend",
        "mean_spend": f"spend model's mean forecast fitted at {horizon} days, placed at 30 days "
                      "on the member's BG/NBD curve"}
    for bad, says in (("0", "out of range"), ("3651", "out of range"), ("-5", "out of range"),
                      ("61.5", "must be an integer"), ("soon", "must be an integer")):
        response = client.get(f"/v1/members/{member}?horizon_days={bad}", headers=auth(READ))
        assert says in error_of(response, 400) and "horizon_days" in error_of(response, 400)


def test_profile_horizon_of_a_version_without_purchase_cycle_model_is_a_422(auth, client, app,
                                                                           member):
    app.extensions["offers_model"].served.bundle.horizon = None  # e.g. no repeat buyers
    response = client.get(f"/v1/members/{member}?horizon_days=30", headers=auth(READ))
    assert "no purchase-cycle model" in error_of(response, 422)
    assert client.get(f"/v1/members/{member}", headers=auth(READ)).status_code == 200


def test_offers_for_a_known_member(auth, client, member):
    response = client.get(f"/v1/members/{member}/offers?channel=app&limit=2",
                          headers={**auth(READ), "X-Request-ID": "abc-123"})
    body = response.get_json()
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "abc-123"
    assert body["request_id"] == "abc-123" and body["known"] is True
    assert body["control_group"] is False and body["channel"] == "app"
    assert 1 <= len(body["offers"]) <= 2
    for offer in body["offers"]:
        for key in ("offer_id", "type", "title", "message", "target", "value", "expiry",
                    "score", "reason", "reason_codes"):
            assert key in offer
    assert body["segment"] and body["churn_risk"] is not None


def test_unknown_member_gets_a_cold_start_answer(auth, client, app):
    engine = app.extensions["offers_model"].served.engine
    newcomer = next(f"newcomer-{n}" for n in range(100)
                    if not in_control(f"newcomer-{n}", engine.campaign, engine.control_share))
    body = client.get(f"/v1/members/{newcomer}/offers", headers=auth(READ)).get_json()
    assert body["known"] is False and body["segment"] is None
    catalog = {t.id: t for t in app.extensions["offers_catalog"].offers}
    offered = [catalog[o["offer_id"]] for o in body["offers"]]
    assert offered and all(t.eligibility.audience in ("unknown", "all") for t in offered)
    assert "referral" in {t.type for t in offered}
    recs = client.get(f"/v1/members/{newcomer}/recommendations?limit=5",
                      headers=auth(READ)).get_json()
    assert recs["known"] is False and len(recs["items"]) == 5


def test_recommendations_with_limit_category_and_exclusions(auth, client, member):
    body = client.get(f"/v1/members/{member}/recommendations?limit=7&categories=2",
                      headers=auth(READ)).get_json()
    items = body["items"]
    assert body["known"] and len(items) == 7 and len(body["categories"]) == 2
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    category = items[0]["category"]
    only = client.get(f"/v1/members/{member}/recommendations",
                      query_string={"category": category, "exclude_purchased": "true"},
                      headers=auth(READ)).get_json()["items"]
    assert only and {i["category"] for i in only} == {category}


# -------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("path, fragment", [
    ("/v1/members/bad%20id!", "malformed member_id"),
    ("/v1/members/{m}/offers?channel=fax", "unknown channel 'fax'"),
    ("/v1/members/{m}/offers?limit=0", "limit=0 is out of range"),
    ("/v1/members/{m}/offers?limit=abc", "limit must be an integer"),
    ("/v1/members/{m}/recommendations?limit=101", "use 1 to 100"),
    ("/v1/members/{m}/recommendations?exclude_purchased=maybe", "true or false"),
    ("/v1/members/" + "x" * 65, "1-64 characters"),
])
def test_bad_query_input_is_a_400_that_says_what_to_fix(auth, client, member, path, fragment):
    message = error_of(client.get(path.format(m=member), headers=auth(READ)), 400)
    assert fragment in message


def test_an_unknown_category_is_well_formed_but_refused_422(auth, client, member):
    path = f"/v1/members/{member}/recommendations?category=NO-SUCH"
    assert "unknown category" in error_of(client.get(path, headers=auth(READ)), 422)


def test_unknown_path_and_method_are_json(auth, client):
    error_of(client.get("/v1/nothing-here", headers=auth(READ)), 404)
    response = client.delete("/v1/events", headers=auth(ALL))
    assert "POST" in response.headers["Allow"]
    error_of(response, 405)


def test_bodies_not_json_malformed_or_too_large(auth, client):
    error_of(client.post("/v1/events", data="member=1", headers=auth(EVENTS)), 415)
    assert "not valid JSON" in error_of(client.post(
        "/v1/events", data="{nope", content_type="application/json", headers=auth(EVENTS)), 400)
    huge = "[" + ",".join(['{"event_id": "x"}'] * 70_000) + "]"
    assert "too large" in error_of(client.post(
        "/v1/events", data=huge, content_type="application/json", headers=auth(EVENTS)), 413)


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(auth, app, client, member, caplog):
    engine = app.extensions["offers_model"].served.engine

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    engine.decide = broken  # the instance attribute hides the method for this app only
    engine.decide_pending = broken  # what the API calls when it logs decisions
    with caplog.at_level(logging.ERROR):
        response = client.get(f"/v1/members/{member}/offers", headers=auth(READ))
    message = error_of(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
    assert "request id" in message and "Traceback" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text  # ... but the log has it


# -------------------------------------------------------------------------- auth

def test_missing_malformed_and_unknown_keys_are_401(auth, client, member):
    url = f"/v1/members/{member}"
    response = client.get(url)
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert "missing API key" in error_of(response, 401)
    assert "malformed" in error_of(client.get(url, headers={"Authorization": READ}), 401)
    assert "malformed" in error_of(client.get(url, headers={"Authorization": "Basic x"}), 401)
    assert "unknown API key" in error_of(client.get(url, headers=auth("z" * 32)), 401)


@pytest.mark.parametrize("method, path, key, scope", [
    ("get", "/v1/members/1", EVENTS, "read"),
    ("get", "/v1/model", ADMIN, "read"),
    ("post", "/v1/events", READ, "events"),
    ("post", "/v1/offers/batch", EVENTS, "read"),
    ("post", "/v1/admin/reload", READ, "admin"),
])
def test_a_key_without_the_scope_is_403(auth, client, method, path, key, scope):
    response = getattr(client, method)(path, headers=auth(key), json={})
    assert f"lacks the '{scope}' scope" in error_of(response, 403)


def test_keys_are_never_logged(auth, client, member, caplog):
    with caplog.at_level(logging.DEBUG):
        client.get(f"/v1/members/{member}/offers", headers=auth(READ))
        client.get(f"/v1/members/{member}", headers=auth("q" * 30))
        client.post("/v1/events", json={}, headers=auth(EVENTS))
    assert member in caplog.text  # ids are logged ...
    for key in (READ, EVENTS, "q" * 30):
        assert key not in caplog.text  # ... keys never


def test_the_server_refuses_to_start_without_keys_unless_open(make_config, trained_artifacts,
                                                              tmp_path):
    config = make_config(trained_artifacts[0], tmp_path, API_KEYS={})
    with pytest.raises(ValueError, match="no API key configured"):
        create_app(config)
    with pytest.raises(ValueError, match="shorter than 16"):
        create_app({**config, "API_KEYS": {"short": ["read"]}})
    with pytest.raises(ValueError, match="unknown scope"):
        create_app({**config, "API_KEYS": {"k" * 20: ["write"]}})
    app = create_app({**config, "AUTH_OPEN": True})
    try:
        assert app.test_client().get("/v1/members/1").status_code == 200
    finally:
        app.extensions["offers_store"].close()


# -------------------------------------------------------------------------- batch

def test_batch_json_keeps_order_and_marks_unknown_members(auth, client, app, member):
    ids = [member, "stranger", app.extensions["offers_model"].served.bundle.members.ids[1]]
    response = client.post("/v1/offers/batch", headers=auth(READ),
                           json={"member_ids": ids, "channel": "email", "limit": 2})
    body = response.get_json()
    assert response.status_code == 200 and body["count"] == 3
    assert [r["member_id"] for r in body["results"]] == [str(i) for i in ids]
    assert [r["known"] for r in body["results"]] == [True, False, True]
    assert all(len(r["offers"]) <= 2 and r["channel"] == "email" for r in body["results"])


def test_batch_limits_and_the_streamed_form(auth, client, app):
    ids = [str(i) for i in app.extensions["offers_model"].served.bundle.members.ids[:12]]
    message = error_of(client.post("/v1/offers/batch", headers=auth(READ),
                                   json={"member_ids": ids}), 422)
    assert "more than 10 per request" in message and "application/x-ndjson" in message
    response = client.post("/v1/offers/batch", json={"member_ids": ids, "limit": 1},
                           headers={**auth(READ), "Accept": "application/x-ndjson"})
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    lines = [line for line in response.get_data(as_text=True).split("\n") if line]
    import json

    assert [json.loads(line)["member_id"] for line in lines] == ids
    too_many = {"member_ids": ids * 5}
    assert "more than 50 per request" in error_of(client.post(
        "/v1/offers/batch", json=too_many,
        headers={**auth(READ), "Accept": "application/x-ndjson"}), 400)


def test_a_streamed_batch_may_send_a_larger_body(auth, client):
    body = {"member_ids": [f"member-{n:09d}" for n in range(80_000)]}  # about 1.5 MB
    assert "too large" in error_of(client.post("/v1/offers/batch", json=body,
                                               headers=auth(READ)), 413)
    streamed = client.post("/v1/offers/batch", json=body,
                           headers={**auth(READ), "Accept": "application/x-ndjson"})
    assert "more than 50 per request" in error_of(streamed, 400)  # read, then refused


@pytest.mark.parametrize("body, fragment", [
    ({"member_ids": []}, "non-empty list"),
    ({"member_ids": "1"}, "non-empty list"),
    ({"member_ids": ["1", "bad id"]}, "member_ids[1]"),
    ({"member_ids": ["1"], "channel": "pigeon"}, "unknown channel"),
    ({"member_ids": ["1"], "limit": 11}, "limit=11 is out of range"),
    ({"member_ids": ["1"], "limits": 2}, "unknown field(s) limits"),
    ([1, 2], "must be a JSON object"),
])
def test_batch_bad_bodies(auth, client, body, fragment):
    assert fragment in error_of(client.post("/v1/offers/batch", json=body,
                                            headers=auth(READ)), 400)


# -------------------------------------------------------------------------- events

def ev(event_id, member, offer, kind="sent", minutes_ago=1, **extra):
    when = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    return {"event_id": event_id, "member_id": member, "offer_id": offer, "event": kind,
            "timestamp": when.isoformat(), "channel": "app", **extra}


def test_events_are_stored_once_per_event_id(auth, client, app, member):
    offer = app.extensions["offers_catalog"].ids[0]
    one = ev("a-1", member, offer)
    assert client.post("/v1/events", json=one, headers=auth(EVENTS)).get_json() == {
        "received": 1, "stored": 1, "duplicates": 0, "duplicate_ids": []}
    body = client.post("/v1/events", headers=auth(EVENTS), json=[
        one, ev("a-2", member, offer, "redeemed", cost=1.5),
        ev("a-3", member, offer, "viewed")]).get_json()
    assert body == {"received": 3, "stored": 2, "duplicates": 1, "duplicate_ids": ["a-1"]}
    store = app.extensions["offers_store"]
    assert store.count() == 3
    assert store.offer_totals()[offer] == {"sent": 1, "redeemed": 1, "cost": 1.5}


def test_a_retry_without_a_timestamp_is_still_a_duplicate(auth, client, app, member):
    offer = app.extensions["offers_catalog"].ids[0]
    event = {"event_id": "n-1", "member_id": member, "offer_id": offer, "event": "viewed"}
    assert client.post("/v1/events", json=event, headers=auth(EVENTS)).get_json()["stored"] == 1
    again = client.post("/v1/events", json=event, headers=auth(EVENTS)).get_json()
    assert again["duplicates"] == 1 and again["stored"] == 0


def test_a_redemption_without_a_cost_gets_the_engines_estimate(auth, client, app, member):
    offer = next(t.id for t in app.extensions["offers_catalog"].offers
                 if t.value.kind == "percent_off")
    client.post("/v1/events", json=ev("r-1", member, offer, "redeemed"), headers=auth(EVENTS))
    assert app.extensions["offers_store"].offer_totals()[offer]["cost"] > 0


@pytest.mark.parametrize("event, status, fragment", [
    ({"member_id": "1", "offer_id": "{o}", "event": "sent"}, 400, "event_id is required"),
    ({"event_id": "x", "member_id": "1", "offer_id": "{o}", "event": "clicked"}, 400,
     "not one of sent, viewed, redeemed, dismissed"),
    ({"event_id": "x", "member_id": "1", "offer_id": "no-such-offer", "event": "sent"}, 422,
     "unknown offer_id 'no-such-offer'"),
    ({"event_id": "x", "member_id": "1", "offer_id": "{o}", "event": "sent",
      "timestamp": "yesterday"}, 400, "not ISO 8601"),
    ({"event_id": "x", "member_id": "1", "offer_id": "{o}", "event": "sent",
      "timestamp": "2999-01-01T00:00:00Z"}, 422, "in the future"),
    ({"event_id": "x", "member_id": "1", "offer_id": "{o}", "event": "sent", "cost": 2},
     422, "only for redeemed"),
    ({"event_id": "x", "member_id": "1", "offer_id": "{o}", "event": "sent", "colour": 1},
     400, "unknown field(s) colour"),
    ([], 400, "empty"),
    ("just a string", 400, "must be a JSON object"),
])
def test_bad_events_store_nothing(auth, client, app, event, status, fragment):
    offer = app.extensions["offers_catalog"].ids[0]
    if isinstance(event, dict):
        event = {k: (v.format(o=offer) if isinstance(v, str) else v) for k, v in event.items()}
    good = ev("good-1", "1", offer)
    body = [good, event] if isinstance(event, dict) else event
    assert fragment in error_of(client.post("/v1/events", json=body, headers=auth(EVENTS)),
                                status)
    assert app.extensions["offers_store"].count() == 0


def test_reusing_an_event_id_for_another_event_is_a_409(auth, client, app):
    offer = app.extensions["offers_catalog"].ids[0]
    client.post("/v1/events", json=ev("c-1", "1", offer), headers=auth(EVENTS))
    other = ev("c-1", "2", offer)
    assert "already stored for a different event" in error_of(
        client.post("/v1/events", json=other, headers=auth(EVENTS)), 409)


def test_too_many_events_per_request(auth, client, app):
    offer = app.extensions["offers_catalog"].ids[0]
    body = [ev(f"t-{i}", "1", offer) for i in range(21)]
    assert "more than 20 per request" in error_of(
        client.post("/v1/events", json=body, headers=auth(EVENTS)), 400)


def test_frequency_caps_change_the_offers_after_events_are_posted(auth, client, member):
    """One send of each offer 8 days ago: outside the 7-day contact policy, inside the
    catalog's 14-day cooldowns, so exactly those offers are no longer made."""
    url = f"/v1/members/{member}/offers?channel=app&limit=3"
    before = client.get(url, headers=auth(READ)).get_json()
    offered = {o["offer_id"] for o in before["offers"]}
    events = [ev(f"f-{o}", member, o, minutes_ago=8 * 24 * 60) for o in offered]
    assert client.post("/v1/events", json=events, headers=auth(EVENTS)).status_code == 200
    after = client.get(url, headers=auth(READ)).get_json()
    assert after["offers"] and not offered & {o["offer_id"] for o in after["offers"]}


def test_the_contact_policy_stops_offers_after_three_recent_sends(auth, client, app, member):
    url = f"/v1/members/{member}/offers?channel=email"
    offer = app.extensions["offers_catalog"].ids[0]
    events = [ev(f"p-{n}", member, offer, minutes_ago=n + 1) for n in range(3)]
    client.post("/v1/events", json=events, headers=auth(EVENTS))
    after = client.get(url, headers=auth(READ)).get_json()
    assert after["offers"] == [] and after["suppressed"] == "contact_policy"

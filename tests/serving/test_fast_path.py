"""The thin WSGI route of the two hot GETs answers exactly as Flask does, or leaves it to Flask."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest
from keys import EVENTS, READ
from werkzeug.test import Client

from serving.api.fast_path import FastPath

RID = {"X-Request-ID": "fixed-rid-1"}


@pytest.fixture
def clients(app):
    """(client through the fast path, client of Flask alone, Flask's call count via the path)."""
    fast = app.wsgi_app
    assert isinstance(fast, FastPath)
    calls = []
    flask_wsgi = fast.flask_wsgi

    def counted(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return flask_wsgi(environ, start_response)

    fast.flask_wsgi = counted
    return app.test_client(), Client(flask_wsgi), calls


@pytest.fixture
def member(app):
    engine = app.extensions["offers_model"].served.engine
    for member_id in engine.bundle.members.ids[:200].tolist():
        if len(engine.decide(member_id, "app", limit=3).offers) >= 2:
            return str(member_id)
    pytest.fail("no member with two offers in the first 200")


def same_answer(fast, flask, url, headers):
    a, b = fast.get(url, headers=headers), flask.get(url, headers=headers)
    assert a.status_code == b.status_code, url
    assert list(a.headers.items()) == list(b.headers.items()), url
    assert without_fresh(a.get_data()) == without_fresh(b.get_data()), url
    return a


def without_fresh(body: bytes) -> bytes:
    """The body with what is new in every decision (its id, its time) blanked."""
    return re.sub(rb'"(decision_id|decided_at)":"[^"]*"', rb'"\1":""', body)


@pytest.mark.parametrize("path", [
    "offers", "offers?channel=email&limit=2", "offers?limit=&channel=sms",
    "recommendations", "recommendations?limit=100&exclude_purchased=TRUE&categories=20",
    "recommendations?limit=1&categories=0&exclude_purchased=no",
])
def test_the_fast_path_answers_as_flask_does(auth, clients, member, path):
    fast, flask, calls = clients
    for who in (member, "never-seen-member"):
        answer = same_answer(fast, flask, f"/v1/members/{who}/{path}", {**auth(READ), **RID})
        assert answer.status_code == 200 and answer.get_json()
    assert calls == []  # Flask never ran behind the fast path


@pytest.mark.parametrize("path, headers, status", [
    ("offers", {}, 401),
    ("offers", {"Authorization": "Bearer wrong-key-of-some-length"}, 401),
    ("offers", {"Authorization": f"Basic {READ}"}, 401),
    ("offers", "events-key", 403),
    ("offers?limit=0", None, 400), ("offers?limit=3&limit=4", None, 200),
    ("offers?channel=fax", None, 400), ("offers?colour=red", None, 400),
    ("offers?limit=%33", None, 200), ("offers?limit=+3", None, 200),
    ("recommendations?category=no-such-category", None, 422),
    ("recommendations?exclude_purchased=maybe", None, 400),
    ("recommendations?categories=21", None, 400), ("recommendations?limit", None, 200),
])
def test_anything_else_is_left_to_flask(auth, clients, member, path, headers, status):
    fast, flask, calls = clients
    if headers is None:
        headers = auth(READ)
    elif headers == "events-key":
        headers = auth(EVENTS)
    answer = same_answer(fast, flask, f"/v1/members/{member}/{path}", {**headers, **RID})
    assert answer.status_code == status
    assert len(calls) == 1  # passed on to Flask, once


def test_metrics_and_the_access_log_count_fast_answers(auth, clients, member, caplog):
    fast, _, calls = clients
    with caplog.at_level(logging.INFO, logger="serving.access"):
        fast.get(f"/v1/members/{member}/offers", headers={**auth(READ), **RID})
    assert calls == []
    line = [r for r in caplog.records if r.name == "serving.access"][-1]
    assert line.getMessage().startswith("GET /v1/members/<member_id>/offers 200 ")
    assert "rid=fixed-rid-1" in line.getMessage() and f"member={member}" in line.getMessage()
    text = fast.get("/metrics").get_data(as_text=True)
    assert ('offers_http_requests_total{endpoint="/v1/members/<member_id>/offers",'
            'method="GET",status="200"} 1.0') in text


def test_an_event_posted_is_seen_by_the_next_decision(auth, app, clients, member):
    fast, _, calls = clients
    catalog = app.extensions["offers_catalog"]
    url = f"/v1/members/{member}/offers?limit=3"
    shown = [o["offer_id"] for o in fast.get(url, headers=auth(READ)).get_json()["offers"]]
    capped = [i for i in shown if catalog.offers[catalog.ids.index(i)].caps.cooldown_days > 0
              or catalog.offers[catalog.ids.index(i)].caps.per_member_max == 1]
    assert capped, "the default catalog should cap some offer the member is shown"
    when = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    posted = fast.post("/v1/events", headers=auth(EVENTS), json={
        "event_id": "fast-1", "member_id": member, "offer_id": capped[0], "event": "sent",
        "timestamp": when, "channel": "app"})
    assert posted.status_code == 200, posted.get_data(as_text=True)
    again = [o["offer_id"] for o in fast.get(url, headers=auth(READ)).get_json()["offers"]]
    assert capped[0] not in again
    assert calls == ["/v1/events"]  # the two GETs took the fast path

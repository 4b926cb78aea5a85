"""The OpenAPI document: valid, complete for every route, and true to real responses."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from keys import ADMIN, ALL, EVENTS, READ
from openapi_spec_validator import validate
from prometheus_client import CONTENT_TYPE_LATEST
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from serving import create_app


@pytest.fixture(scope="module")
def app(make_config, trained_artifacts, tmp_path_factory):
    app = create_app(make_config(trained_artifacts[0], tmp_path_factory.mktemp("openapi")))
    yield app
    app.extensions["offers_store"].close()


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/openapi.json").get_json()


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_route_is_described_with_its_scope_and_errors(app, spec):
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.endswith("static"):  # the files of the /docs page
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes[(path, method.lower())] = app.view_functions[rule.endpoint]
    described = {(p, m) for p, methods in spec["paths"].items() for m in methods}
    assert described == set(routes)
    for (path, method), view in routes.items():
        op = spec["paths"][path][method]
        scope = getattr(view, "required_scope", None)
        assert [s for r in op.get("security", []) for s in r["bearer"]] == (
            [scope] if scope else []), path
        if scope:
            assert {"401", "403"} <= set(op["responses"]), path
        if "requestBody" in op:
            assert {"400", "413", "415"} <= set(op["responses"]), path
        assert "500" in op["responses"]


def test_the_docs_page_is_swagger_ui_served_from_this_server(app):
    client = app.test_client()
    page = client.get("/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "SwaggerUIBundle" in html and '"url": "/openapi.json"' in html
    assert '"validatorUrl": null' in html  # Swagger UI would call its online validator
    assert "http://" not in html and "https://" not in html and "//" not in html.replace(
        "://", "")
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/docs/assets/") or s == "/openapi.json"
                           for s in sources)
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.get_data()) > 100, source
        asset.close()
    assert client.get("/docs/assets/no-such-file.js").status_code == 404


def test_every_operation_has_an_example_for_try_it_out(spec):
    schemas = spec["components"]["schemas"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                assert "example" in body or "examples" in body, (path, method)
            for param in op.get("parameters", []):
                if param["required"]:
                    assert "example" in param, (path, method, param["name"])
    for name in ("Event", "BatchRequest", "Decision", "Error"):
        assert "examples" in schemas[name], name


def test_metrics_answer_prometheus_exact_content_type(app):
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST


def _validator(spec, schema):
    """A JSON Schema validator for ``schema``, resolving ``#/components/...`` in ``spec``."""
    registry = Registry().with_resource("urn:spec", DRAFT202012.create_resource(spec))
    if "$ref" in schema:
        schema = {"$ref": "urn:spec" + schema["$ref"]}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _check(spec, path, method, response):
    op = spec["paths"][path][method]
    described = op["responses"][str(response.status_code)]
    schema = described["content"][response.mimetype]["schema"]
    errors = list(_validator(spec, schema).iter_errors(response.get_json()))
    assert not errors, (path, response.status_code, [e.message for e in errors])


def test_real_responses_match_their_schemas(auth, app, spec):
    client = app.test_client()
    member = str(app.extensions["offers_model"].served.bundle.members.ids[0])
    offer = app.extensions["offers_catalog"].ids[0]
    calls = [
        ("/v1/members/{member_id}", "get", client.get(f"/v1/members/{member}", headers=auth(READ))),
        ("/v1/members/{member_id}", "get", client.get("/v1/members/nobody", headers=auth(READ))),
        ("/v1/members/{member_id}", "get", client.get("/v1/members/bad!", headers=auth(READ))),
        ("/v1/members/{member_id}", "get", client.get(f"/v1/members/{member}")),
        ("/v1/members/{member_id}/offers", "get",
         client.get(f"/v1/members/{member}/offers", headers=auth(READ))),
        ("/v1/members/{member_id}/offers", "get",
         client.get("/v1/members/nobody/offers", headers=auth(READ))),
        ("/v1/members/{member_id}/recommendations", "get",
         client.get(f"/v1/members/{member}/recommendations", headers=auth(READ))),
        ("/v1/offers/batch", "post", client.post(
            "/v1/offers/batch", json={"member_ids": [member, "x"]}, headers=auth(READ))),
        ("/v1/offers/batch", "post", client.post(
            "/v1/offers/batch", json={"member_ids": [member]}, headers=auth(EVENTS))),
        ("/v1/events", "post", client.post("/v1/events", headers=auth(EVENTS), json={
            "event_id": "s-1", "member_id": member, "offer_id": offer, "event": "sent"})),
        ("/v1/events", "post", client.post("/v1/events", headers=auth(EVENTS), json={
            "event_id": "s-2", "member_id": member, "offer_id": "nope", "event": "sent"})),
        ("/v1/events", "post", client.post("/v1/events", headers=auth(EVENTS), data="x")),
        ("/v1/model", "get", client.get("/v1/model", headers=auth(READ))),
        ("/v1/admin/reload", "post", client.post("/v1/admin/reload", headers=auth(ADMIN))),
        ("/v1/admin/reload", "post", client.post("/v1/admin/reload", headers=auth(ALL),
                                                 json={"version": "no-such-version"})),
        ("/healthz", "get", client.get("/healthz")),
        ("/readyz", "get", client.get("/readyz")),
    ]
    for path, method, response in calls:
        _check(spec, path, method, response)
    stream = client.post("/v1/offers/batch", json={"member_ids": [member]},
                         headers={**auth(READ), "Accept": "application/x-ndjson"})
    schema = spec["paths"]["/v1/offers/batch"]["post"]["responses"]["200"]["content"][
        "application/x-ndjson"]["schema"]
    for line in stream.get_data(as_text=True).splitlines():
        assert not list(_validator(spec, schema).iter_errors(json.loads(line)))


def test_the_docs_page_and_the_readme_show_the_campaign_flow_and_planned_sends(spec):
    """Issues 14 and 12 ask that /docs and the README show the flow an email tool follows
    (create with a key, poll, page the offers, report sends) and describe scoring sends."""
    from pathlib import Path

    create = spec["paths"]["/v1/campaigns"]["post"]["description"]
    for step in ("Idempotency-Key", "GET the job", "page by page", "NDJSON or CSV",
                 "/v1/events"):
        assert step in create, step
    assert "offers predict-response" in spec["paths"]["/v1/offers/score"]["post"]["description"]
    root = Path(__file__).parents[2]
    readme, api = (root / "README.md").read_text(), (root / "docs" / "api.md").read_text()
    for text in (readme, api):
        for words in ("POST /v1/campaigns", "Idempotency-Key", "GET /v1/campaigns/{",
                      "/v1/events", "POST /v1/offers/score", "offers predict-response"):
            assert words in text, words

"""``GET /openapi.json`` and ``GET /docs``: the API description and a page that renders it.

The page is self-contained HTML built on the server from the same document
(no script, no CDN: it works on machines without internet access).
"""

from __future__ import annotations

import json
from html import escape

from flask import Blueprint, Response, current_app

from serving.api.openapi_spec import build_spec

bp = Blueprint("docs", __name__)

STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}
h2{border-bottom:1px solid #ccc;margin-top:2em}code,pre{background:#f4f4f4;border-radius:3px}
pre{padding:.6em;overflow:auto;font-size:13px}.m{font-weight:bold;text-transform:uppercase;
padding:.1em .4em;border-radius:3px;color:#fff;background:#3572a5}.post{background:#2e8b57}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
.scope{color:#a33}"""


def _spec() -> dict:
    app = current_app
    if "offers_openapi" not in app.extensions:
        app.extensions["offers_openapi"] = build_spec(app.config)
    return app.extensions["offers_openapi"]


@bp.get("/openapi.json")
def openapi():
    return _spec()


@bp.get("/docs")
def page():
    spec = _spec()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>"
             f"{escape(spec['info']['title'])}</title><style>{STYLE}</style></head><body>",
             f"<h1>{escape(spec['info']['title'])}</h1><p>{escape(spec['info']['description'])}"
             "</p><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>.</p>"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            parts.append(_operation(path, method, op))
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        parts.append(f"<h3 id='schema-{escape(name)}'>{escape(name)}</h3><pre>"
                     f"{escape(json.dumps(schema, indent=2))}</pre>")
    parts.append("</body></html>")
    return Response("".join(parts), mimetype="text/html")


def _operation(path: str, method: str, op: dict) -> str:
    scopes = [s for req in op.get("security", []) for s in req.get("bearer", [])]
    html = [f"<h2><span class='m {method}'>{method}</span> <code>{escape(path)}</code></h2>",
            f"<p><b>{escape(op['summary'])}</b>: {escape(op['description'])}</p>"]
    if scopes:
        html.append(f"<p class='scope'>API key scope: {escape(', '.join(scopes))}</p>")
    if op.get("parameters"):
        html.append("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>")
        for p in op["parameters"]:
            html.append(f"<tr><td><code>{escape(p['name'])}</code></td><td>{p['in']}</td><td>"
                        f"<code>{escape(json.dumps(p['schema']))}</code></td><td>"
                        f"{escape(p.get('description', ''))}</td></tr>")
        html.append("</table>")
    if op.get("requestBody"):
        for mime, content in op["requestBody"]["content"].items():
            html.append(f"<p>Body ({escape(mime)}): <code>"
                        f"{_schema_link(content['schema'])}</code></p>")
    html.append("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>")
    for status, response in op["responses"].items():
        bodies = ", ".join(f"{escape(mime)} {_schema_link(c['schema'])}"
                           for mime, c in response.get("content", {}).items())
        html.append(f"<tr><td>{status}</td><td>{escape(response['description'])}</td>"
                    f"<td>{bodies}</td></tr>")
    html.append("</table>")
    return "".join(html)


def _schema_link(schema: dict) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"<a href='#schema-{escape(name)}'>{escape(name)}</a>"
    return escape(json.dumps(schema))

"""``GET /openapi.json`` and ``GET /docs``: the API description and Swagger UI rendering it.

The page is Swagger UI, the OpenAPI viewer maintained by the OpenAPI tooling
project, from the files that the ``flask-swagger-ui`` package ships (it
follows Swagger UI's releases). They are served by this app under
``/docs/assets/``: the page loads nothing from elsewhere and works on machines
without internet access (the online spec validator badge is switched off).
"Try it out" sends requests to this same server (the document's ``servers``
is ``/``); "Authorize" takes an API key for them, kept in the page only.
"""

from __future__ import annotations

import json
import os
from html import escape

import flask_swagger_ui
from flask import Blueprint, Response, current_app

from serving.api.openapi_spec import build_spec

ASSETS = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")

bp = Blueprint("docs", __name__, static_folder=ASSETS, static_url_path="/docs/assets")

# Swagger UI options: the document from this server, deep links, try-it-out on, and no
# call to the online validator (its default), so the page makes no request elsewhere.
UI_CONFIG = {"url": "/openapi.json", "dom_id": "#swagger-ui", "deepLinking": True,
             "validatorUrl": None, "tryItOutEnabled": False, "displayRequestDuration": True,
             "defaultModelsExpandDepth": 0}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
</head><body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>
window.onload = function () {{
  var config = {config};
  config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];
  config.layout = "BaseLayout";
  window.ui = SwaggerUIBundle(config);
}};
</script>
<noscript><p>This page needs JavaScript; the API is described in
<a href="/openapi.json">/openapi.json</a> and docs/api.md.</p></noscript>
</body></html>
"""


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
    html = PAGE.format(title=escape(_spec()["info"]["title"]), config=json.dumps(UI_CONFIG))
    return Response(html, mimetype="text/html")

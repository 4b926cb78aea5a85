"""Schemathesis against the live app (through WSGI): no server error, no schema mismatch.

Bounded and seeded so that it is the same run every time and stays short: a few
examples per operation, positive (schema-valid) and negative (schema-violating)
requests, Hypothesis derandomized, no database of past failures, no network.
Guards issue 14: schema-valid requests were rejected and ``{"version": null}``
to the reload endpoint was accepted.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from keys import ALL
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from serving import create_app
from serving.api.openapi_spec import build_spec
from serving.config import DEFAULTS

MAX_EXAMPLES = 10  # per operation and mode: about 30 s for the whole API

# 422 is this API's "well-formed but refused": a schema-valid request naming something the
# served model or catalog does not know (a category, an offer id), or a timestamp outside
# 1970..now. Schemathesis counts it as a rejection of valid data unless told.
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                   "database": "none"},
    "checks": {"positive_data_acceptance": {"expected-statuses": [
        "2xx", "401", "403", "404", "409", "422"]}}})


@pytest.fixture(scope="module")
def api_schema(make_config, trained_artifacts, tmp_path_factory):
    app = create_app(make_config(trained_artifacts[0], tmp_path_factory.mktemp("schemathesis")))
    yield schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)
    app.extensions["offers_store"].close()


OPERATIONS = [(path, method) for path, methods in build_spec(DEFAULTS)["paths"].items()
              for method in methods]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_the_api_keeps_its_schema(api_schema, path, method, mode):
    operation = api_schema[path][method.upper()]
    if mode is GenerationMode.NEGATIVE and not (operation.query or operation.path_parameters
                                                or operation.body):
        pytest.skip("nothing to send wrong: no parameters and no body")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {ALL}"})

    check()

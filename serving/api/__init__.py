"""The HTTP API: the Flask app factory, one blueprint per resource, and their plumbing.

Blueprints: :mod:`.members` (offers, recommendations, profile), :mod:`.batch`,
:mod:`.events`, :mod:`.admin`, :mod:`.health`, :mod:`.metrics`, :mod:`.docs`.
Plumbing: :mod:`.auth` (API keys and scopes), :mod:`.params` (request
checks), :mod:`.errors` (every error as JSON), :mod:`.hooks`,
:mod:`.json_response`, and the OpenAPI document (:mod:`.openapi_spec`,
:mod:`.openapi_schemas`).

Imports: :mod:`features`, :mod:`models`, the artifact contract
(:mod:`training.artifacts`) and the rest of :mod:`serving`.
"""

from serving.api.app import create_app

__all__ = ["create_app"]

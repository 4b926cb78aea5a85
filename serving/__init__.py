"""The serving layer: the HTTP API, the offer engine, the event store and ``offers serve``.

- :mod:`serving.api`: the Flask app (:func:`create_app`, one blueprint per resource);
- :mod:`serving.engine`: the Flask-free offer engine shared by the API and the CLI;
- :mod:`serving.store`: the event store (SQLite or PostgreSQL) and the decision log;
- :mod:`serving.replay`: off-policy estimates of a new catalog or version from the
  decision log; :mod:`serving.arm_engines`: the engines of an A/B test's arms;
- :mod:`serving.model_state`, :mod:`serving.server`, :mod:`serving.config`:
  the served version, gunicorn and the settings; :mod:`serving.slow_clients`:
  the gunicorn worker that slow or stuck clients cannot take over;
- :mod:`serving.cli`: the ``serve``, ``apikey``, ``events``, ``decide``,
  ``campaign`` and ``replay`` commands.

Imports: :mod:`features`, :mod:`models` and the artifact contract
(:mod:`training.artifacts`) only. Other WSGI servers can run
``serving:create_app()`` with the settings in the environment (see
:func:`serving.api.create_app`).
"""

from serving.api import create_app

__all__ = ["create_app"]

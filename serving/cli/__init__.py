"""The serving commands of ``offers``: serve, apikey, events export, decide, campaign,
predict-response, replay.

They live beside the code they drive (as Flask's tutorial keeps ``init-db``
beside its app); :data:`COMMANDS` lists them for the one entry point
(:mod:`offers.cli`).

Imports: :mod:`features`, :mod:`models`, :mod:`training.artifacts` and :mod:`serving`.
"""

from serving.cli.events import events_group
from serving.cli.offers import campaign, decide, predict_response
from serving.cli.replay import replay
from serving.cli.serve import apikey, serve

COMMANDS = (serve, apikey, events_group, decide, campaign, predict_response, replay)

__all__ = ["COMMANDS"]

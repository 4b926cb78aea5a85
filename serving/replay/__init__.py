"""Policy replay: off-policy estimates of a new catalog or model version from decision logs.

- :mod:`.estimators`: IPS, SNIPS and doubly robust estimators with intervals
  (numpy only);
- :mod:`.replay`: the new engine re-deciding logged decisions, rewards from
  offer events, the overlap check (:func:`replay`).

Imports: :mod:`features` and :mod:`serving.engine` (an engine is passed in);
never Flask.
"""

from serving.replay.estimators import Estimate, estimate
from serving.replay.replay import ReplayResult, replay

__all__ = ["Estimate", "ReplayResult", "estimate", "replay"]

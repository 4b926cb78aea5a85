"""Uplift: the incremental effect of an offer, learned from sends against a randomised control.

- :mod:`.rows`: one row per member sent or held out of a campaign (``holdout``
  events), with the member's features at the send and the outcomes after it
  (spend, retained) in a window;
- :mod:`.learners`: meta-learners composed of scikit-learn estimators
  (:class:`TwoModelUplift`, :class:`XLearnerUplift`);
- :mod:`.metrics`: Qini curves and (normalised) areas under them, with their noise
  over resampled members (:func:`auuc_standard_errors`);
- :mod:`.fit`: :func:`fit_uplift`, models per offer type and outcome, validated
  on held-out members against random targeting and targeting by P(redeem);
- :mod:`.scores`: :func:`member_uplift`, every member's predicted uplift per
  offer type as of a cut-off (what the offer engine ranks on), and
  :func:`compact_scores`, that table as a training run holds it;
  :mod:`.engine_scores`: :func:`engine_member_uplift`, the same with the
  member features and affinities computed on DuckDB or Spark.

Imports: :mod:`features` and :mod:`models` only.
"""

from models.uplift.engine_scores import engine_member_uplift
from models.uplift.fit import VALIDATION_COLUMNS, UpliftFit, fit_uplift
from models.uplift.learners import TwoModelUplift, XLearnerUplift, make_learner
from models.uplift.metrics import (
    auuc_standard_errors,
    gain_at,
    normalized_auuc,
    qini_auc,
    qini_curve,
)
from models.uplift.rows import build_uplift_rows
from models.uplift.scores import SCORE_COLUMNS as UPLIFT_SCORE_COLUMNS
from models.uplift.scores import compact_scores, member_uplift

__all__ = [
    "UPLIFT_SCORE_COLUMNS", "VALIDATION_COLUMNS", "TwoModelUplift", "UpliftFit",
    "XLearnerUplift", "auuc_standard_errors", "build_uplift_rows", "compact_scores",
    "engine_member_uplift", "fit_uplift", "gain_at", "make_learner", "member_uplift",
    "normalized_auuc", "qini_auc", "qini_curve",
]

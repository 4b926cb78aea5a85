"""Member segmentation: RFM segments and behavioural clusters.

- :class:`~models.segmentation.rfm.RFMSegmenter`: recency, frequency and
  monetary scores 1..5 and the named RFM segments ("Champions", "At risk", ...).
- :class:`~models.segmentation.clusters.BehaviourClusters`: k-means clusters of
  behaviour and basket mix, ``k`` chosen by silhouette, readable labels
  ("weekly high spenders, produce-heavy") and ids kept stable across retrains.

Both are fitted on the member feature frame of
:func:`features.member_features.build_member_features`.

Imports: :mod:`features` and :mod:`models` only.
"""

from .clusters import NO_PURCHASE_ID, BehaviourClusters
from .rfm import SEGMENTS, RFMSegmenter, segment_of

__all__ = ["BehaviourClusters", "NO_PURCHASE_ID", "RFMSegmenter", "SEGMENTS", "segment_of"]

"""Each member's predicted uplift per offer type, read from a version's ``uplift_scores.parquet``.

The training step "uplift" writes the scores long (one row per member and
offer type, :data:`training.artifacts.schema.UPLIFT_SCORES`);
:func:`read_uplift_spend` gives them wide, one column per offer type, for
``offers score`` (its ``uplift_<type>`` columns) and the offer engine (its
incremental-profit ranking) alike.

Imports: this package.
"""

from __future__ import annotations

import pandas as pd

from training.artifacts import schema
from training.artifacts.store import ArtifactVersion


def read_uplift_spend(version: ArtifactVersion) -> pd.DataFrame | None:
    """Predicted extra spend if sent an offer of each type: index ``member_id`` (str), one
    column per offer type with a validated model; None for a version without such a model."""
    if not version.has(f"{schema.UPLIFT_SCORES}.parquet"):
        return None
    scores = version.load_frame(schema.UPLIFT_SCORES).astype(
        {"member_id": str, "offer_type": str})
    wide = scores.pivot(index="member_id", columns="offer_type", values="uplift_spend")
    return wide.rename_axis(columns=None)

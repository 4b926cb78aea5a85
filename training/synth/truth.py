"""The planted P(redeem) of a synthetic program, read back from its ``truth/`` files.

:func:`training.synth.activity.make_offer_events` redeems a viewed offer with
probability ``sigmoid(b0 + b1 * log(C * affinity[category]) + b2 * depth)``
(``C`` categories, ``affinity`` the member's planted category affinity), after
a view with a probability per channel. :func:`true_redeem_probability` computes
that from ``truth/affinity.parquet``, ``truth/offers.parquet`` and the
coefficients recorded in ``truth/segments.json``, for any (member, offer)
pair, sent or not, so tests can check that a model recovers the planted
response on sends it never saw.

Imports: :mod:`features`, :mod:`training.synth`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DataError


def true_redeem_probability(data_dir: str | os.PathLike, member_ids, offer_ids,
                            channels=None) -> np.ndarray:
    """Planted P(redeem) of each (member, offer) pair of a synthetic data directory.

    Parameters
    ----------
    data_dir : path
        Written by :func:`training.synth.generate` (with its ``truth/``).
    member_ids, offer_ids : array-like of str, same length
        The pairs; every member and offer must be in the truth files.
    channels : array-like of str, optional
        The send's channel per pair: the probability then includes the channel's
        view probability (P(viewed and redeemed)); without, it is P(redeemed | viewed).

    Returns
    -------
    ndarray of float64, one per pair.
    """
    truth = Path(data_dir) / "truth"
    if not (truth / "affinity.parquet").is_file():
        raise DataError(f"{data_dir} has no truth/affinity.parquet; it is not a directory "
                        "written by 'offers synth'.")
    planted = json.loads((truth / "segments.json").read_text())["offers"]
    coef = planted["redeem_logit"]
    affinity = pd.read_parquet(truth / "affinity.parquet").set_index("member_id")
    offers = pd.read_parquet(truth / "offers.parquet").set_index("offer_id")
    members = affinity.index.get_indexer(np.asarray(member_ids, dtype=str))
    rows = offers.index.get_indexer(np.asarray(offer_ids, dtype=str))
    if (members < 0).any() or (rows < 0).any():
        raise DataError("every member and offer must be in the synthetic truth; unknown: "
                        f"{int((members < 0).sum())} member(s), {int((rows < 0).sum())} offer(s).")
    columns = affinity.columns.get_indexer(offers["category"].to_numpy()[rows])
    share = affinity.to_numpy(dtype="float64")[members, columns]
    relative = np.maximum(share * affinity.shape[1], 1e-12)
    logit = (coef["intercept"] + coef["log_relative_affinity"] * np.log(relative)
             + coef["depth"] * offers["depth"].to_numpy(dtype="float64")[rows])
    p = 1.0 / (1.0 + np.exp(-logit))
    if channels is not None:
        view = dict(zip(planted["channels"], planted["view_probability"]))
        p = p * np.array([view[c] for c in np.asarray(channels, dtype=str)])
    return p

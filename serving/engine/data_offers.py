"""P(redeem) of the data's own offers (``campaign-<id>`` on Complete Journey), learned.

The catalog's templates are scored by the engine (:mod:`serving.engine.planned_sends`);
an offer of the data's offer events is not a template, but the version's learned
offer-response model can still score it with the offer's own features: its type,
depth and categories from the data's ``offers`` table or side files
(:func:`~models.offer_response.offer_specs_from_events`, every offer that has
events, so campaigns first sent after the training cut-off too, plus every
offer of the ``offers`` table, sent or not) and the member's
affinity to it and its dealings with the offer's items
(:mod:`models.offer_response.products`) from purchases before the version's ``as_of``.
Member features are the version's (as of ``as_of``), whatever the send's timestamp.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DataError
from features.loading import load_dataset
from models.offer_response import (
    compute_affinity,
    offer_specs_from_events,
    validate_offer_specs,
)
from models.offer_response.products import ProductIndex


class DataOffers:
    """The offers of one data directory, scored with a bundle's learned response model."""

    def __init__(self, bundle, data_dir: str | Path):
        if getattr(bundle, "response", None) is None:
            raise DataError(f"version {bundle.version} holds no learned offer-response model "
                            "(too little offer history, or trained before issue 12); only "
                            "catalog offers can be scored.")
        self.bundle = bundle
        self.dataset = load_dataset(data_dir)
        extras = Path(data_dir) / "extras" / "campaigns.parquet"
        specs = offer_specs_from_events(self.dataset, data_dir if extras.is_file() else None)
        table = self.dataset.offers
        if table is not None:  # offers described but never sent can be planned too
            unsent = table[~table["offer_id"].isin(specs["offer_id"])]
            specs = pd.concat([specs, validate_offer_specs(unsent)], ignore_index=True)
        self.specs = specs
        self.offer_ids = set(self.specs["offer_id"].astype(str))

    def p_redeem(self, member_ids: np.ndarray, offer_ids: np.ndarray) -> np.ndarray:
        """P(redeem) of each (member, offer) pair; offers must be in :attr:`offer_ids`."""
        members = pd.Index(pd.unique(np.asarray(member_ids, dtype=str)))
        offers = pd.Index(pd.unique(np.asarray(offer_ids, dtype=str)))
        if len(members) == 0:
            return np.empty(0)
        specs = self.specs.set_index(self.specs["offer_id"].astype(str)).loc[offers]
        specs = specs.reset_index(drop=True)
        response = self.bundle.response
        rows = np.array([self.bundle.row(m) for m in members], dtype=np.int64)
        matrix = np.full((len(members), response.members.shape[1]), np.nan)
        matrix[rows >= 0] = response.members[rows[rows >= 0]]
        features = pd.DataFrame(matrix, index=members, columns=response.model.member_columns_)
        affinity = compute_affinity(self.dataset, specs, self.bundle.as_of, members.to_numpy())
        affinity.products = ProductIndex(self.dataset, specs).matrix(self.bundle.as_of,
                                                                     members.to_numpy())
        p = response.model.predict_proba(features, specs, affinity)
        return p[members.get_indexer(member_ids), offers.get_indexer(offer_ids)]

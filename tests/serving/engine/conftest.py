"""Fixtures of the offer engine's tests: a tiny bundle and catalogs (``tiny_program.py``)."""

from __future__ import annotations

import pandas as pd
import pytest
from tiny_program import AS_OF, ITEMS, MEMBERS, transactions

from models.recommenders import BlendRecommender, build_interactions
from serving.engine.bundle import ModelBundle
from serving.engine.catalog.loading import parse_catalog
from serving.engine.member_table import MemberTable
from training.artifacts.schema import conform_members


@pytest.fixture(scope="session")
def tiny_bundle():
    """``tiny_bundle(members=None)``: a :class:`ModelBundle` over ``MEMBERS`` (or a variant)."""

    def tiny_bundle(members: pd.DataFrame | None = None) -> ModelBundle:
        """A :class:`ModelBundle` over :data:`MEMBERS` (or a variant of it)."""
        interactions = build_interactions(transactions(), AS_OF)
        model = BlendRecommender(weights={"buy_again": 1.0, "popularity": 0.1}).fit(interactions)
        table = ITEMS.set_index("item_id").reindex(model.item_ids_)
        manifest = {"version": "test-v1", "as_of": AS_OF.isoformat(),
                    "metrics": {"churn": {"horizon_days": 28}}}
        return ModelBundle("test-v1", manifest, MemberTable.from_frame(conform_members(
            MEMBERS if members is None else members, partial=True)), model, ITEMS,
            table["category"].to_numpy(dtype=str))

    return tiny_bundle


@pytest.fixture(scope="session")
def catalog():
    """``catalog(*offers, **top)``: a catalog with test-friendly settings."""

    def catalog(*offers: dict, **top) -> object:
        """A catalog of ``offers``: no control group, no contact cap, wine excluded."""
        raw = {
            "control_group": {"share": 0.0}, "contact_policy": {"max_offers": None},
            "exclude_categories": ["wine"],
            "tiers": {"basis": "annual_spend", "levels": [
                {"name": "bronze", "min": 0}, {"name": "silver", "min": 400},
                {"name": "gold", "min": 1200}, {"name": "platinum", "min": 2500}]},
            **top, "offers": list(offers),
        }
        return parse_catalog(raw, source="test.yaml")

    return catalog

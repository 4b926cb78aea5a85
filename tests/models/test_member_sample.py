"""Seeded member samples for training on large data (models/member_sample.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.dataset import Dataset
from features.errors import ConfigError
from models.member_sample import (
    member_sample,
    restrict_members,
    sample_dataset,
    sample_fraction,
    sample_ids,
)


def _dataset() -> Dataset:
    ids = [f"m{i}" for i in range(200)]
    cat = pd.Categorical(np.repeat(ids, 3), categories=ids)
    tx = pd.DataFrame({"member_id": cat, "item_id": pd.Categorical(["i"] * 600),
                       "timestamp": pd.Timestamp("2024-01-01"), "amount": 1.0,
                       "basket_id": np.arange(600)})
    events = pd.DataFrame({"member_id": pd.Categorical(ids[:50], categories=ids),
                           "offer_id": "o", "event": "sent",
                           "timestamp": pd.Timestamp("2024-01-02")})
    members = pd.DataFrame({"member_id": pd.Series(ids, dtype="str")})
    items = pd.DataFrame({"item_id": ["i"], "category": ["c"], "department": ["d"]})
    return Dataset(tx, items, members, events)


def test_sample_fraction():
    assert sample_fraction(1000, 250) == 0.25
    assert sample_fraction(100, 250) == 1.0
    assert sample_fraction(10**9, None) == 1.0
    with pytest.raises(ConfigError, match="positive whole number"):
        sample_fraction(10, 0)


def test_member_sample_is_seeded_sized_and_order_free():
    ids = pd.Index([f"m{i}" for i in range(10_000)])
    keep = member_sample(ids, 0.3, random_state=0)
    assert keep.dtype == bool and 0.27 < keep.mean() < 0.33
    assert (member_sample(ids, 0.3, random_state=0) == keep).all()
    assert (member_sample(ids, 0.3, random_state=1) != keep).any()
    shuffled = ids[::-1]
    assert set(shuffled[member_sample(shuffled, 0.3, random_state=0)]) == set(ids[keep])
    assert member_sample(ids, 1.0).all()
    with pytest.raises(ConfigError, match="fraction"):
        member_sample(ids, 0.0)


def test_restrict_members_keeps_every_row_of_the_kept_members_only():
    ds = _dataset()
    kept = pd.Index(["m1", "m7", "m120"])
    out = restrict_members(ds, kept)
    assert sorted(out.transactions["member_id"].astype(str).unique()) == sorted(kept)
    assert len(out.transactions) == 9
    assert out.members["member_id"].tolist() == ["m1", "m7", "m120"]
    assert out.offer_events["member_id"].astype(str).tolist() == ["m1", "m7"]
    assert out.items is ds.items


def test_sample_dataset_draws_from_the_candidates():
    ds = _dataset()
    same, ids = sample_dataset(ds, 1.0)
    assert same is ds and len(ids) == 200
    senders = pd.Index([f"m{i}" for i in range(50)])
    out, kept = sample_dataset(ds, 0.5, random_state=0, candidates=senders)
    assert 10 < len(kept) < 40 and kept.isin(senders).all()
    assert set(out.transactions["member_id"].astype(str)) == set(kept)


def test_sample_ids_keeps_everyone_below_the_limit_and_samples_above(caplog):
    ids = [f"m{i}" for i in range(1000)]
    assert list(sample_ids(ids, 1000)) == ids
    assert list(sample_ids(ids, None)) == ids
    with caplog.at_level("INFO", logger="models.member_sample"):
        kept = sample_ids(ids, 300, random_state=4, purpose="churn learns",
                          population="buyers")
    assert 240 < len(kept) < 360 and set(kept) <= set(ids)
    assert kept.equals(pd.Index(ids)[member_sample(pd.Index(ids), 0.3, random_state=4)])
    assert f"churn learns from a seeded sample of {len(kept)} of the 1000 buyers" in caplog.text
    # The draw does not depend on the ids' order.
    assert set(sample_ids(ids[::-1], 300, random_state=4)) == set(kept)


@pytest.mark.parametrize("limit", [0, -3, 2.5, "10", True])
def test_sample_ids_rejects_a_limit_that_is_not_a_positive_whole_number(limit):
    # Checked even when there are fewer ids than the limit would allow.
    with pytest.raises(ConfigError, match=r"max_members=.* should be a positive whole number"):
        sample_ids(["a", "b"], limit)

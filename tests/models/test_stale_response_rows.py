"""bench/bench_response_features.py's planned-send style rows: features as of ``sent_at - lag``.

Issue 12's gate for "train as you serve" reads these rows; if their features were
not as stale as asked (or the lagged copies lost their labels), the measure would
compare nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.loading import load_dataset
from models.offer_response.affinity import AffinityIndex
from models.offer_response.model import _response_member_features
from models.offer_response.rows import LABEL, label_sends
from models.offer_response.specs import validate_offer_specs

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_response_features.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_response_features", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def toy(make_data_dir):
    # Member 1 buys coffee (item A) on Jan 2 and Feb 20; the offer is sent on Mar 1.
    tx = ("member_id,timestamp,item_id,quantity,amount,basket_id\n"
          "1,2024-01-02T10:00:00,A,1,3.5,b1\n1,2024-02-20T10:00:00,A,1,3.5,b2\n"
          "2,2024-01-03T11:00:00,C,1,2.0,b3\n")
    events = ("member_id,offer_id,event,timestamp\n"
              "1,coffee,sent,2024-03-01T00:00:00\n1,coffee,redeemed,2024-03-03T00:00:00\n"
              "2,coffee,sent,2024-03-01T00:00:00\n")
    dataset = load_dataset(make_data_dir(transactions=tx, **{"offer_events.csv": events}),
                           now="2025-01-01")
    offers = validate_offer_specs(pd.DataFrame([{
        "offer_id": "coffee", "type": "percent_off", "depth": 0.2,
        "categories": ["coffee"], "items": ["A"]}]))
    sends = label_sends(dataset.offer_events, offers, as_of="2024-06-01")
    return dataset, offers, sends


def test_lagged_rows_have_features_as_of_the_lag(bench, toy):
    dataset, offers, sends = toy
    lagged = bench.lagged_sends(sends, (0, 28))
    assert lagged["lag_days"].tolist() == [0.0, 0.0, 28.0, 28.0]
    rows = bench.stale_rows(dataset, offers, lagged, lagged["lag_days"].to_numpy(),
                            _response_member_features, AffinityIndex(dataset, offers))
    # The labels and send times stay the send's own; the features move back by the lag.
    assert rows[LABEL].tolist() == [True, False, True, False]
    assert (rows["sent_at"] == pd.Timestamp("2024-03-01")).all()
    assert rows["cutoff"].tolist() == [pd.Timestamp("2024-03-01")] * 2 + \
        [pd.Timestamp("2024-02-02")] * 2
    np.testing.assert_allclose(rows[bench.AGE], [0, 0, 28, 28])
    member1 = rows[rows["member_id"] == "1"].set_index("lag_days")
    # Lag 0 sees both coffee buys (recency 9 days); at lag 28 only January's (31 days).
    assert member1.loc[0.0, "m__frequency"] == 2
    assert member1.loc[28.0, "m__frequency"] == 1
    assert member1.loc[0.0, "m__recency_days"] < member1.loc[28.0, "m__recency_days"]
    # The affinity to the offer's items too: Feb 20's line counts at lag 0 only.
    assert member1.loc[0.0, "item_purchases"] == 2
    assert member1.loc[28.0, "item_purchases"] == 1


def test_one_sampled_lag_per_send_is_seeded_and_bounded(bench, toy):
    _, _, sends = toy
    first = bench.lagged_sends(sends, (0, 56), sample=True, random_state=3)
    again = bench.lagged_sends(sends, (0, 56), sample=True, random_state=3)
    assert len(first) == len(sends)
    assert first["lag_days"].tolist() == again["lag_days"].tolist()
    assert first["lag_days"].between(0, 56).all()

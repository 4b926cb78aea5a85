"""Item features on a hand-made toy data set whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.code_groups import group_median
from features.errors import ConfigError
from features.item_features import ITEM_COLUMNS, build_item_features

AS_OF = pd.Timestamp("2024-03-01")

ITEMS = pd.DataFrame(
    {
        "item_id": ["i1", "i2", "i3", "i4", "i5"],
        "category": ["Milk", "Cheese", "Beef", "Soft Drinks", "Milk"],
        "department": ["Dairy", "Dairy", "Meat", None, "Dairy"],
        "price": [2.5, 6.0, 20.0, 2.0, 9.99],
    }
)

# (member, timestamp, item, quantity, amount)
LINES = [
    ("a", "2024-01-01 10:00", "i1", 2, 4.0),
    ("a", "2024-01-01 10:00", "i3", 1, 10.0),
    ("a", "2024-01-11 10:00", "i1", 1, 2.0),
    ("a", "2024-01-31 12:00", "i4", 1, 4.0),
    ("a", "2024-01-31 18:00", "i2", 1, 6.0),
    ("b", "2024-02-20 09:00", "i4", 1, 3.0),
    ("e", "2024-02-01 00:00", "i3", 1, 20.0),
    ("e", "2024-02-05 00:00", "i3", 1, 20.0),
    ("g", "2024-02-10 08:00", "i2", 1, 5.0),
]
HISTORY_DAYS = 60 - 10 / 24  # first line Jan 1 10:00 to Mar 1


def make_transactions(lines) -> pd.DataFrame:
    """Canonical transactions (features.dataset) from ``LINES``-style tuples."""
    cols = list(zip(*lines))
    n = len(lines)
    return pd.DataFrame(
        {
            "member_id": pd.Categorical(cols[0]),
            "timestamp": pd.to_datetime(list(cols[1]), format="ISO8601").astype("datetime64[ns]"),
            "item_id": pd.Categorical(cols[2]),
            "quantity": np.asarray(cols[3], dtype=float),
            "amount": np.asarray(cols[4], dtype=float),
            "basket_id": np.arange(n, dtype=np.int64),
            "discount": np.zeros(n),
        }
    )


@pytest.fixture(scope="module")
def items_out() -> pd.DataFrame:
    return build_item_features(make_transactions(LINES), ITEMS, AS_OF, recent_days=28)


def test_columns_and_index(items_out):
    assert tuple(items_out.columns) == ITEM_COLUMNS
    assert list(items_out.index) == ["i1", "i2", "i3", "i4", "i5"]
    assert items_out.index.name == "item_id"
    assert items_out["category"].tolist() == ["Milk", "Cheese", "Beef", "Soft Drinks", "Milk"]
    # a missing department is the category
    assert items_out["department"].tolist() == ["Dairy", "Dairy", "Meat", "Soft Drinks", "Dairy"]


def test_popularity_lines_revenue(items_out):
    assert items_out["popularity"].tolist() == [1, 2, 2, 2, 0]
    assert items_out["n_lines"].tolist() == [2, 2, 3, 2, 0]
    assert items_out["revenue"].tolist() == [6, 11, 50, 7, 0]
    # recent window [Feb 2, Mar 1): b's i4, e's second i3, g's i2
    assert items_out["recent_popularity"].tolist() == [0, 1, 1, 1, 0]


def test_trend_is_recent_rate_over_overall_rate(items_out):
    expected = [0.0, (1 / 28) / (2 / HISTORY_DAYS), (1 / 28) / (3 / HISTORY_DAYS),
                (1 / 28) / (2 / HISTORY_DAYS), np.nan]
    np.testing.assert_allclose(items_out["trend"], expected)


def test_trend_window_is_cut_to_the_history():
    out = build_item_features(make_transactions(LINES), ITEMS, AS_OF, recent_days=1000)
    np.testing.assert_allclose(out["trend"], [1, 1, 1, 1, np.nan])


def test_price_is_median_unit_price_else_catalogue(items_out):
    # i1: 4/2 and 2/1 -> 2 (not the catalogue 2.5); i2: 6 and 5 -> 5.5; i5 never sold.
    assert items_out["price"].tolist() == [2.0, 5.5, 20.0, 3.5, 9.99]
    without = build_item_features(make_transactions(LINES), ITEMS.drop(columns="price"), AS_OF)
    assert np.isnan(without.loc["i5", "price"])


def test_leakage_only_lines_strictly_before_as_of(items_out):
    later = LINES + [
        ("a", "2024-03-01 00:00", "i5", 1, 100.0),
        ("z", "2024-05-01", "i1", 1, 1.0),
    ]
    out = build_item_features(make_transactions(later), ITEMS, AS_OF, recent_days=28)
    pd.testing.assert_frame_equal(out, items_out)
    just = str(AS_OF - pd.Timedelta(microseconds=1))
    out = build_item_features(
        make_transactions(LINES + [("a", just, "i5", 1, 100.0)]), ITEMS, AS_OF, recent_days=28
    )
    assert out.loc["i5", ["popularity", "recent_popularity", "revenue", "price"]].tolist() == [
        1, 1, 100, 100
    ]


def test_lines_of_unknown_items_are_ignored(items_out):
    out = build_item_features(
        make_transactions(LINES + [("a", "2024-02-01", "nope", 1, 7.0)]), ITEMS, AS_OF
    )
    assert out.index.tolist() == items_out.index.tolist()
    assert out["revenue"].sum() == items_out["revenue"].sum()


def test_group_median_matches_numpy():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 50, 2000)
    values = np.round(rng.lognormal(1, 1, 2000), 2)
    expected = pd.Series(values).groupby(codes).median().reindex(range(60)).to_numpy()
    np.testing.assert_allclose(group_median(codes, 60, values), expected, rtol=1e-9)


def test_bad_recent_days():
    with pytest.raises(ConfigError, match="recent_days=0"):
        build_item_features(make_transactions(LINES), ITEMS, AS_OF, recent_days=0)

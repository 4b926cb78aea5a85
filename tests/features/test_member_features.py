"""Member features on a hand-made toy data set whose answers are worked out by hand."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from features import code_groups, profile_features
from features.dataset import Dataset
from features.errors import ConfigError, DataError
from features.member_features import build_member_features
from features.profile_features import days_to_next_birthday

AS_OF = pd.Timestamp("2024-03-01")
DAY = pd.Timedelta(days=1)

ITEMS = pd.DataFrame(
    {
        "item_id": ["i1", "i2", "i3", "i4", "i5"],
        "category": ["Milk", "Cheese", "Beef", "Soft Drinks", "Milk"],
        "department": ["Dairy", "Dairy", "Meat", "Grocery", "Dairy"],
        "price": [2.0, 6.0, 20.0, 2.0, 9.99],
    }
)

# (member, basket, timestamp, item, quantity, amount, discount)
LINES = [
    ("a", 0, "2024-01-01 10:00", "i1", 2, 4.0, 1.0),
    ("a", 0, "2024-01-01 10:00", "i3", 1, 10.0, 0.0),
    ("a", 1, "2024-01-11 10:00", "i1", 1, 2.0, 0.0),
    ("a", 2, "2024-01-31 12:00", "i4", 1, 4.0, 0.0),
    ("a", 3, "2024-01-31 18:00", "i2", 1, 6.0, 0.0),
    ("b", 4, "2024-02-20 09:00", "i4", 1, 3.0, 0.0),
    ("e", 5, "2024-02-01 00:00", "i3", 1, 20.0, 0.0),
    ("e", 6, "2024-02-05 00:00", "i3", 1, 20.0, 0.0),
    ("g", 7, "2024-02-10 08:00", "i2", 1, 5.0, 0.0),
]

MEMBERS = pd.DataFrame(
    {
        "member_id": ["a", "b", "c", "d", "e", "f"],
        "joined_at": pd.to_datetime(
            ["2023-01-01", "2023-06-01", "2023-02-01", "2024-06-01", None, None]
        ),
        "tier": ["gold", "silver", None, "gold", None, None],
        "birthday": pd.to_datetime(
            ["1990-03-15", "2000-02-29", "1980-03-01", None, None, None]
        ),
        "email_opt_in": pd.array([True, False, None, True, None, None], dtype="boolean"),
        "sms_opt_in": pd.array([False, False, None, True, None, None], dtype="boolean"),
        "push_opt_in": pd.array([True, True, None, True, None, None], dtype="boolean"),
        "plan": ["basic", None, None, None, None, None],
        "plan_status": ["active", None, None, None, None, None],
        "points_balance": [100.0, 5.0, np.nan, 0.0, np.nan, np.nan],
        "referrals": [2.0, 0.0, np.nan, 0.0, np.nan, np.nan],
    }
)

# (member, offer, event, timestamp)
EVENTS = [
    ("a", "o1", "sent", "2024-01-05"),
    ("a", "o2", "sent", "2024-02-01"),
    ("a", "o2", "viewed", "2024-02-02"),
    ("a", "o2", "redeemed", "2024-02-10 12:00"),
    ("b", "o3", "sent", "2024-02-15"),
    ("zzz", "o3", "redeemed", "2024-02-15"),
]


def make_transactions(lines) -> pd.DataFrame:
    """Canonical transactions (features.dataset) from ``LINES``-style tuples."""
    cols = list(zip(*lines))
    return pd.DataFrame(
        {
            "member_id": pd.Categorical(cols[0]),
            "timestamp": pd.to_datetime(list(cols[2]), format="ISO8601").astype("datetime64[ns]"),
            "item_id": pd.Categorical(cols[3]),
            "quantity": np.asarray(cols[4], dtype=float),
            "amount": np.asarray(cols[5], dtype=float),
            "basket_id": np.asarray(cols[1], dtype=np.int64),
            "discount": np.asarray(cols[6], dtype=float),
        }
    )


def make_events(events) -> pd.DataFrame:
    cols = list(zip(*events)) if events else [[], [], [], []]
    return pd.DataFrame(
        {
            "member_id": pd.array(list(cols[0]), dtype="str"),
            "offer_id": pd.array(list(cols[1]), dtype="str"),
            "event": pd.array(list(cols[2]), dtype="str"),
            "timestamp": pd.to_datetime(list(cols[3]), format="ISO8601").astype("datetime64[ns]"),
        }
    )


def toy_tables(lines=LINES, events=EVENTS, members=MEMBERS) -> dict:
    return {
        "transactions": make_transactions(lines),
        "items": ITEMS,
        "members": members,
        "offer_events": make_events(events),
    }


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return build_member_features(toy_tables(), AS_OF, n_categories=2, trend_days=30)


def test_rows_are_eligible_members_then_unlisted_buyers(features):
    # d joined after as_of; f has no join date and never bought; g is not in members.
    assert list(features.index) == ["a", "b", "c", "e", "g"]
    assert features.index.name == "member_id"


def test_recency_frequency_monetary(features):
    a = features.loc["a"]
    assert a["recency_days"] == pytest.approx(29.25)  # last basket Jan 31 18:00
    assert a["frequency"] == 4
    assert a["monetary_total"] == pytest.approx(26.0)
    assert a["monetary_mean_basket"] == pytest.approx(6.5)
    assert a["n_lines"] == 5
    assert a["n_items_distinct"] == 4
    assert a["first_purchase_days"] == pytest.approx(60 - 10 / 24)
    assert a["tenure_days"] == pytest.approx(365 + 60)  # from joined_at
    assert a["discount_share"] == pytest.approx(1 / 27)
    e = features.loc["e"]
    assert e["tenure_days"] == pytest.approx(29)  # join date unknown: first purchase


def test_interpurchase_intervals_use_distinct_purchase_days(features):
    a = features.loc["a"]
    # Purchase days Jan 1, Jan 11, Jan 31 (two baskets that day): gaps 10 and 20.
    assert a["interpurchase_mean_days"] == pytest.approx(15)
    assert a["interpurchase_std_days"] == pytest.approx(5)
    assert a["expected_days_to_next"] == pytest.approx(15 - 29.25)
    assert a["overdue_ratio"] == pytest.approx(29.25 / 15)
    e = features.loc["e"]
    assert (e["interpurchase_mean_days"], e["interpurchase_std_days"]) == (4, 0)
    b = features.loc["b"]
    assert np.isnan(b["interpurchase_mean_days"]) and np.isnan(b["interpurchase_std_days"])
    # b has one purchase day: the cycle falls back to the median member cycle (15 and 4).
    assert b["recency_days"] == pytest.approx(9 + 15 / 24)
    assert b["expected_days_to_next"] == pytest.approx(9.5 - (9 + 15 / 24))
    assert b["overdue_ratio"] == pytest.approx((9 + 15 / 24) / 9.5)


def test_spend_trend_windows(features):
    a = features.loc["a"]
    assert a["spend_recent"] == pytest.approx(10.0)  # [Jan 31, Mar 1)
    assert a["spend_earlier"] == pytest.approx(16.0)  # [Jan 1, Jan 31)
    assert a["spend_trend"] == pytest.approx(np.log(11 / 17))
    e = features.loc["e"]
    assert (e["spend_recent"], e["spend_earlier"]) == (40.0, 0.0)
    assert e["spend_trend"] == pytest.approx(np.log(41))


def test_department_and_category_shares(features):
    dept = ["dept_share__dairy", "dept_share__grocery", "dept_share__meat"]
    # Category spend: Beef 50, Cheese 11, Soft Drinks 7, Milk 6 -> top 2 are Beef, Cheese.
    cats = ["cat_share__beef", "cat_share__cheese", "cat_share__other"]
    assert [c for c in features.columns if "_share__" in c] == dept + cats
    a = features.loc["a"]
    np.testing.assert_allclose(a[dept].to_numpy(float), np.array([12, 4, 10]) / 26)
    np.testing.assert_allclose(a[cats].to_numpy(float), np.array([10, 6, 10]) / 26)
    buyers = features[features["frequency"] > 0]
    np.testing.assert_allclose(buyers[dept].sum(axis=1), 1.0)
    np.testing.assert_allclose(buyers[cats].sum(axis=1), 1.0)
    assert a["top_category"] == "Beef" and a["top_department"] == "Dairy"
    assert features.loc["g", "top_category"] == "Cheese"


def test_without_spend_mix_the_other_columns_are_unchanged(features):
    lean = build_member_features(toy_tables(), AS_OF, trend_days=30, spend_mix=False)
    assert not [c for c in lean.columns if "_share__" in c]
    assert lean[["top_category", "top_department"]].isna().all().all()
    same = [c for c in lean.columns if not c.startswith("top_")]
    assert len(same) > 20
    pd.testing.assert_frame_equal(lean[same], features[same])


def test_category_order_breaks_ties_by_name():
    out = build_member_features(toy_tables(), AS_OF, n_categories=10)
    cats = [c for c in out.columns if c.startswith("cat_share__")]
    # Milk (6) and the unsold-Milk item add nothing; every category with spend gets a column.
    assert cats == ["cat_share__beef", "cat_share__cheese", "cat_share__soft_drinks",
                    "cat_share__milk", "cat_share__other"]
    assert (out.loc[out["frequency"] > 0, "cat_share__other"] == 0).all()
    # a: Milk 6 and Cheese 6 tie for second place; Beef 10 wins outright.
    tie = toy_tables(lines=[("x", 0, "2024-01-01", "i1", 1, 6.0, 0.0),
                            ("x", 0, "2024-01-01", "i2", 1, 6.0, 0.0)])
    out = build_member_features(tie, AS_OF)
    assert out.loc["x", "top_category"] == "Cheese"


def test_offer_history(features):
    a = features.loc["a"]
    assert (a["offers_sent"], a["offers_redeemed"]) == (2, 1)
    assert a["redemption_rate"] == 0.5
    assert a["days_since_last_redemption"] == pytest.approx(19.5)
    assert a["coupon_share"] == 0.25
    b = features.loc["b"]
    assert (b["offers_sent"], b["offers_redeemed"], b["redemption_rate"]) == (1, 0, 0.0)
    assert np.isnan(b["days_since_last_redemption"])
    c = features.loc["c"]
    assert (c["offers_sent"], c["offers_redeemed"]) == (0, 0)
    assert np.isnan(c["redemption_rate"]) and np.isnan(c["coupon_share"])


@pytest.mark.parametrize("events", [None, "empty"])
def test_without_offer_events(events):
    tables = toy_tables()
    tables["offer_events"] = None if events is None else make_events([])
    out = build_member_features(tables, AS_OF)
    assert (out["offers_sent"] == 0).all() and (out["offers_redeemed"] == 0).all()
    assert out["redemption_rate"].isna().all()
    assert out["days_since_last_redemption"].isna().all()
    assert (out.loc[out["frequency"] > 0, "coupon_share"] == 0).all()


def test_member_without_purchases(features):
    c = features.loc["c"]
    for col in ("frequency", "monetary_total", "n_lines", "n_items_distinct",
                "spend_recent", "spend_earlier", "spend_trend"):
        assert c[col] == 0, col
    for col in ("recency_days", "monetary_mean_basket", "first_purchase_days",
                "interpurchase_mean_days", "expected_days_to_next", "overdue_ratio",
                "discount_share", "dept_share__dairy", "cat_share__other"):
        assert np.isnan(c[col]), col
    assert pd.isna(c["top_category"]) and pd.isna(c["top_department"])
    assert c["tenure_days"] == pytest.approx(365 + 60 - 31)


def test_profile_columns_keep_their_dtype(features):
    assert features["email_opt_in"].dtype == "boolean"
    assert features.loc["a", "tier"] == "gold"
    assert features.loc["a", "points_balance"] == 100.0
    assert features.loc["a", "referrals"] == 2.0
    assert features.loc["a", "plan_status"] == "active"
    assert pd.isna(features.loc["g", "tier"]) and pd.isna(features.loc["g", "email_opt_in"])
    numeric = features.drop(
        columns=["top_category", "top_department", "tier", "plan", "plan_status",
                 "email_opt_in", "sms_opt_in", "push_opt_in"]
    )
    assert (numeric.dtypes == np.float64).all()
    # as_of is Mar 1: a's birthday Mar 15; b's Feb 29 next falls on Feb 28, 2025; c's is today.
    assert features.loc[["a", "b", "c", "e"], "days_to_next_birthday"].tolist()[:3] == [
        14.0, 364.0, 0.0
    ]
    assert np.isnan(features.loc["e", "days_to_next_birthday"])


@pytest.mark.parametrize(
    "as_of, birthday, expected",
    [
        ("2023-12-31", "1990-01-01", 1),  # year wrap
        ("2024-01-01", "1990-12-31", 365),  # 2024 is a leap year
        ("2025-01-01", "1990-12-31", 364),
        ("2023-03-01", "2000-02-29", 365),  # next is Feb 29, 2024
        ("2024-02-28", "2000-02-29", 1),
        ("2024-02-29", "2000-02-29", 0),
        ("2023-02-28", "2000-02-29", 0),  # celebrated on Feb 28 in other years
        ("2023-03-01 23:00", "1970-03-01", 0),  # the cutoff's date counts
    ],
)
def test_days_to_next_birthday(as_of, birthday, expected):
    out = days_to_next_birthday(pd.Series(pd.to_datetime([birthday])), pd.Timestamp(as_of))
    assert out.tolist() == [expected]


def test_leakage_rows_at_or_after_as_of_change_nothing():
    base = build_member_features(toy_tables(), AS_OF, n_categories=2, trend_days=30)
    later = LINES + [
        ("a", 8, "2024-03-01 00:00", "i1", 1, 500.0, 3.0),  # exactly at as_of
        ("a", 9, "2024-03-05", "i5", 3, 900.0, 0.0),
        ("h", 10, "2024-03-02", "i1", 1, 50.0, 0.0),  # a buyer who appears later
        ("c", 11, "2025-01-01", "i4", 1, 1.0, 0.0),
    ]
    events = EVENTS + [
        ("a", "o9", "redeemed", "2024-03-01 00:00"),
        ("b", "o9", "sent", "2024-04-01"),
        ("h", "o9", "sent", "2024-03-01"),
    ]
    members = pd.concat(
        [MEMBERS, pd.DataFrame({"member_id": ["k"], "joined_at": [AS_OF]})], ignore_index=True
    )
    members["email_opt_in"] = members["email_opt_in"].astype("boolean")
    out = build_member_features(
        toy_tables(later, events, members), AS_OF, n_categories=2, trend_days=30
    )
    pd.testing.assert_frame_equal(out, base)


def test_leakage_a_row_one_microsecond_before_as_of_counts():
    base = build_member_features(toy_tables(), AS_OF)
    just = AS_OF - pd.Timedelta(microseconds=1)
    lines = LINES + [("c", 8, str(just), "i1", 1, 1.0, 0.0)]
    events = EVENTS + [("c", "o9", "sent", str(just))]
    out = build_member_features(toy_tables(lines, events), AS_OF)
    assert base.loc["c", "frequency"] == 0 and out.loc["c", "frequency"] == 1
    assert out.loc["c", "recency_days"] == pytest.approx(1e-6 / 86400)
    assert out.loc["c", "offers_sent"] == 1


def test_accepts_a_dataset_and_aware_as_of(features):
    t = toy_tables()
    ds = Dataset(t["transactions"], t["items"], t["members"], t["offer_events"])
    out = build_member_features(ds, "2024-03-01T09:00:00+09:00", n_categories=2, trend_days=30)
    pd.testing.assert_frame_equal(out, features)


def test_without_members_table_every_buyer_is_a_row():
    t = toy_tables()
    del t["members"]
    out = build_member_features(t, AS_OF)
    assert list(out.index) == ["a", "b", "e", "g"]
    assert out["tier"].isna().all() and out["email_opt_in"].dtype == "boolean"
    assert out.loc["e", "tenure_days"] == pytest.approx(29)


def test_a_basket_id_shared_by_two_members_counts_for_each():
    lines = [("x", 0, "2024-01-01", "i1", 1, 1.0, 0.0), ("y", 0, "2024-01-02", "i1", 1, 1.0, 0.0)]
    out = build_member_features(toy_tables(lines=lines), AS_OF)
    assert out.loc[["x", "y"], "frequency"].tolist() == [1.0, 1.0]


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="as_of"):
        build_member_features(toy_tables(), "not a date")
    with pytest.raises(ConfigError, match="trend_days=0"):
        build_member_features(toy_tables(), AS_OF, trend_days=0)
    with pytest.raises(ConfigError, match="n_categories=-1"):
        build_member_features(toy_tables(), AS_OF, n_categories=-1)
    with pytest.raises(DataError, match="items"):
        build_member_features({"transactions": make_transactions(LINES)}, AS_OF)
    with pytest.raises(DataError, match="amount"):
        t = toy_tables()
        t["transactions"] = t["transactions"].drop(columns="amount")
        build_member_features(t, AS_OF)


@pytest.mark.parametrize("module", [code_groups, profile_features])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_spend_mix_in_member_blocks_matches_one_block(monkeypatch, features):
    import features.purchase_features as purchase

    monkeypatch.setattr(purchase, "DENSE_LIMIT", 10)  # 4 (dept, category) pairs + 1: 2 members
    out = build_member_features(toy_tables(), AS_OF, n_categories=2, trend_days=30)
    pd.testing.assert_frame_equal(out, features)


@pytest.mark.parametrize("basket_offset", [0, 10**10])
def test_row_order_and_basket_id_values_do_not_matter(features, basket_offset):
    # Shuffled rows take the scatter path (ids not in row order); large ids are factorized.
    t = toy_tables()
    tx = t["transactions"].sample(frac=1.0, random_state=3).reset_index(drop=True)
    tx["basket_id"] = tx["basket_id"] * 7 + basket_offset
    t["transactions"] = tx
    out = build_member_features(t, AS_OF, n_categories=2, trend_days=30)
    pd.testing.assert_frame_equal(out, features)


def test_shared_basket_id_in_shuffled_rows():
    lines = [("x", 5, "2024-01-01", "i1", 1, 1.0, 0.0), ("y", 5, "2024-01-02", "i1", 1, 1.0, 0.0),
             ("x", 9, "2024-01-03", "i1", 1, 1.0, 0.0), ("x", 1, "2024-01-04", "i1", 1, 1.0, 0.0)]
    out = build_member_features(toy_tables(lines=lines), AS_OF)
    assert out.loc[["x", "y"], "frequency"].tolist() == [3.0, 1.0]

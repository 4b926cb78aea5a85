"""Member features of several cutoffs built together equal each built alone (issue 11)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from features.loading import load_dataset
from features.member_features import build_member_features
from features.relational import connect, load_relational, member_features, tables_from_dataset
from features.relational.members import member_features_at
from tests.features.test_relational import assert_same_frame


@pytest.fixture(scope="module")
def synth(synth_data):
    ds = load_dataset(synth_data, now="2100-01-01")
    return ds, tables_from_dataset(connect(), ds)["transactions"]


def cutoffs_of(ds) -> list[pd.Timestamp]:
    last = ds.last_timestamp.normalize()
    # Days apart, out of order, repeated, one at midday, one before every line.
    return [last - pd.Timedelta(days=30), last - pd.Timedelta(days=95, hours=12),
            last - pd.Timedelta(days=30), last - pd.Timedelta(days=60),
            ds.transactions["timestamp"].min() - pd.Timedelta(days=1)]


def test_several_cutoffs_together_equal_each_alone_and_pandas(synth):
    ds, lines = synth
    cutoffs = cutoffs_of(ds)
    got = member_features_at(lines, ds, cutoffs)
    assert list(got) == sorted(set(cutoffs))
    for cutoff, frame in got.items():
        want = build_member_features(ds, cutoff)
        assert_same_frame(frame, member_features(lines, ds, cutoff))
        assert_same_frame(frame, want)
    busy = got[max(got)]
    assert len(busy) > 100 and busy["cat_share__other"].notna().any()
    assert busy["interpurchase_std_days"].notna().any() and busy["top_category"].notna().any()
    assert busy["spend_earlier"].gt(0).any() and busy["spend_recent"].gt(0).any()
    # The frames of the cutoff before every line: no purchases at all.
    assert got[min(got)]["frequency"].fillna(0).eq(0).all()


def test_other_options_and_no_cutoffs(synth):
    ds, lines = synth
    cutoffs = cutoffs_of(ds)[:2]
    got = member_features_at(lines, ds, cutoffs, n_categories=3, trend_days=20, spend_mix=False)
    for cutoff, frame in got.items():
        assert_same_frame(frame, build_member_features(ds, cutoff, n_categories=3,
                                                       trend_days=20, spend_mix=False))
    got = member_features_at(lines, ds, cutoffs, n_categories=0)
    for cutoff, frame in got.items():
        assert_same_frame(frame, build_member_features(ds, cutoff, n_categories=0))
    assert member_features_at(lines, ds, []) == {}
    with pytest.raises(ConfigError, match="n_categories"):
        member_features_at(lines, ds, cutoffs, n_categories=-1)


# A basket whose lines straddle a cutoff (b1: 2024-01-31 and 2024-02-02), coupons on both
# sides, offer events, a member who only buys after the first cutoff, one without lines.
TX = (
    "member_id,timestamp,item_id,quantity,amount,basket_id,coupon_discount\n"
    "1,2023-10-01T10:00:00,A,1,3.5,b0,0\n"
    "1,2024-01-31T23:00:00,A,1,3.5,b1,0.5\n"
    "1,2024-02-02T10:00:00,C,1,1.0,b1,-0.25\n"
    "1,2024-02-20T10:00:00,B,2,4.0,b2,\n"
    "2,2024-01-03T11:00:00,C,1,2.0,b3,0\n"
    "2,2024-02-03T11:00:00,A,1,9.0,b4,1.0\n"
    "2,2024-02-03T11:00:00,B,1,2.0,b4,\n"
    "3,2024-02-05T09:30:00,B,1,2.5,b5,\n"
    "3,2024-02-25T09:30:00,C,3,2.5,b6,0.3\n"
)
MEMBERS = "member_id,joined_at\n1,2023-01-01\n2,2023-01-01\n3,2023-06-01\n4,2023-02-01\n"
EVENTS = (
    "member_id,offer_id,event,timestamp\n"
    "1,o1,sent,2024-01-20T08:00:00\n"
    "1,o1,redeemed,2024-01-25T08:00:00\n"
    "2,o2,sent,2024-02-10T08:00:00\n"
    "2,o2,redeemed,2024-02-12T08:00:00\n"
)


def test_straddling_baskets_coupons_and_offer_events_on_the_engine(make_data_dir):
    files = {"members.csv": MEMBERS, "offer_events.csv": EVENTS}
    ds = load_dataset(make_data_dir(transactions=TX, **files), now="2025-01-01")
    relational = load_relational(connect(), make_data_dir(name="again", transactions=TX, **files),
                                 now="2025-01-01")
    cutoffs = [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-02-03T11:00:00"),
               pd.Timestamp("2024-03-01")]
    got = member_features_at(relational.transactions, relational, cutoffs)
    for cutoff in cutoffs:
        want = build_member_features(ds, cutoff)
        assert_same_frame(got[cutoff], want)
        assert_same_frame(got[cutoff], member_features(relational.transactions, relational,
                                                       cutoff))
    first = got[cutoffs[0]]
    assert first.loc["1", "frequency"] == 2 and first.loc["1", "monetary_total"] == 7.0
    assert got[cutoffs[2]].loc["1", "frequency"] == 3
    # Member 3's spend ties (tea 2.5, bread 2.5): the first name wins, as in pandas.
    assert got[cutoffs[2]].loc["3", ["top_category", "top_department"]].tolist() == [
        "bread", "bakery"]

"""Some members' lines and the offer events fetched from DuckDB as canonical pandas frames.

The pandas loader plus :func:`models.member_sample.restrict_members` is the
oracle: :func:`features.relational.frames.member_dataset` over
:func:`features.relational.load_relational` must give the same lines (as sets
of rows), events and member rows, in the canonical dtypes.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.loading import load_dataset
from features.relational import connect, load_relational
from features.relational.frames import events_frame, lines_frame, member_dataset
from models.member_sample import restrict_members
from tests.features.test_relational_loading import pandas_lines, sorted_lines

NOW = "2100-01-01"


@pytest.fixture(scope="module")
def loaded(synth_data):
    con = connect()
    data = load_relational(con, synth_data, now=NOW)
    small = {"items": data.items, "members": data.members,
             "offer_events": events_frame(data.offer_events), "offers": data.offers}
    yield con, data, small, load_dataset(synth_data, now=NOW)
    con.disconnect()


def canonical_events(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["member_id", "offer_id", "event", "timestamp"]
    out = pd.DataFrame({c: frame[c].astype("str") for c in columns[:-1]})
    out["timestamp"] = frame["timestamp"]
    return out.sort_values(columns, ignore_index=True)


def test_a_member_sample_equals_the_pandas_sample(loaded):
    con, data, small, want_all = loaded
    ids = sorted(want_all.members["member_id"].astype(str))[::7]
    got = member_dataset(con, data.transactions, small, ids)
    want = restrict_members(want_all, pd.Index(ids))
    assert len(got.transactions) == len(want.transactions) > 0
    pd.testing.assert_frame_equal(sorted_lines(pandas_lines(got)),
                                  sorted_lines(pandas_lines(want)))
    assert set(got.transactions["member_id"].astype(str)) <= set(ids)
    pd.testing.assert_frame_equal(canonical_events(got.offer_events),
                                  canonical_events(want.offer_events))
    assert sorted(got.members["member_id"]) == sorted(want.members["member_id"])


def test_a_sample_of_the_engines_events_equals_the_frames(loaded):
    """With the events left on the engine (as training keeps them) a member sample's events
    are fetched from there: the rows, in the order, of the pandas frame's sample."""
    con, data, small, want_all = loaded
    ids = sorted(want_all.members["member_id"].astype(str))[::3]
    got = member_dataset(con, data.transactions, small | {"offer_events": data.offer_events},
                         ids)
    want = member_dataset(con, data.transactions, small, ids)
    assert 0 < len(got.offer_events) < len(small["offer_events"])
    for column in ("member_id", "offer_id", "event", "timestamp"):
        assert got.offer_events[column].astype(str).tolist() == (
            want.offer_events[column].astype(str).tolist()), column
    assert got.offer_events.dtypes["timestamp"] == "datetime64[ns]"
    pd.testing.assert_frame_equal(got.members, want.members)


def test_the_frames_have_the_canonical_dtypes(loaded):
    con, data, small, want = loaded
    got = lines_frame(con, data.transactions, want.members["member_id"][:5])
    for column in ("member_id", "item_id"):
        assert isinstance(got[column].dtype, pd.CategoricalDtype)
        assert all(isinstance(c, str) for c in got[column].cat.categories)
    assert got.dtypes["timestamp"] == "datetime64[ns]"
    assert got.dtypes[["basket_id", "quantity", "amount", "discount"]].tolist() == [
        "int64", "float64", "float64", "float64"]
    events = small["offer_events"]
    assert len(events) == len(want.offer_events) > 0
    assert events.dtypes["timestamp"] == "datetime64[ns]"
    assert isinstance(events["event"].dtype, pd.CategoricalDtype)


def test_every_member_and_a_repeated_fetch_give_the_same_rows(loaded):
    con, data, small, want = loaded
    first = lines_frame(con, data.transactions)
    assert len(first) == len(want.transactions)
    again = lines_frame(con, data.transactions)
    pd.testing.assert_frame_equal(first, again)


def test_unknown_members_give_no_lines_not_an_error(loaded):
    con, data, small, _ = loaded
    got = member_dataset(con, data.transactions, small, ["no-such-member"])
    assert got.transactions.empty and got.members.empty and got.offer_events.empty


def test_lines_fetched_in_slices_of_members_equal_one_fetch(loaded, monkeypatch):
    """The sample's lines come in slices of sorted member ids, each sorted on the engine:
    the frame is the one-query fetch's, row for row and dtype for dtype."""
    import features.relational.frames as frames

    con, data, _, want_all = loaded
    ids = sorted(want_all.members["member_id"].astype(str))[::2][::-1]  # any order given
    monkeypatch.setattr(frames, "FETCH_MEMBERS", 10**9)
    whole = lines_frame(con, data.transactions, ids)
    monkeypatch.setattr(frames, "FETCH_MEMBERS", 7)
    sliced = lines_frame(con, data.transactions, ids)
    assert len(ids) > 3 * 7 and len(whole) > 0
    pd.testing.assert_frame_equal(sliced, whole)
    assert sliced["member_id"].is_monotonic_increasing or (
        sliced["member_id"].astype(str).is_monotonic_increasing)

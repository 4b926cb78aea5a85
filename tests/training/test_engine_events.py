"""The offer events stay on the engine (issue 11): each reader gets its answer from a query
there, equal to the pandas computation, and only a member sample's events come to pandas.

The oracle is the pandas loader's events frame read by the same functions
(:mod:`models.member_source`, :func:`models.offer_response.offer_specs_from_events`,
:func:`training.uplift_step.control_group_reason`). On the engine the events are
the table :func:`training.engines.load_for_engine` leaves in ``small``; a fetch
of every event into pandas (:func:`features.relational.frames.events_frame`
without member ids) fails these tests.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

import features.relational.frames as frames
from features.loading import load_dataset
from features.relational.event_queries import campaign_offers, offers_in_first_seen_order
from features.relational.events import EVENT_ROW
from features.relational.portable import register_frame
from models.member_source import MemberSource, event_kinds, events_of, members_with_events
from models.offer_response import offer_specs_from_events
from models.offer_response.model import _sample_senders
from models.offer_response.rows import label_sends
from models.uplift.fit import _experiment_members
from models.uplift.rows import check_experiment_events
from training.engines import load_for_engine
from training.pipeline import resolve_as_of
from training.uplift_step import control_group_reason


@pytest.fixture(scope="module")
def both(synth_data):
    """``(pandas dataset, engine tables, fetches)``: ``fetches`` records the rows of every
    event fetch into pandas, and a fetch of every event raises."""
    dataset = load_dataset(synth_data)
    _, tables = load_for_engine("duckdb", synth_data)
    fetches, fetch = [], frames.events_frame

    def events_of_some_members(events, member_ids=None):
        if member_ids is None:
            raise AssertionError("every offer event was fetched into pandas")
        got = fetch(events, member_ids)
        fetches.append(len(got))
        return got

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frames, "events_frame", events_of_some_members)
        yield dataset, tables, fetches
    tables.close()


def as_text(events: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({c: events[c].astype("str").to_numpy()
                        for c in ("member_id", "offer_id", "event", "channel", "campaign_id")})
    out["timestamp"] = events["timestamp"].to_numpy()
    return out


def test_the_engine_keeps_the_events(both):
    dataset, tables, _ = both
    events = tables.small["offer_events"]
    assert not isinstance(events, pd.DataFrame)
    assert EVENT_ROW in events.columns and len(dataset.offer_events) > 1000


def test_event_kinds_equal_pandas(both):
    dataset, tables, _ = both
    events, frame = tables.small["offer_events"], dataset.offer_events
    middle = frame["timestamp"].sort_values().iloc[len(frame) // 2]
    for before in (None, middle, frame["timestamp"].min()):
        assert event_kinds(events, before) == event_kinds(frame, before), before
    assert {"sent", "redeemed", "holdout"} <= event_kinds(events)
    assert event_kinds(events, frame["timestamp"].min()) == set()
    assert control_group_reason(events) is None
    first_send = frame.loc[frame["event"] == "sent", "timestamp"].min()
    with pytest.raises(Exception, match="no 'sent' event|no 'holdout' event"):
        check_experiment_events(events, first_send)


@pytest.mark.parametrize("kinds", [("sent",), ("sent", "holdout"), ("redeemed",)])
def test_members_with_events_equal_pandas(both, kinds):
    dataset, tables, _ = both
    frame = dataset.offer_events
    for as_of in (frame["timestamp"].sort_values().iloc[len(frame) // 3],
                  frame["timestamp"].max() + pd.Timedelta(1, "s")):
        got_ids, got_n = members_with_events(tables.small["offer_events"], as_of, kinds)
        want_ids, want_n = members_with_events(frame, as_of, kinds)
        pd.testing.assert_index_equal(got_ids, want_ids)
        assert got_n == want_n > 0


def test_a_samples_events_come_in_the_pandas_order(both):
    dataset, tables, fetches = both
    senders, _ = members_with_events(dataset.offer_events, pd.Timestamp.max, ("sent",))
    ids = senders[::5]
    done = len(fetches)
    got = events_of(tables.small["offer_events"], ids)
    want = events_of(dataset.offer_events, ids)
    assert fetches[done:] == [len(want)] and 0 < len(want) < len(dataset.offer_events) / 3
    assert want["timestamp"].duplicated().any()  # ties: only the file order decides them
    pd.testing.assert_frame_equal(as_text(got), as_text(want))


def test_fetched_events_follow_the_file_row_not_the_engines_scan(both):
    """An engine scans and joins in parallel, in no fixed order: the rows stored in
    another order than the file's come back in the file's (EVENT_ROW) all the same."""
    dataset, tables, _ = both
    stored = tables.small["offer_events"].to_pyarrow().to_pandas()  # a small test set
    shuffled = register_frame(tables.con, "shuffled_events",
                              stored.sample(frac=1.0, random_state=3, ignore_index=True))
    ids = dataset.members["member_id"].astype(str)[::4]
    want = events_of(dataset.offer_events, ids)
    pd.testing.assert_frame_equal(as_text(frames.events_frame(shuffled, ids)), as_text(want))


def test_offer_specs_equal_pandas(both):
    dataset, tables, _ = both
    source = MemberSource(tables.small["offer_events"], tables.small["offers"],
                          tables.member_dataset)
    pd.testing.assert_frame_equal(offer_specs_from_events(source),
                                  offer_specs_from_events(dataset))
    # No offers table: a campaign side file keyed by campaign_id (the pairs come from events).
    campaigns = sorted(dataset.offer_events["campaign_id"].astype(str).unique())
    extra = pd.DataFrame({"campaign_id": campaigns, "type": "percent_off",
                          "depth": [0.05 * (i % 4 + 1) for i in range(len(campaigns))]})
    bare = MemberSource(source.offer_events, None, source.fetch)
    got = offer_specs_from_events(bare, extra)
    assert (got["type"] == "percent_off").all()
    pd.testing.assert_frame_equal(
        got, offer_specs_from_events(replace(dataset, offers=None), extra))


def test_first_seen_offers_and_pairs_break_ties_by_the_file_order(both):
    """Two offers first sent at the same time: the one earlier in the file comes first,
    as a stable sort of the pandas frame puts it (a bug-guard: ordering by id would not)."""
    _, tables, _ = both
    frame = pd.DataFrame({
        "member_id": ["m1", "m2", "m1", "m3"], "offer_id": ["B", "A", "A", "C"],
        "event": ["sent"] * 4, "ts_us": [5, 5, 3, 1], "campaign_id": ["c2", "c1", "c1", None],
        EVENT_ROW: [0, 1, 2, 3],
    })
    events = register_frame(tables.con, "tie_events", frame)
    pandas = frame.assign(timestamp=pd.to_datetime(frame["ts_us"], unit="us"))
    assert offers_in_first_seen_order(events).tolist() == ["C", "A", "B"]
    ties = register_frame(tables.con, "tie_events_2", frame.assign(ts_us=[5, 5, 5, 5]))
    assert offers_in_first_seen_order(ties).tolist() == ["B", "A", "C"]
    want = pandas.sort_values("timestamp", kind="stable")["offer_id"].drop_duplicates()
    assert offers_in_first_seen_order(events).tolist() == want.tolist()
    pairs = campaign_offers(events)
    assert pairs.to_dict("list") == {"campaign_id": ["c2", "c1"], "offer_id": ["B", "A"]}


def test_the_member_steps_fetch_their_samples_events_only(both):
    """The offer-response and uplift steps' member samples and labelled sends on the
    engine's events: the pandas oracle's, fetching the sampled members' events only."""
    dataset, tables, fetches = both
    as_of = resolve_as_of(dataset.transactions, None)
    engine = MemberSource(tables.small["offer_events"], tables.small["offers"],
                          tables.member_dataset)
    oracle = MemberSource.of_dataset(dataset, rows_from_all=False)
    offers = offer_specs_from_events(oracle)
    done = len(fetches)
    found = []
    for source in (engine, oracle):
        kept, n_total, fraction = _sample_senders(source.offer_events, as_of, 1200, 0)
        sends = label_sends(events_of(source.offer_events, kept), offers, as_of=as_of)
        found.append((kept, n_total, fraction, sends))
    (kept, n_total, fraction, sends), want = found
    pd.testing.assert_index_equal(kept, want[0])
    assert (n_total, fraction) == want[1:3] and fraction < 0.5
    pd.testing.assert_frame_equal(sends, want[3])
    assert sends["redeemed"].any() and len(sends) < n_total
    chosen = _experiment_members(engine, as_of, max_members=60)
    oracle_chosen = _experiment_members(oracle, as_of, max_members=60)
    pd.testing.assert_frame_equal(as_text(chosen.offer_events),
                                  as_text(oracle_chosen.offer_events))
    assert sorted(chosen.members["member_id"]) == sorted(oracle_chosen.members["member_id"])
    assert 30 < chosen.members["member_id"].nunique() < 120  # about 60 members
    assert len(fetches) > done and max(fetches[done:]) < len(dataset.offer_events) / 2

"""The member table's list columns built as Arrow lists (training/member_table.py,
training/member_scoring.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.errors import ArtifactError
from models.lifecycle import ReasonLists
from models.recommenders.category import category_lists
from training.artifacts import schema
from training.member_scoring import reason_columns
from training.member_table import member_lists


def _found() -> ReasonLists:
    # three buyers: two reasons, none, three
    return ReasonLists(
        offsets=np.array([0, 2, 2, 5]),
        code_index=np.array([1, 0, 2, 0, 1]),
        vocabulary=("RECENCY_HIGH", "LOW_SPEND", "NARROW_RANGE"),
        impacts=np.array([0.3, 0.1, 0.2, 0.2, 0.05]),
        texts=np.array(["spends less", "no purchase", "narrow", "late", "less"], dtype=object),
    )


def test_reasons_land_on_their_buyers_and_everyone_else_gets_an_empty_list():
    buyers = np.array([False, True, True, False, True])
    codes, texts = reason_columns(_found(), buyers)
    assert codes.type == texts.type == pa.list_(pa.string()) and codes.null_count == 0
    assert codes.to_pylist() == [[], ["LOW_SPEND", "RECENCY_HIGH"], [], [],
                                 ["NARROW_RANGE", "RECENCY_HIGH", "LOW_SPEND"]]
    assert texts.to_pylist() == [[], ["spends less", "no purchase"], [], [],
                                 ["narrow", "late", "less"]]


def test_no_reasons_at_all_gives_empty_lists():
    codes, texts = reason_columns(None, np.array([True, False]))
    assert codes.to_pylist() == texts.to_pylist() == [[], []]


@pytest.mark.parametrize("form", ["python", "codes"])
def test_lists_are_aligned_by_member_id_with_empty_lists_for_the_missing(form):
    """Python lists (a stand-in) or the recommender's category codes as Arrow lists."""
    if form == "python":
        lists = np.empty(3, dtype=object)
        lists[:] = [["milk", "bread"], [], ["tea"]]
    else:
        lists = category_lists(np.array([[0, 1], [-1, -1], [2, -1]]),
                               np.array(["milk", "bread", "tea"]))
    got = member_lists(lists, np.array(["a", "b", "c"]), pd.Index(["c", "x", "a", "b"]))
    assert list(got.index) == ["c", "x", "a", "b"]
    assert [list(v) for v in got.tolist()] == [["tea"], [], ["milk", "bread"], []]
    assert str(got.dtype) == "list<item: string>[pyarrow]"


def test_arrow_lists_conform_as_python_lists_do():
    lists = [["RECENCY_HIGH", "LOW_SPEND"], [], ["NARROW_RANGE"]]
    arrow = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(lists, pa.list_(pa.string()))))
    with_nulls = pd.Series(pd.arrays.ArrowExtensionArray(
        pa.array([["a"], None, []], pa.list_(pa.string()))))
    python = pd.Series(lists, dtype=object)
    frame = {"member_id": ["1", "2", "3"]}
    a = schema.conform_members(pd.DataFrame({**frame, "churn_reasons": arrow}), partial=True)
    b = schema.conform_members(pd.DataFrame({**frame, "churn_reasons": python}), partial=True)
    pd.testing.assert_frame_equal(a, b)
    assert schema.members_to_arrow(a).equals(schema.members_to_arrow(b))
    c = schema.conform_members(pd.DataFrame({**frame, "churn_reasons": with_nulls}),
                               partial=True)
    assert [list(v) for v in c["churn_reasons"]] == [["a"], [], []]


def test_arrow_lists_of_numbers_are_refused_as_python_ones_are():
    numbers = pd.Series(pd.arrays.ArrowExtensionArray(pa.array([[1], []], pa.list_(pa.int64()))))
    with pytest.raises(ArtifactError, match="'churn_reasons' does not fit kind 'list'"):
        schema.conform_members(pd.DataFrame({"member_id": ["1", "2"], "churn_reasons": numbers}),
                               partial=True)


def test_buyers_scored_in_chunks_give_the_table_scored_at_once(trained_run, monkeypatch):
    import training.member_scoring as member_scoring
    import training.member_table as member_table

    run = trained_run
    buyers = int((run.member_features["frequency"] > 0).sum())
    assert buyers > 100 and run.churn is not None
    monkeypatch.setattr(member_scoring, "CHUNK_ROWS", 10 ** 9)
    whole = member_table.member_table(run)
    monkeypatch.setattr(member_scoring, "CHUNK_ROWS", 7)  # ragged: the last chunk is short
    chunked = member_table.member_table(run)
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked["churn_reasons"].map(len).sum() > 0
    # What the pipeline stored (it predicts under one BLAS thread: equal to float rounding).
    pd.testing.assert_frame_equal(chunked, run.members)
    # The run keeps its lists in Arrow: no Python object per member and reason (1M members).
    assert all(isinstance(run.members[c].dtype, pd.ArrowDtype)
               for c in ("top_categories", "churn_reason_codes", "churn_reasons"))


def test_arrow_list_columns_write_the_same_table_as_object_ones(trained_run):
    run = trained_run
    as_objects = schema.conform_members(run.members)
    assert as_objects["churn_reasons"].dtype == object
    as_arrow = schema.conform_members(as_objects, arrow_lists=True)
    assert isinstance(as_arrow["churn_reasons"].dtype, pd.ArrowDtype)
    assert schema.members_to_arrow(as_arrow).equals(schema.members_to_arrow(as_objects))
    pd.testing.assert_frame_equal(schema.conform_members(as_arrow), as_objects)

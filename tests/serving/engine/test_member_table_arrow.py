"""The member table built from Arrow (what the server loads) equals the one built from pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.errors import DataError
from serving.engine.bundle import _category_codes
from serving.engine.list_column import tuples_from_arrow
from serving.engine.member_table import MemberTable
from training import artifacts
from training.artifacts import schema


def assert_same_table(a: MemberTable, b: MemberTable) -> None:
    assert a.ids.tolist() == b.ids.tolist()
    assert a.numeric.keys() == b.numeric.keys()
    for name in a.numeric:
        np.testing.assert_array_equal(a.numeric[name], b.numeric[name], err_msg=name)
        assert a.numeric[name].dtype == b.numeric[name].dtype == np.float64
    assert a.names == b.names
    for name in a.codes:
        np.testing.assert_array_equal(a.codes[name], b.codes[name], err_msg=name)
        assert a.codes[name].dtype == b.codes[name].dtype == np.int32
    for name in a.text:
        assert a.text[name].tolist() == b.text[name].tolist(), name
    for name in a.consent:
        np.testing.assert_array_equal(a.consent[name], b.consent[name], err_msg=name)
    np.testing.assert_array_equal(a.cluster, b.cluster)
    for name in a.lists:
        assert a.lists[name].tolist() == b.lists[name].tolist(), name


def test_a_trained_version_reads_the_same_from_arrow_as_from_pandas(trained_artifacts):
    opened = artifacts.open_version(trained_artifacts[0], trained_artifacts[1])
    from_arrow = MemberTable.from_arrow(artifacts.read_members_table(opened))
    from_pandas = MemberTable.from_frame(artifacts.read_members(opened))
    assert len(from_arrow) > 100
    assert sum(len(v) for v in from_arrow.lists["churn_reason_codes"]) > 0
    assert_same_table(from_arrow, from_pandas)


@pytest.fixture()
def odd_frame() -> pd.DataFrame:
    """Nulls and empty strings where a table may hold them."""
    frame = schema.conform_members(pd.DataFrame({
        "member_id": ["m1", "m2", "m3", "m4"],
        "segment": ["Loyal", None, "", "At risk"],
        "tier": [None, None, None, None],
        "churn_risk": [0.25, np.nan, 0.5, 1.0],
        "r_score": [1, 2, 3, 4],
        "top_category": ["wine", None, "", "bread"],
        "email_opt_in": [True, False, None, True],
        "cluster": [0, 1, 1, 2],
    }), partial=True)
    frame["churn_reason_codes"] = [("late", "fewer"), (), None, ("late",)]
    frame["churn_reasons"] = [("Late.", "Fewer."), (), None, ("Late.",)]
    frame["top_categories"] = [("wine", "bread"), ("bread",), (), None]
    return frame


def test_nulls_empty_strings_and_empty_lists_read_alike(odd_frame):
    table = pa.Table.from_pandas(odd_frame, preserve_index=False)
    from_arrow = MemberTable.from_arrow(table)
    assert_same_table(from_arrow, MemberTable.from_frame(odd_frame))
    assert from_arrow.names["segment"] == ("At risk", "Loyal")
    assert from_arrow.codes["segment"].tolist() == [1, -1, -1, 0]
    assert from_arrow.names["tier"] == () and (from_arrow.codes["tier"] == -1).all()
    assert from_arrow.consent["email_opt_in"].tolist() == [1, 0, -1, 1]
    assert from_arrow.lists["churn_reason_codes"][2] == ()
    assert from_arrow.lists["top_categories"][0] == ("wine", "bread")


def test_repeated_ids_and_missing_columns_are_refused_from_arrow(odd_frame):
    repeated = pa.Table.from_pandas(odd_frame.assign(member_id=["a", "b", "a", "c"]),
                                    preserve_index=False)
    with pytest.raises(DataError, match="repeats member ids"):
        MemberTable.from_arrow(repeated)
    lacking = pa.Table.from_pandas(odd_frame.drop(columns="churn_risk"), preserve_index=False)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['churn_risk'\]"):
        MemberTable.from_arrow(lacking)


def test_list_cells_become_shared_tuples_of_str():
    rows = [("a", "b"), (), ("c",), ("a", "b"), (), ("b", "a"), ("a", "b", "c")]
    cells = tuples_from_arrow(pa.chunked_array([
        pa.array(rows[:3], type=pa.list_(pa.string())),
        pa.array(rows[3:], type=pa.list_(pa.string()))]))
    assert cells.dtype == object and cells.shape == (7,) and cells.tolist() == rows
    assert all(isinstance(c, tuple) for c in cells)
    assert cells[0] is cells[3] and cells[1] is cells[4]  # equal lists: one tuple
    assert cells[0] is not cells[5]  # order matters
    large = tuples_from_arrow(pa.array(rows, type=pa.large_list(pa.large_string())))
    assert large.tolist() == rows  # what pandas may write


def test_null_lists_read_as_empty_and_null_words_are_dropped():
    cells = tuples_from_arrow(pa.chunked_array([
        pa.array([["a", None, "b"], None], type=pa.list_(pa.string())),
        pa.array([[None], ["c"], []], type=pa.list_(pa.string()))]))
    assert cells.tolist() == [("a", "b"), (), (), ("c",), ()]
    empty = tuples_from_arrow(pa.chunked_array([], type=pa.list_(pa.string())))
    assert empty.shape == (0,) and empty.dtype == object


def test_category_codes_of_repeated_lists_equal_those_of_distinct_ones():
    categories = np.array(sorted(["bread", "fruit; veg", "wine, beer", "wine"]))
    rows = [("wine, beer", "bread", "fruit; veg", "wine"), (), ("nope", "wine"), ("bread",)]
    once = _category_codes(schema.list_column(rows), categories)
    repeated = _category_codes(schema.list_column(rows * 3 + rows[::-1]), categories)
    np.testing.assert_array_equal(repeated, np.concatenate([once] * 3 + [once[::-1]]))
    assert once[0].tolist() == [categories.tolist().index(c) for c in rows[0][:3]]
    assert once[1].tolist() == [-1, -1, -1] and once[2].tolist() == [
        categories.tolist().index("wine"), -1, -1]


def test_long_lists_of_a_large_vocabulary_are_told_apart():
    # Seven words of a thousand do not fit one 63-bit key: the rows are compared as bytes.
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(1000)]
    rows = [tuple(words[i] for i in rng.choice(1000, size=7, replace=False)) for _ in range(50)]
    rows += rows[:10] + [rows[0][:6], ()]
    cells = tuples_from_arrow(pa.array(rows, type=pa.list_(pa.string())))
    assert cells.tolist() == rows
    assert cells[50] is cells[0] and cells[60] is not cells[0]


def test_best_item_per_member_equals_the_sorted_pick():
    from serving.engine.member_context import best_per_owner

    rng = np.random.default_rng(5)
    owner = np.sort(rng.integers(0, 300, size=5_000))
    cols = rng.integers(0, 40, size=5_000)
    scores = rng.integers(0, 4, size=5_000).astype(np.float32)  # many ties
    order = np.lexsort((cols, -scores, owner))  # the rule: highest score, then smallest column
    o, c = owner[order], cols[order]
    first = np.r_[True, o[1:] != o[:-1]]
    got_owner, got_col = best_per_owner(owner, cols, scores)
    np.testing.assert_array_equal(got_owner, o[first])
    np.testing.assert_array_equal(got_col, c[first])

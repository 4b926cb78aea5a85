"""The response rows' member-feature blocks stacked one at a time equal ``pd.concat`` of them
(issue 11: the stacked copy beside every block was the uplift fit's peak)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.offer_response.stacking import stack_blocks


def _block(labels, seed, columns=None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(labels)
    frame = pd.DataFrame({
        "m__spend": rng.random(n),
        "m__count": rng.integers(0, 9, n),
        "m__flag": rng.random(n) < 0.5,
        "m__opt_in": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
        "m__top": pd.array(rng.choice(["a", "b", None], n), dtype="str"),
        "m__tier": pd.array(rng.choice(["x", None], n), dtype="string"),
    }, index=labels)
    frame.loc[frame.index[::3], "m__spend"] = np.nan
    return frame if columns is None else frame[columns]


def _case(n=40, parts=4, seed=0):
    index = pd.Index([f"r{i}" for i in np.random.default_rng(seed).permutation(n)])
    order = np.random.default_rng(seed + 1).permutation(n)  # blocks interleave the rows
    return index, np.array_split(order, parts)


def _expected(blocks, index):
    return pd.concat([b for _, b in blocks], sort=False).reindex(index)


def test_same_frame_as_concat_when_the_blocks_agree():
    index, split = _case()
    blocks = [(p, _block(index[p], k)) for k, p in enumerate(split)]
    got = stack_blocks(iter(blocks), index)
    pd.testing.assert_frame_equal(got, _expected(blocks, index), check_exact=True)
    assert got["m__spend"].isna().any() and got["m__opt_in"].isna().any()


def test_columns_in_another_order_are_aligned_by_name_as_concat_does():
    index, split = _case(parts=3)
    blocks = [(p, _block(index[p], k)) for k, p in enumerate(split)]
    p, b = blocks[1]
    blocks[1] = (p, b[list(b.columns[::-1])])
    got = stack_blocks(iter(blocks), index)
    pd.testing.assert_frame_equal(got, _expected(blocks, index), check_exact=True)
    assert list(got.columns) == list(blocks[0][1].columns)


@pytest.mark.parametrize("change", ["columns", "dtype", "late", "repeated"])
def test_blocks_that_differ_fall_back_to_concat(change):
    index, split = _case(parts=3)
    blocks = [(p, _block(index[p], k)) for k, p in enumerate(split)]
    p, b = blocks[1 if change != "late" else 2]
    if change == "columns":  # concat adds the column, missing in the other blocks
        b = b.assign(m__extra=1.5)
    elif change == "repeated":  # a repeated name: concat's answer (or refusal) stands
        b = b.rename(columns={"m__count": "m__spend"})
    else:  # concat widens int to float
        b = b.astype({"m__count": float})
    blocks[1 if change != "late" else 2] = (p, b)
    try:
        want = _expected(blocks, index)
    except Exception as exc:  # noqa: BLE001 (a repeated name: concat's refusal stands)
        with pytest.raises(type(exc)):
            stack_blocks(iter(blocks), index)
        return
    pd.testing.assert_frame_equal(stack_blocks(iter(blocks), index), want, check_exact=True)


def test_rows_in_no_block_are_missing_as_reindex_makes_them():
    index, split = _case()
    blocks = [(p, _block(index[p], k)) for k, p in enumerate(split[:-1])]
    pd.testing.assert_frame_equal(stack_blocks(iter(blocks), index), _expected(blocks, index),
                                  check_exact=True)


def test_numpy_columns_only_and_no_block():
    index, split = _case()
    blocks = [(p, _block(index[p], k, ["m__spend", "m__count"])) for k, p in enumerate(split)]
    pd.testing.assert_frame_equal(stack_blocks(iter(blocks), index), _expected(blocks, index),
                                  check_exact=True)
    empty = stack_blocks(iter([]), index)
    assert empty.index.equals(index) and empty.shape == (len(index), 0)




def test_repeated_row_labels_give_what_concat_gives():
    """Rows sharing a label (sends with a repeated index) go to ``pd.concat(...).reindex``,
    as before the stacking: the same frame when the blocks come in the rows' order, the
    same refusal when they do not."""
    index = pd.Index(["r0", "r1", "r0", "r2"])
    numeric = ["m__spend", "m__count", "m__flag"]  # only the columns written in place
    blocks = [(np.array([0, 1]), _block(index[:2], 0, numeric)),
              (np.array([2, 3]), _block(index[2:], 1, numeric))]
    want = pd.concat([b for _, b in blocks], sort=False).reindex(index)
    pd.testing.assert_frame_equal(stack_blocks(iter(blocks), index), want)
    with pytest.raises(ValueError, match="duplicate labels"):
        pd.concat([b for _, b in blocks[::-1]], sort=False).reindex(index)
    with pytest.raises(ValueError, match="duplicate labels"):
        stack_blocks(iter(blocks[::-1]), index)
    assert stack_blocks(iter([]), index).index.equals(index)

"""Arrow list<string> columns as object arrays of shared tuples of str.

The member table's list columns (churn reason codes and texts, top
categories) hold a few words from a vocabulary of a few dozen per member, so
a million members have only thousands of distinct lists. Converting each
cell to Python objects (pandas' way) makes three million strings and a million
tuples per column, takes seconds, and every forked worker copies the pages
whose reference counts a read touches. :func:`tuples_from_arrow` finds the
distinct lists with Arrow and numpy, builds one tuple for each, and returns an
object array whose cells point to those shared tuples: a row still reads as a
tuple of str (one array lookup), and the table's cost is one pointer a row.

Imports: numpy, pandas and pyarrow only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def tuples_from_arrow(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """(n,) object array of tuples of str; null lists read as (), null words are dropped."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    n = len(column)
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    words = pc.list_flatten(column)  # the words of the non-null lists, in row order
    rows = np.repeat(np.arange(n), lengths)
    keep = pc.is_valid(words).to_numpy(zero_copy_only=False)
    if not keep.all():
        words, rows = words.filter(pa.array(keep)), rows[keep]
        lengths = np.bincount(rows, minlength=n)
    vocabulary = pc.unique(words)
    codes = pc.index_in(words, value_set=vocabulary).to_numpy(zero_copy_only=False)
    # Each row as a fixed-width row of codes (-1 pads), then one number per row when the
    # rows fit in 63 bits (hashing those is far quicker than sorting rows), else row bytes.
    width = max(int(lengths.max()) if n else 0, 1)
    grid = np.full((n, width), -1, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)[:n]
    grid[rows, np.arange(len(rows)) - starts[rows]] = codes
    base = len(vocabulary) + 1
    if width * np.log2(base) < 63:
        keys = (grid + 1) @ (base ** np.arange(width, dtype=np.int64))
    else:
        keys = np.ascontiguousarray(grid).view(f"V{8 * width}").reshape(-1)
    inverse, first = _factorize(keys)
    names = [str(v) for v in vocabulary.to_pylist()]
    shared = np.empty(len(first), dtype=object)
    shared[:] = [tuple(names[c] for c in row if c >= 0) for row in grid[first].tolist()]
    return shared[inverse]


def _factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``keys`` (in order of first appearance) and the row where each first appears."""
    if keys.dtype.kind == "V":  # wide rows: numpy's sort of the raw bytes
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return inverse.reshape(-1), first
    inverse, _ = pd.factorize(keys)
    # Codes count up in order of first appearance: a row is a first when its code is new.
    seen = np.maximum.accumulate(np.r_[-1, inverse[:-1]]) if len(keys) else inverse
    return inverse, np.flatnonzero(inverse > seen)

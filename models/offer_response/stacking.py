"""Stack the per-cutoff member-feature blocks of the response rows, one block at a time.

:func:`models.offer_response.rows.response_features` builds the member features
of the rows one cutoff at a time: each cutoff's frame, reindexed to the rows
sent then, is a *block*. ``pd.concat(blocks).reindex(index)`` stacks them, but
holds every block and the stacked copy at once: twice the rows' member
features (about 2 x 330 MB for the uplift rows of a 50,000-member sample, the
uplift fit's peak). :func:`stack_blocks` writes each block into columns made
for every row as the block comes, so a block is freed once written, and gives
the same frame: same columns, dtypes, values and index (tests compare it with
``pd.concat``). The blocks may order their columns differently (the category
shares come largest first at each cutoff); when they differ in columns or
dtypes (``pd.concat`` would then add or widen columns), it falls back to
``pd.concat``.

Imports: :mod:`pandas` and :mod:`numpy` only.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def stack_blocks(blocks: Iterable[tuple[np.ndarray, pd.DataFrame]], index: pd.Index
                 ) -> pd.DataFrame:
    """``pd.concat`` of the blocks (``sort=False``), reindexed to ``index``.

    Parameters
    ----------
    blocks : iterable of (positions, DataFrame)
        Each block's rows are ``index[positions]``, in the block's order (its own
        index labels are those). Every position of ``index`` is in at most one block.
    index : Index
        The rows of the result. With repeated labels: ``pd.concat(...).reindex(index)``
        itself (one column per row cannot tell two rows of a label apart).

    Returns
    -------
    DataFrame
        Indexed by ``index``; rows in no block are missing values, as ``reindex`` makes them.
    """
    if index.has_duplicates:
        parts = [block for _, block in blocks]
        return (pd.concat(parts, sort=False).reindex(index) if parts
                else pd.DataFrame(index=index))
    first = None
    filled: dict[str, np.ndarray] = {}  # numpy-typed columns, every row
    others: list[pd.DataFrame] = []  # extension-typed (strings, nullable booleans) parts
    seen = np.zeros(len(index), dtype=bool)
    written: list[np.ndarray] = []
    pending: list[pd.DataFrame] = []  # the blocks, once they differ: pd.concat
    for positions, block in blocks:
        if first is None:
            first = block.iloc[:0]
            if not first.columns.is_unique:  # pd.concat refuses them too
                return pd.concat([block, *(b for _, b in blocks)], sort=False).reindex(index)
            for column, dtype in first.dtypes.items():
                if isinstance(dtype, np.dtype):
                    filled[column] = np.empty(len(index), dtype=dtype)
            extension = [c for c in first.columns if c not in filled]
        if pending or not _same_columns(block, first):
            if not pending:
                pending = _written_blocks(first, filled, others, written, index)
            pending.append(block)
            continue
        for column in filled:
            filled[column][positions] = block[column].to_numpy()
        if extension:
            others.append(block[extension].copy())  # a copy: a view kept the whole block
        written.append(positions)
        seen[positions] = True
    if first is None:
        return pd.DataFrame(index=index)
    if pending:
        return pd.concat(pending, sort=False).reindex(index)
    if not seen.all():  # rows in no block: missing, as reindex makes them
        return pd.concat(_written_blocks(first, filled, others, written, index),
                         sort=False).reindex(index)
    rest = pd.concat(others, sort=False).reindex(index) if extension else None
    columns = {c: (filled[c] if c in filled else rest[c]) for c in first.columns}
    out = pd.DataFrame(columns, index=index, copy=False)
    out.columns = first.columns
    return out


def _same_columns(block: pd.DataFrame, first: pd.DataFrame) -> bool:
    """Whether ``block`` has the columns of ``first`` with the same dtypes, in any order
    (``pd.concat`` aligns them by name and keeps the first block's order)."""
    columns = block.columns
    return (columns.is_unique and len(columns) == len(first.columns)
            and bool(columns.isin(first.columns).all())
            and block.dtypes[first.columns].equals(first.dtypes))


def _written_blocks(first: pd.DataFrame, filled: dict, others: list, written: list,
                    index: pd.Index) -> list[pd.DataFrame]:
    """The blocks already written, as they came (for ``pd.concat``)."""
    blocks = []
    for positions, extension in zip(written, others or [None] * len(written)):
        part = {c: (filled[c][positions] if c in filled else extension[c])
                for c in first.columns}
        block = pd.DataFrame(part, index=index[positions])
        block.columns = first.columns
        blocks.append(block.astype(first.dtypes.to_dict()))
    return blocks

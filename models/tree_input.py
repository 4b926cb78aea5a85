"""The feature matrix histogram boosting predicts fastest on: stored column after column.

The churn, value and uplift models predict through :func:`by_columns`, and
:func:`models.lifecycle.tabular.to_matrix` builds its matrices that way from
the start. (The offer-response model does not: its member table prediction is
about 2 s at 1M members, less than a column-major copy's memory is worth.)

Imports: numpy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["by_columns"]


def by_columns(X) -> np.ndarray:
    """``X`` as a float, column-major (Fortran-ordered) matrix: how the trees predict fastest.

    A tree reads one feature of every row at a node; in a row-major matrix of
    many rows those reads jump a whole row apart and miss the cache, so
    ``predict`` on 100,000 rows ran 3-4 times slower than on the same matrix
    by columns (same answers). No copy when ``X`` already is, or when each of its
    columns is (a slice of rows of such a matrix).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 2 and X.strides[0] == X.itemsize:
        return X
    return np.asfortranarray(X)

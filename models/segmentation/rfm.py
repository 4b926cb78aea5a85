"""RFM scores and the named RFM segments marketers use.

:class:`RFMSegmenter` learns quintile edges of recency, frequency and monetary
value from a member feature frame (one row per member, see
:func:`features.member_features.build_member_features`) and maps every member
to scores 1..5 and to one of the named segments of :data:`SEGMENTS`.

Scores
------
A score is the quintile of a member's mid-rank among the members who bought
something in the frame ``fit`` saw: with ``F(v) = (#{x < v} + #{x == v} / 2) / n``
the score is ``ceil(5 * F(v))`` clipped to 1..5. Equal values always get the
same score (ties are never broken by row order) and, without ties, scores are
exact quintiles. Recency is scored on ``-recency_days``: the most recent
buyers score 5. ``fit`` stores, per score, the least good value that still
earns it (:attr:`RFMSegmenter.edges_`), and ``transform`` scores any frame
against those edges, so a new member's scores are comparable with the
population the segmenter was fitted on.

Segments
--------
The segment is read from the grid of the recency score ``R`` against
``FM = round_half_up((F + M) / 2)``, the widely used R x F segment map with
``FM`` in place of ``F`` and its bottom corner split off as "Lost":

======  ==============  ==================  ==================  ===========  ===========
R \\ FM  1               2                   3                   4            5
======  ==============  ==================  ==================  ===========  ===========
5       New             Potential loyalist  Potential loyalist  Champions    Champions
4       Promising       Potential loyalist  Potential loyalist  Loyal        Loyal
3       About to sleep  About to sleep      Need attention      Loyal        Loyal
2       Hibernating     Hibernating         At risk             At risk      Can't lose
1       Lost            Hibernating         At risk             At risk      Can't lose
======  ==============  ==================  ==================  ===========  ===========

Members without a purchase (``frequency == 0``) are not scored: their scores
are 0, their ``rfm_score`` is ``"000"`` and their segment is "New" when they
joined less than ``new_member_days`` ago (``tenure_days``, when the frame has
it) and "No purchases" otherwise.

>>> import pandas as pd
>>> X = pd.DataFrame({"recency_days": [1, 10, 40, 90, 200],
...                   "frequency": [30, 12, 5, 2, 1],
...                   "monetary_total": [900.0, 400.0, 150.0, 40.0, 9.0]})
>>> RFMSegmenter().fit_transform(X)["segment"].tolist()
['Champions', 'Loyal', 'Need attention', 'Hibernating', 'Lost']
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.errors import DataError, NotFittedError

logger = logging.getLogger(__name__)

#: Every segment :meth:`RFMSegmenter.transform` can return, best first.
SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose",
    "Hibernating",
    "Lost",
    "No purchases",
)

#: ``SEGMENT_GRID[r - 1][fm - 1]`` is the segment of recency score ``r`` and FM score ``fm``.
SEGMENT_GRID: tuple[tuple[str, ...], ...] = (
    ("Lost", "Hibernating", "At risk", "At risk", "Can't lose"),  # R = 1
    ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose"),  # R = 2
    ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),  # R = 3
    ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"),  # R = 4
    ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),  # R = 5
)

#: Columns :meth:`RFMSegmenter.fit` needs, and the score each becomes.
RFM_COLUMNS: dict[str, str] = {
    "recency_days": "r_score",
    "frequency": "f_score",
    "monetary_total": "m_score",
}
N_SCORES = 5
MIN_SAMPLES = 5


def segment_of(r: int, fm: int) -> str:
    """The named segment of recency score ``r`` and FM score ``fm`` (both 1..5).

    >>> segment_of(5, 5), segment_of(1, 5), segment_of(1, 1)
    ('Champions', "Can't lose", 'Lost')
    """
    if not (1 <= r <= N_SCORES and 1 <= fm <= N_SCORES):
        raise DataError(f"scores r={r}, fm={fm} should both be between 1 and {N_SCORES}.")
    return SEGMENT_GRID[r - 1][fm - 1]


def fm_score(f_score: np.ndarray, m_score: np.ndarray) -> np.ndarray:
    """``round_half_up((f + m) / 2)``: the FM score of the segment grid."""
    return (np.asarray(f_score, dtype=np.int64) + np.asarray(m_score, dtype=np.int64) + 1) // 2


def check_columns(X, required, what: str) -> pd.DataFrame:
    """Check ``X`` is a DataFrame holding ``required`` numeric columns; return it.

    Raises
    ------
    DataError
        Naming every missing or non-numeric column.
    """
    if not isinstance(X, pd.DataFrame):
        raise DataError(
            f"{what} expects a pandas DataFrame of member features, got {type(X).__name__}."
        )
    missing = [c for c in required if c not in X.columns]
    if missing:
        raise DataError(
            f"{what}: the member feature frame lacks column(s) {missing}; build it with "
            "features.member_features.build_member_features."
        )
    bad = [c for c in required if not pd.api.types.is_numeric_dtype(X[c])]
    if bad:
        raise DataError(f"{what}: column(s) {bad} should be numeric.")
    return X


def _mid_rank_scores(values: np.ndarray) -> np.ndarray:
    """Scores 1..5 from mid-rank quintiles of ``values`` (1-d, no NaN); higher is better."""
    n = len(values)
    ranks = pd.Series(values).rank(method="average").to_numpy()  # 1..n, ties averaged
    mid = (ranks - 0.5) / n  # (#less + #equal / 2) / n
    return np.clip(np.ceil(N_SCORES * mid - 1e-9), 1, N_SCORES).astype(np.int64)


def _edges(values: np.ndarray) -> np.ndarray:
    """Least value earning each score 2..5 (``inf`` when none does); higher is better."""
    scores = _mid_rank_scores(values)
    edges = np.full(N_SCORES - 1, np.inf)
    for s in range(2, N_SCORES + 1):
        earned = values[scores >= s]
        if len(earned):
            edges[s - 2] = earned.min()
    return edges


class RFMSegmenter:
    """Recency, frequency and monetary scores 1..5 and named RFM segments.

    See the module docstring for the scoring rule and the segment grid.

    Parameters
    ----------
    new_member_days : float, default 90
        Members without a purchase whose ``tenure_days`` is below this are
        "New"; the others are "No purchases".

    Attributes
    ----------
    edges_ : DataFrame, shape (4, 3)
        Index: scores 2..5; columns: ``recency_days``, ``frequency``,
        ``monetary_total``. For frequency and monetary, the least value that
        earns the score; for recency, the most days since the last purchase
        that still earn it (``inf``/``-inf``: no value earns it).
    n_samples_fit_ : int
        Members with a purchase the edges were learned from.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"recency_days": [3, 8, 20, 45, 100],
    ...                   "frequency": [1, 2, 3, 4, 5],
    ...                   "monetary_total": [10.0, 20.0, 30.0, 40.0, 50.0]})
    >>> RFMSegmenter().fit(X).transform(X)["rfm_score"].tolist()
    ['511', '422', '333', '244', '155']
    """

    def __init__(self, new_member_days: float = 90):
        self.new_member_days = new_member_days

    def fit(self, X: pd.DataFrame, y=None) -> RFMSegmenter:
        """Learn the quintile edges from members with at least one purchase.

        Parameters
        ----------
        X : DataFrame, shape (n_members, n_features)
            Member features with ``recency_days``, ``frequency`` and
            ``monetary_total``.
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        DataError
            If columns are missing or non-numeric, a buyer lacks a value, or
            fewer than 5 members have a purchase.
        """
        buyers = self._buyers(check_columns(X, RFM_COLUMNS, "RFMSegmenter.fit"))
        values = X.loc[buyers, list(RFM_COLUMNS)].to_numpy(dtype=np.float64)
        if len(values) < MIN_SAMPLES:
            raise DataError(
                f"n_samples={len(values)} members with a purchase should be >= {MIN_SAMPLES} "
                "to learn quintiles of recency, frequency and monetary value."
            )
        edges = {
            "recency_days": -_edges(-values[:, 0]),
            "frequency": _edges(values[:, 1]),
            "monetary_total": _edges(values[:, 2]),
        }
        self.edges_ = pd.DataFrame(edges, index=pd.Index(range(2, N_SCORES + 1), name="score"))
        self.n_samples_fit_ = len(values)
        logger.info("RFM edges learned from %d buyers", self.n_samples_fit_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Score members against the fitted edges.

        Parameters
        ----------
        X : DataFrame, shape (n_members, n_features)
            Member features with ``recency_days``, ``frequency`` and
            ``monetary_total`` (and optionally ``tenure_days``).

        Returns
        -------
        DataFrame, shape (n_members, 6)
            Indexed like ``X``: ``r_score``, ``f_score``, ``m_score`` (int8,
            1..5, 0 without a purchase), ``fm_score`` (int8), ``rfm_score``
            (str, e.g. ``"545"``) and ``segment`` (str, one of :data:`SEGMENTS`).
        """
        self._check_fitted()
        X = check_columns(X, RFM_COLUMNS, "RFMSegmenter.transform")
        buyers = self._buyers(X)
        edges = self.edges_
        out = pd.DataFrame(index=X.index)
        for column, score in RFM_COLUMNS.items():
            values = X[column].to_numpy(dtype=np.float64)
            if column == "recency_days":
                earned = values[:, None] <= edges[column].to_numpy()[None, :]
            else:
                earned = values[:, None] >= edges[column].to_numpy()[None, :]
            out[score] = np.where(buyers, 1 + earned.sum(axis=1), 0).astype(np.int8)
        fm = np.where(buyers, fm_score(out["f_score"], out["m_score"]), 0).astype(np.int8)
        out["fm_score"] = fm
        out["rfm_score"] = (
            out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
        )
        grid = np.asarray(SEGMENT_GRID, dtype=object)
        r = out["r_score"].to_numpy()
        segment = grid[np.clip(r, 1, N_SCORES) - 1, np.clip(fm, 1, N_SCORES) - 1]
        segment = np.where(buyers, segment, self._non_buyer_segment(X))
        out["segment"] = pd.Series(segment, index=X.index, dtype=str)
        return out

    def fit_transform(self, X: pd.DataFrame, y=None) -> pd.DataFrame:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def _non_buyer_segment(self, X: pd.DataFrame) -> np.ndarray:
        if "tenure_days" not in X.columns:
            return np.full(len(X), "No purchases", dtype=object)
        tenure = pd.to_numeric(X["tenure_days"], errors="coerce").to_numpy(dtype=np.float64)
        recent = np.nan_to_num(tenure, nan=np.inf) < self.new_member_days
        return np.where(recent, "New", "No purchases").astype(object)

    @staticmethod
    def _buyers(X: pd.DataFrame) -> np.ndarray:
        """Mask of members with a purchase; checks they have all three values."""
        frequency = X["frequency"].to_numpy(dtype=np.float64)
        buyers = np.nan_to_num(frequency, nan=0.0) > 0
        values = X.loc[buyers, list(RFM_COLUMNS)]
        incomplete = values.isna().any(axis=1)
        if incomplete.any():
            ids = list(values.index[incomplete][:5])
            raise DataError(
                f"{int(incomplete.sum())} member(s) with purchases lack recency_days or "
                f"monetary_total, e.g. {ids}."
            )
        return buyers

    def _check_fitted(self) -> None:
        if not hasattr(self, "edges_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "a member feature frame before using this method."
            )

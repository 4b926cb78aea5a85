"""Reason codes for churn risk: which behaviours push a member's risk up, in words.

A *driver* is a group of related features (recency, spend trend, ...). Its
impact on a member is how much the predicted risk falls when the group's
features are set to the population's typical values (the medians of the
training data), everything else kept:

    impact = risk(x) - risk(x with the group at the medians)

One prediction per driver over all members, so the cost is
``n_drivers x predict`` and vectorised. A driver is reported for a member when
its impact is positive (at least ``min_impact``) *and* the member's key value
is on the risky side of the median (e.g. recency above it), so the text always
matches the facts it states.

Codes and what they say (``x`` = the member, ``m`` = the median member):

=================  ==================================================================
RECENCY_HIGH       no purchase for N days, k x the usual interval
SPEND_DECLINING    spend down P% vs the period before (``spend_recent`` vs
                   ``spend_earlier``, 90-day windows by default)
LOW_FREQUENCY      fewer visits than similar members (N baskets vs a typical M)
LOW_SPEND          spends less than most members
SHORT_TENURE       shorter history than most members: first purchase N days ago
IRREGULAR_RHYTHM   irregular purchase rhythm
OFFERS_IGNORED     has not been redeeming offers
NARROW_RANGE       buys a narrow range of products
DISCOUNT_DRIVEN    buys mostly on discount
=================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


def _num(frame: pd.DataFrame, col: str) -> pd.Series:
    if col in frame:
        return pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return pd.Series(np.nan, index=frame.index, dtype="float64")


def _int_text(values: pd.Series) -> pd.Series:
    return values.round().astype("Int64").astype("string").fillna("?")


def _recency_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    recency = _num(x, "recency_days")
    usual = _num(x, "interpurchase_mean_days")
    ratio = recency / usual.where(usual > 0)
    text = "no purchase for " + _int_text(recency) + " days"
    with_ratio = text + ", " + ratio.round(1).astype("string") + "x the usual interval"
    typical = text + " (a typical member: " + _int_text(
        pd.Series(ref.get("recency_days", np.nan), index=x.index)) + " days)"
    return with_ratio.where(ratio.notna() & (ratio >= 1), typical).astype("string")


def _spend_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    recent, earlier = _num(x, "spend_recent"), _num(x, "spend_earlier")
    drop = 100 * (1 - recent / earlier.where(earlier > 0))
    text = "spend down " + _int_text(drop) + "% vs the period before"
    return text.where(drop.notna(), "spend falling").astype("string")


def _frequency_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    frequency = _num(x, "frequency")
    typical = _int_text(pd.Series(ref.get("frequency", np.nan), index=x.index))
    noun = pd.Series(" baskets", index=x.index).where(frequency.round() != 1, " basket")
    return ("fewer visits than similar members (" + _int_text(frequency)
            + noun + " vs a typical " + typical + ")").astype("string")


def _spend_level_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    typical = _int_text(pd.Series(ref.get("monetary_total", np.nan), index=x.index))
    return ("spends less than most members (" + _int_text(_num(x, "monetary_total"))
            + " vs a typical " + typical + ")").astype("string")


def _tenure_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    return ("shorter history than most members: first purchase "
            + _int_text(_num(x, "tenure_days")) + " days ago").astype("string")


def _rhythm_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    return ("irregular purchase rhythm (gaps vary by about " + _int_text(
        _num(x, "interpurchase_std_days")) + " days)").astype("string")


def _offers_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    sent, redeemed = _num(x, "offers_sent"), _num(x, "offers_redeemed")
    text = ("redeemed " + _int_text(redeemed.fillna(0)) + " of " + _int_text(sent.fillna(0))
            + " offers")
    return text.where(sent > 0, "has not been redeeming offers").astype("string")


def _range_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    return ("buys a narrow range of products (" + _int_text(_num(x, "n_items_distinct"))
            + " distinct items)").astype("string")


def _discount_text(x: pd.DataFrame, ref: pd.Series) -> pd.Series:
    share = 100 * _num(x, "discount_share")
    return ("buys mostly on discount (" + _int_text(share) + "% discounted)").astype("string")


@dataclass(frozen=True)
class Driver:
    """A group of features that make up one reason code.

    Parameters
    ----------
    code : str
    features : tuple of str
        Set together to the reference values to measure the impact.
    key : str
        The feature whose side of the median decides whether the code applies.
    risky_when : {"above", "below"}
        Which side of the median is the risky one.
    text : callable
        ``(features, reference) -> Series of str``, one text per member.
    quoted : tuple of str
        The member columns ``text`` reads (it is given only those).
    """

    code: str
    features: tuple[str, ...]
    key: str
    risky_when: str
    text: Callable[[pd.DataFrame, pd.Series], pd.Series]
    quoted: tuple[str, ...]


DRIVERS: tuple[Driver, ...] = (
    Driver("RECENCY_HIGH", ("recency_days", "overdue_ratio", "expected_days_to_next"),
           "recency_days", "above", _recency_text, ("recency_days", "interpurchase_mean_days")),
    Driver("SPEND_DECLINING", ("spend_recent", "spend_earlier", "spend_trend"),
           "spend_trend", "below", _spend_text, ("spend_recent", "spend_earlier")),
    Driver("LOW_FREQUENCY", ("frequency", "interpurchase_mean_days", "n_lines"),
           "frequency", "below", _frequency_text, ("frequency",)),
    Driver("LOW_SPEND", ("monetary_total", "monetary_mean_basket"),
           "monetary_total", "below", _spend_level_text, ("monetary_total",)),
    Driver("SHORT_TENURE", ("tenure_days", "first_purchase_days"),
           "tenure_days", "below", _tenure_text, ("tenure_days",)),
    Driver("IRREGULAR_RHYTHM", ("interpurchase_std_days",),
           "interpurchase_std_days", "above", _rhythm_text, ("interpurchase_std_days",)),
    Driver("OFFERS_IGNORED",
           ("offers_sent", "offers_redeemed", "redemption_rate", "days_since_last_redemption"),
           "redemption_rate", "below", _offers_text, ("offers_sent", "offers_redeemed")),
    Driver("NARROW_RANGE", ("n_items_distinct",), "n_items_distinct", "below", _range_text,
           ("n_items_distinct",)),
    Driver("DISCOUNT_DRIVEN", ("discount_share", "coupon_share"),
           "discount_share", "above", _discount_text, ("discount_share",)),
)  # fmt: skip

REASON_COLUMNS = ("member_id", "rank", "code", "impact", "text")


def usable_drivers(feature_names) -> tuple[Driver, ...]:
    """The drivers whose key feature is among ``feature_names``."""
    names = set(feature_names)
    return tuple(d for d in DRIVERS if d.key in names)


def risky_side(x: pd.DataFrame, reference: pd.Series, drivers: tuple[Driver, ...]) -> np.ndarray:
    """Whether each member's key value is on the driver's risky side; shape (n, n_drivers).

    Only such a member can have the driver as a reason, so only their risk
    needs predicting again with the driver at the reference.
    """
    side = np.empty((len(x), len(drivers)), dtype=bool)
    for j, driver in enumerate(drivers):
        value = _num(x, driver.key).to_numpy()
        ref = float(reference[driver.key])
        side[:, j] = value > ref if driver.risky_when == "above" else value < ref
    return side


def driver_impacts(
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    names: list[str],
    reference: np.ndarray,
    drivers: tuple[Driver, ...],
    rows: np.ndarray | None = None,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """Risk minus risk with each driver's features at the reference; shape (n, n_drivers).

    Private helper: ``matrix`` is the model's clean float input, ``reference``
    one value per column of it. ``rows`` (boolean, shape (n, n_drivers)), when
    given, limits each driver to the members it can explain (see
    :func:`risky_side`); the others get NaN and the model is not run for them.
    ``base``, when given, is ``predict(matrix)`` already computed.
    """
    base = predict(matrix) if base is None else base
    col = {name: i for i, name in enumerate(names)}
    impacts = np.full((matrix.shape[0], len(drivers)), np.nan, dtype=np.float64)
    for j, driver in enumerate(drivers):
        take = np.arange(matrix.shape[0]) if rows is None else np.flatnonzero(rows[:, j])
        if take.size == 0:
            continue
        idx = [col[f] for f in driver.features if f in col]
        # The rows taken column by column into a column-major copy: the layout the
        # trees predict fastest on (models.tree_input.by_columns), made in one copy.
        changed = np.empty((take.size, matrix.shape[1]), dtype=np.float64, order="F")
        for c in range(matrix.shape[1]):
            changed[:, c] = reference[c] if c in idx else matrix[take, c]
        impacts[take, j] = base[take] - predict(changed)
    return impacts


@dataclass(frozen=True)
class ReasonLists:
    """Each member's top churn drivers, strongest first, as flat arrays.

    Member ``i``'s reasons (rows in the order of the features given) are the
    entries ``offsets[i]:offsets[i + 1]`` of ``code_index``, ``impacts`` and
    ``texts``; a member without a reason has none.

    Attributes
    ----------
    offsets : ndarray of int64, shape (n + 1,)
    code_index : ndarray of int64, shape (n_reasons,)
        Positions in ``vocabulary``.
    vocabulary : tuple of str
        The codes of the drivers considered, in :data:`DRIVERS` order.
    impacts : ndarray of float64, shape (n_reasons,)
    texts : ndarray of object (str), shape (n_reasons,)
    """

    offsets: np.ndarray
    code_index: np.ndarray
    vocabulary: tuple[str, ...]
    impacts: np.ndarray
    texts: np.ndarray

    @property
    def codes(self) -> np.ndarray:
        """The code of each reason, object array of str, shape (n_reasons,)."""
        return np.asarray(self.vocabulary, dtype=object)[self.code_index]

    @property
    def rank(self) -> np.ndarray:
        """1 for a member's strongest reason, 2 for the next, ...; shape (n_reasons,)."""
        counts = np.diff(self.offsets)
        return (np.arange(self.offsets[-1]) - np.repeat(self.offsets[:-1], counts) + 1)

    @property
    def rows(self) -> np.ndarray:
        """The member row of each reason, shape (n_reasons,)."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))


def top_reasons(impacts: np.ndarray, eligible: np.ndarray,
                top: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``top`` strongest eligible drivers, strongest first (ties: driver order).

    Private helper. Returns ``offsets`` (n + 1,) and ``cols`` (the driver of
    each reason, row-major in rank order), as :class:`ReasonLists` holds them.
    """
    n = impacts.shape[0]
    score = np.where(eligible, impacts, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")[:, :top]
    chosen = np.isfinite(np.take_along_axis(score, order, axis=1))  # a prefix of each row
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(chosen.sum(axis=1), out=offsets[1:])
    return offsets, order[chosen]


def reason_texts(x: pd.DataFrame, reference: pd.Series, drivers: tuple[Driver, ...],
                 rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The sentence of each (member row, driver) pair; object array of str.

    Private helper: a driver occurs at most once per member, and its text is
    given only the rows that have it and the columns it quotes.
    """
    texts = np.empty(rows.size, dtype=object)
    for j, driver in enumerate(drivers):
        sel = np.flatnonzero(cols == j)
        if sel.size:
            quoted = [x.columns.get_loc(c) for c in driver.quoted if c in x.columns]
            text = driver.text(x.iloc[rows[sel], quoted], reference)
            texts[sel] = text.to_numpy(dtype=object)
    return texts


def reason_lists(
    x: pd.DataFrame,
    impacts: np.ndarray,
    reference: pd.Series,
    drivers: tuple[Driver, ...],
    top: int,
    min_impact: float,
) -> ReasonLists:
    """The top drivers per member of ``x`` (see :class:`ReasonLists`).

    Private helper: ``x`` is the member feature frame (texts may quote columns
    the model does not use), ``impacts`` comes from :func:`driver_impacts` on
    the same rows, and every driver's key is a column of ``x``.
    """
    eligible = (impacts >= min_impact) & risky_side(x, reference, drivers)
    offsets, cols = top_reasons(impacts, eligible, top)
    rows = np.repeat(np.arange(len(x)), np.diff(offsets))
    return ReasonLists(
        offsets=offsets,
        code_index=cols.astype(np.int64),
        vocabulary=tuple(d.code for d in drivers),
        impacts=impacts[rows, cols],
        texts=reason_texts(x, reference, drivers, rows, cols),
    )


def reason_frame(index: pd.Index, found: ReasonLists) -> pd.DataFrame:
    """``found`` as the long table of :data:`REASON_COLUMNS`, member ids from ``index``."""
    return pd.DataFrame({
        "member_id": np.asarray(index)[found.rows],
        "rank": found.rank.astype(np.int64),
        "code": found.codes,
        "impact": found.impacts,
        "text": found.texts,
    }, columns=list(REASON_COLUMNS))


def reason_table(
    x: pd.DataFrame,
    impacts: np.ndarray,
    reference: pd.Series,
    drivers: tuple[Driver, ...],
    top: int,
    min_impact: float,
) -> pd.DataFrame:
    """Long table of the top drivers per member (columns :data:`REASON_COLUMNS`).

    Private helper, with the inputs of :func:`reason_lists`.
    """
    return reason_frame(x.index, reason_lists(x, impacts, reference, drivers, top, min_impact))

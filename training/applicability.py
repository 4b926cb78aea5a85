"""Which training steps the data can support, and what stands in for a skipped one.

Any shop's export should train: one item or none (a CLV-only export of
customer, date and amount), a few dozen members, a few weeks of history. A
step that cannot run on the data is *skipped* with a reason, written to
``metrics["skipped"]`` (``{step: reason}``), the manifest, the report and the
output of ``offers train``; every other step still trains and the version
still serves:

- ``recommendations`` skipped: the bundle holds a popularity-only blend over
  the items there are (:func:`popularity_only`), so the artifact format and
  the server do not change; recommendations are then popularity, the offer
  engine makes no offer on the recommender's picks, and every decision names
  the skipped model (``skipped_models``).
- ``churn`` (and ``value``, which learns from the same windows) skipped: churn
  risk is unknown (NaN) and expected spend and CLV are 0, so offers that need
  them (retention incentives) are not made.

:func:`skip_reasons` looks at the data before the steps run; the pipeline
also turns a :class:`~features.errors.DataError` raised inside a guarded step
into a skip (:data:`GUARDED`), for shapes no check foresaw. The checks need
only a few facts of the lines before ``as_of`` (:class:`History`: item and
member counts, the first time, the purchase cadence), taken from the pandas
lines or, in engine mode, by aggregates on the engine (``lines=``): the same
answers either way (parity test over the shapes of :mod:`training.synth.shapes`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Dataset
from models.lifecycle.windows import MAX_HORIZON_DAYS, MIN_HORIZON_DAYS, default_horizon_days
from models.recommenders import item_categories, recommend_categories
from models.recommenders.category import category_lists
from models.recommenders.tuning import fit_tuned

logger = logging.getLogger(__name__)

#: Steps that may be skipped; the others (features, segmentation, offer response) always run.
GUARDED = ("recommendations", "churn", "value")
MIN_ITEMS = 2
#: Churn needs members on both sides of its windows; below this it cannot learn or validate.
MIN_CHURN_MEMBERS = 20
#: Churn windows: one validation window and two training windows of H days each.
CHURN_WINDOWS = 3


@dataclass
class History:
    """What the checks need of the lines before ``as_of``: the number of items and of
    members, the first line's time and (computed on first use, it costs a pass over
    the lines) the horizon the purchase cadence gives
    (:func:`models.lifecycle.windows.default_horizon_days`)."""

    n_items: int
    n_members: int
    first: pd.Timestamp
    lines: Any = field(default=None, repr=False)  # pandas lines or Ibis lines before as_of
    _cadence: int | None = field(default=None, repr=False)

    @classmethod
    def of_frame(cls, past: pd.DataFrame) -> History:
        """Of canonical pandas lines (``member_id``, ``item_id``, ``timestamp``)."""
        return cls(_n_unique(past["item_id"]), _n_unique(past["member_id"]),
                   past["timestamp"].min(), past)

    @classmethod
    def of_engine(cls, lines, as_of: pd.Timestamp) -> History:
        """Of canonical lines on an engine (:mod:`features.relational.tables`): one
        aggregate query over the lines before ``as_of``."""
        from features.relational.portable import to_frame

        cut = int((pd.Timestamp(as_of) - pd.Timestamp(0)) // pd.Timedelta(microseconds=1))
        past = lines.filter(lines.ts_us < cut)
        row = to_frame(past.aggregate(n_items=past.item_id.nunique(),
                                      n_members=past.member_id.nunique(),
                                      first=past.ts_us.min())).iloc[0]
        first = pd.NaT if pd.isna(row["first"]) else pd.Timestamp(int(row["first"]), unit="us")
        return cls(int(row["n_items"]), int(row["n_members"]), first, past)

    def cadence_horizon(self) -> int:
        """The horizon in days the members' purchase cadence gives (as ``make_windows``)."""
        if self._cadence is None:
            if isinstance(self.lines, pd.DataFrame):
                self._cadence = int(default_horizon_days(self.lines))
            else:
                from models.lifecycle.engine_windows import engine_horizon_days

                self._cadence = int(engine_horizon_days(self.lines))
        return self._cadence


def history(dataset: Dataset | None, as_of: pd.Timestamp, lines=None) -> History:
    """The :class:`History` before ``as_of`` of ``lines`` (on an engine) when given, else of
    ``dataset``'s pandas transactions."""
    if lines is not None:
        return History.of_engine(lines, as_of)
    return History.of_frame(_before(dataset, as_of))


def skip_reasons(dataset: Dataset | None, as_of: pd.Timestamp, config: dict, *,
                 lines=None) -> dict[str, str]:
    """The steps ``dataset`` cannot support, each with a reason a user can act on.

    Parameters
    ----------
    dataset : Dataset
        Canonical data (unused, may be None, when ``lines`` are given).
    as_of : Timestamp
        Training uses the rows before it.
    config : dict
        The training config (:func:`training.config.load_config`).
    lines : Ibis table, optional
        The canonical lines on an engine: the checks run as aggregates there.

    Returns
    -------
    dict of str to str
        ``{step: reason}`` for the steps to skip; empty when every step can run.
    """
    past = history(dataset, as_of, lines)
    reasons: dict[str, str] = {}
    rec = recommendations_reason(past, as_of, config["validation_days"])
    if rec:
        reasons["recommendations"] = rec
    churn = churn_reason(past, as_of, config["churn"]["horizon_days"] or None)
    if churn:
        reasons["churn"] = churn
        reasons["value"] = f"needs the churn windows: {churn}"
    return reasons


def recommendations_reason(past: pd.DataFrame | History, as_of: pd.Timestamp,
                           holdout_days: int = 28) -> str | None:
    """Why item recommendations cannot be learned from ``past`` (lines before ``as_of``,
    or their :class:`History`).

    Examples
    --------
    >>> tx = pd.DataFrame({"member_id": ["a", "b"], "item_id": ["x", "x"],
    ...                    "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    >>> recommendations_reason(tx, pd.Timestamp("2024-02-01"))
    'only 1 item: item recommendations need at least 2'
    """
    past = _as_history(past)
    n_items = past.n_items
    if n_items < MIN_ITEMS:
        return f"only {n_items} item: item recommendations need at least {MIN_ITEMS}"
    days = (as_of - past.first).days
    if days <= holdout_days:
        return (f"{days} days of history: recommendations are validated on the last "
                f"{holdout_days} days (validation_days) and need lines before them")
    return None


def churn_reason(past: pd.DataFrame | History, as_of: pd.Timestamp,
                 horizon_days: int | None) -> str | None:
    """Why churn windows cannot be built from ``past`` (lines before ``as_of``, or their
    :class:`History`)."""
    past = _as_history(past)
    n_members = past.n_members
    if n_members < MIN_CHURN_MEMBERS:
        return (f"only {n_members} members bought before {as_of.date()}: churn windows need at "
                f"least {MIN_CHURN_MEMBERS}")
    days = (as_of - past.first).days
    if horizon_days is None and days > CHURN_WINDOWS * MAX_HORIZON_DAYS:
        return None  # any horizon derived from the cadence fits: no need to derive it
    horizon = int(horizon_days or _fitting_horizon(past, days) or past.cadence_horizon())
    need = CHURN_WINDOWS * horizon
    if days <= need:
        return (f"{days} days of history: churn windows of {horizon} days need more than "
                f"{CHURN_WINDOWS} x {horizon} = {need}")
    return None


def churn_horizon(dataset: Dataset | None, as_of: pd.Timestamp, configured: int | None, *,
                  lines=None) -> int | None:
    """The churn horizon to build windows with; None: derived from the purchase cadence.

    ``configured`` when set. Otherwise None (``make_windows`` derives it), unless
    the history is too short for the derived horizon's windows: then the longest
    whole number of weeks, at least two, whose windows fit (a shop with a few
    weeks of history still gets churn risk). ``lines`` (canonical lines on an
    engine) when given are read by aggregates there instead of ``dataset``.
    """
    if configured:
        return int(configured)
    past = history(dataset, as_of, lines)
    days = (as_of - past.first).days  # as_of is after the first
    if days > CHURN_WINDOWS * MAX_HORIZON_DAYS:
        return None
    return _fitting_horizon(past, days)


def _fitting_horizon(past: History, days: int) -> int | None:
    """A shorter horizon when the derived one's windows do not fit ``days`` of history."""
    derived = past.cadence_horizon()
    if days > CHURN_WINDOWS * derived:
        return None
    weeks = (days - 1) // (7 * CHURN_WINDOWS)
    return 7 * weeks if 7 * weeks >= MIN_HORIZON_DAYS else None


def _as_history(past: pd.DataFrame | History) -> History:
    return past if isinstance(past, History) else History.of_frame(past)


def _before(dataset: Dataset, as_of: pd.Timestamp) -> pd.DataFrame:
    tx = dataset.transactions
    before = (tx["timestamp"] < as_of).to_numpy()
    return tx if before.all() else tx.loc[before, ["member_id", "item_id", "timestamp"]]


def popularity_only(transactions, items: pd.DataFrame, as_of: pd.Timestamp,
                    params: dict, top_categories: int) -> dict:
    """The stand-in for a skipped recommender: popularity over the items there are.

    ``transactions`` is the canonical frame or lines on an engine
    (:class:`models.recommenders.EngineLines`).

    A :class:`~models.recommenders.BlendRecommender` whose only weighted component
    is popularity, so it saves and serves like a tuned blend.

    Returns
    -------
    dict
        ``recommender``, ``item_category`` (aligned with its item columns) and
        ``top_categories`` (per recommender member row, its category names: an Arrow
        list array, :func:`models.recommenders.category.category_lists`).
    """
    params = {**params, "blend": {"weights": {"buy_again": 0.0, "als": 0.0, "popularity": 1.0}}}
    fitted = fit_tuned(transactions, as_of, params, warm_start=None)
    blend = fitted["blend"]
    categories = item_categories(fitted["interactions"], items)
    cat_idx, _ = recommend_categories(blend, np.arange(blend.n_members), categories,
                                      k=top_categories)
    top = category_lists(cat_idx, np.unique(categories))
    return {"recommender": blend, "item_category": categories, "top_categories": top}


def skipped_lifecycle_columns(n: int) -> dict[str, np.ndarray]:
    """Member-table columns when churn and value were skipped: risk unknown, no value."""
    return {
        "churn_risk": np.full(n, np.nan),
        "expected_spend": np.zeros(n),
        "clv": np.zeros(n),
        "churn_reason_codes": _empty_lists(n),
        "churn_reasons": _empty_lists(n),
    }


def _empty_lists(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = [[] for _ in range(n)]
    return out


def _n_unique(column: pd.Series) -> int:
    if isinstance(column.dtype, pd.CategoricalDtype):  # per category: fast on 100M lines
        codes = column.cat.codes.to_numpy()
        return int(np.count_nonzero(np.bincount(codes[codes >= 0],
                                                minlength=len(column.cat.categories))))
    return int(column.nunique())

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
into a skip (:data:`GUARDED`), for shapes no check foresaw.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.dataset import Dataset
from models.lifecycle.windows import MAX_HORIZON_DAYS, MIN_HORIZON_DAYS, default_horizon_days
from models.recommenders import item_categories, recommend_categories
from models.recommenders.tuning import fit_tuned

logger = logging.getLogger(__name__)

#: Steps that may be skipped; the others (features, segmentation, offer response) always run.
GUARDED = ("recommendations", "churn", "value")
MIN_ITEMS = 2
#: Churn needs members on both sides of its windows; below this it cannot learn or validate.
MIN_CHURN_MEMBERS = 20
#: Churn windows: one validation window and two training windows of H days each.
CHURN_WINDOWS = 3


def skip_reasons(dataset: Dataset, as_of: pd.Timestamp, config: dict) -> dict[str, str]:
    """The steps ``dataset`` cannot support, each with a reason a user can act on.

    Parameters
    ----------
    dataset : Dataset
        Canonical data.
    as_of : Timestamp
        Training uses the rows before it.
    config : dict
        The training config (:func:`training.config.load_config`).

    Returns
    -------
    dict of str to str
        ``{step: reason}`` for the steps to skip; empty when every step can run.
    """
    past = _before(dataset, as_of)
    reasons: dict[str, str] = {}
    rec = recommendations_reason(past, as_of, config["validation_days"])
    if rec:
        reasons["recommendations"] = rec
    churn = churn_reason(past, as_of, config["churn"]["horizon_days"] or None)
    if churn:
        reasons["churn"] = churn
        reasons["value"] = f"needs the churn windows: {churn}"
    return reasons


def recommendations_reason(past: pd.DataFrame, as_of: pd.Timestamp,
                           holdout_days: int = 28) -> str | None:
    """Why item recommendations cannot be learned from ``past`` (lines before ``as_of``).

    Examples
    --------
    >>> tx = pd.DataFrame({"member_id": ["a", "b"], "item_id": ["x", "x"],
    ...                    "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    >>> recommendations_reason(tx, pd.Timestamp("2024-02-01"))
    'only 1 item: item recommendations need at least 2'
    """
    n_items = _n_unique(past["item_id"])
    if n_items < MIN_ITEMS:
        return f"only {n_items} item: item recommendations need at least {MIN_ITEMS}"
    days = (as_of - past["timestamp"].min()).days
    if days <= holdout_days:
        return (f"{days} days of history: recommendations are validated on the last "
                f"{holdout_days} days (validation_days) and need lines before them")
    return None


def churn_reason(past: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int | None) -> str | None:
    """Why churn windows cannot be built from ``past`` (lines before ``as_of``)."""
    n_members = _n_unique(past["member_id"])
    if n_members < MIN_CHURN_MEMBERS:
        return (f"only {n_members} members bought before {as_of.date()}: churn windows need at "
                f"least {MIN_CHURN_MEMBERS}")
    days = (as_of - past["timestamp"].min()).days
    if horizon_days is None and days > CHURN_WINDOWS * MAX_HORIZON_DAYS:
        return None  # any horizon derived from the cadence fits: no need to derive it
    horizon = int(horizon_days or _fitting_horizon(past, days) or default_horizon_days(past))
    need = CHURN_WINDOWS * horizon
    if days <= need:
        return (f"{days} days of history: churn windows of {horizon} days need more than "
                f"{CHURN_WINDOWS} x {horizon} = {need}")
    return None


def churn_horizon(dataset: Dataset, as_of: pd.Timestamp, configured: int | None) -> int | None:
    """The churn horizon to build windows with; None: derived from the purchase cadence.

    ``configured`` when set. Otherwise None (``make_windows`` derives it), unless
    the history is too short for the derived horizon's windows: then the longest
    whole number of weeks, at least two, whose windows fit (a shop with a few
    weeks of history still gets churn risk).
    """
    if configured:
        return int(configured)
    days = (as_of - dataset.transactions["timestamp"].min()).days  # as_of is after the first
    if days > CHURN_WINDOWS * MAX_HORIZON_DAYS:
        return None
    return _fitting_horizon(_before(dataset, as_of), days)


def _fitting_horizon(past: pd.DataFrame, days: int) -> int | None:
    """A shorter horizon when the derived one's windows do not fit ``days`` of history."""
    derived = default_horizon_days(past)
    if days > CHURN_WINDOWS * derived:
        return None
    weeks = (days - 1) // (7 * CHURN_WINDOWS)
    return 7 * weeks if 7 * weeks >= MIN_HORIZON_DAYS else None


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
        ``top_categories`` (per recommender member row, a list of category names).
    """
    params = {**params, "blend": {"weights": {"buy_again": 0.0, "als": 0.0, "popularity": 1.0}}}
    fitted = fit_tuned(transactions, as_of, params, warm_start=None)
    blend = fitted["blend"]
    categories = item_categories(fitted["interactions"], items)
    cat_idx, _ = recommend_categories(blend, np.arange(blend.n_members), categories,
                                      k=top_categories)
    names = np.unique(categories)[np.maximum(cat_idx, 0)]
    top = np.empty(len(names), dtype=object)
    top[:] = [row[keep].tolist() for row, keep in zip(names, cat_idx >= 0)]
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

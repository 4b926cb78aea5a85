"""The models' predictions per member: what :func:`training.member_table.member_table` adds.

:func:`member_predictions` scores any set of members (each row on its own): all of
them in the driver, or one partition at a time on Spark's executors
(:mod:`training.spark_scoring`). The churn reasons are built as Arrow list arrays
from flat values and offsets (:class:`models.lifecycle.ReasonLists`), not as one
Python list per member: at a million members the long frame of reasons, its sort
and group-by into lists, and the Python lists themselves were most of the time.

Imports: :mod:`models` and :mod:`training.applicability` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from models.lifecycle import ReasonLists
from training import applicability

#: Most churn reasons per member.
TOP_REASONS = 3
_LIST = pa.list_(pa.string())
#: Members scored at a time in the driver: at 1M members scoring every buyer at once
#: (the models' feature copies, the reasons' texts) peaked at 4,570 MiB (bench/RESULTS.md).
CHUNK_ROWS = 100_000
#: The columns :func:`lifecycle_columns` writes.
LIFECYCLE_COLUMNS = ("churn_risk", "expected_spend", "clv", "churn_reason_codes",
                     "churn_reasons")


@dataclass(frozen=True)
class HorizonModels:
    """The served models that score every member at one of their anchor horizons
    (:mod:`training.horizon_served`), fitted on every window at ``days``; None for a task
    not scored there (answered from BG/NBD's parameters, or anchored elsewhere)."""

    days: int
    churn: Any = None  # predict_proba(X): P(no purchase in the next `days` days)
    value: Any = None  # predict(X): spend in the next `days` days

    def columns(self) -> tuple[str, ...]:
        """The member columns these models score (``churn_risk_<days>d``,
        ``expected_spend_<days>d``)."""
        return ((f"churn_risk_{self.days}d",) if self.churn is not None else ()) + (
            (f"expected_spend_{self.days}d",) if self.value is not None else ())


@dataclass(frozen=True)
class MemberModels:
    """The fitted models that score every member: churn and value (None when skipped),
    the offer response model and the models of the validated horizons. Pickled whole
    to Spark's executors."""

    churn: Any
    value: Any
    offer_response: Any
    horizons: tuple[HorizonModels, ...] = ()
    #: The value model's horizon when its mean forecast is kept per member for
    #: ``mean_spend_<N>d`` at any horizon (``horizon_model.json``'s ``served.mean_anchor``).
    mean_days: int | None = None

    def mean_column(self) -> str | None:
        """``mean_spend_<H>d``: the value model's mean forecast over its horizon ``H``, written
        beside the lifecycle columns; None when not kept or the lifecycle models are skipped."""
        if self.mean_days is None or self.churn is None or self.value is None:
            return None
        return f"mean_spend_{int(self.mean_days)}d"

    def horizon_columns(self) -> list[str]:
        """The columns for the purchase summaries (``horizon_summary.parquet``), in order:
        :func:`horizon_columns`' then :meth:`mean_column`."""
        mean = self.mean_column()
        return [c for found in self.horizons for c in found.columns()] + (
            [mean] if mean else [])


def member_predictions(models: MemberModels, mf: pd.DataFrame) -> pd.DataFrame:
    """The models' predictions for the members of ``mf`` (any subset: each row is scored
    on its own), on ``mf``'s index: ``p_redeem_base``, :data:`LIFECYCLE_COLUMNS`, then
    :meth:`MemberModels.horizon_columns`.

    :data:`CHUNK_ROWS` members at a time, so the models' copies are one chunk's."""
    if len(mf) > CHUNK_ROWS:
        return pd.concat([member_predictions(models, mf.iloc[start:start + CHUNK_ROWS])
                          for start in range(0, len(mf), CHUNK_ROWS)])
    out = pd.DataFrame(index=mf.index)
    # The offer engine (serving/engine) scales its per-type priors by this member-level
    # responsiveness: P(redeem) of a reference whole-basket offer under the response model.
    out["p_redeem_base"] = reference_response(models.offer_response, mf)
    if models.churn is None or models.value is None:  # skipped (training/applicability.py)
        for col, values in applicability.skipped_lifecycle_columns(len(mf)).items():
            out[col] = values
        mean = None
    else:
        mean = lifecycle_columns(models, mf, out, mf["frequency"].to_numpy() > 0)
    horizon_columns(models, mf, out)
    if models.mean_column():  # last, as MemberModels.horizon_columns lists it
        out[models.mean_column()] = mean
    return out


def horizon_columns(models: MemberModels, mf: pd.DataFrame, out: pd.DataFrame) -> None:
    """Each validated horizon's churn risk and expected spend of the buyers into ``out``
    (NaN risk and 0 spend for members without a purchase, as ``churn_risk``). The
    version's own churn and value models (served at its horizon by default) are not run
    again: their ``churn_risk`` and ``expected_spend`` in ``out`` are copied."""
    if not models.horizons:
        return
    buyers = mf["frequency"].to_numpy() > 0
    bought = None
    for found in models.horizons:
        for column, model, own, mine in (
                (f"churn_risk_{found.days}d", found.churn, models.churn, "churn_risk"),
                (f"expected_spend_{found.days}d", found.value, models.value, "expected_spend")):
            if model is None:
                continue
            if model is own and mine in out:
                out[column] = out[mine].to_numpy(copy=True)
                continue
            churn = mine == "churn_risk"
            values = np.full(len(mf), np.nan) if churn else np.zeros(len(mf))
            if buyers.any():
                bought = mf[buyers] if bought is None else bought
                values[buyers] = model.predict_proba(bought) if churn else model.predict(bought)
            out[column] = values


def lifecycle_columns(models: MemberModels, mf: pd.DataFrame, out: pd.DataFrame,
                      buyers: np.ndarray) -> np.ndarray:
    """Churn risk, expected spend, CLV and the churn reasons of the buyers into ``out``.

    Returns the value model's mean forecast over its horizon per member (0 without a
    purchase, as ``expected_spend``), the CLV's source."""
    churn, value = models.churn, models.value
    risk = np.full(len(mf), np.nan)
    expected = np.zeros(len(mf))
    mean = np.zeros(len(mf))
    bought = mf[buyers]  # one copy of the buyers' features, shared by every model below
    risk[buyers] = churn.predict_proba(bought)
    expected[buyers], mean[buyers] = value.predict_with_mean(bought)
    out["churn_risk"] = risk
    out["expected_spend"] = expected
    out["clv"] = mean * value.clv_multiplier(365.0)  # value.predict_clv: 12 months of the mean
    found = churn.reason_lists(bought, top=TOP_REASONS, risk=risk[buyers])
    codes, texts = reason_columns(found, buyers)
    out["churn_reason_codes"] = pd.Series(pd.arrays.ArrowExtensionArray(codes), index=out.index)
    out["churn_reasons"] = pd.Series(pd.arrays.ArrowExtensionArray(texts), index=out.index)
    return mean


def reason_columns(found: ReasonLists | None, rows: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """The codes and the sentences of ``found`` as list arrays over every member.

    Parameters
    ----------
    found : ReasonLists or None
        One list per True of ``rows`` (None: no reasons at all).
    rows : ndarray of bool, shape (n_members,)
        The members ``found`` describes; the others get empty lists.

    Returns
    -------
    codes, texts : pyarrow.ListArray of str, length n_members
    """
    counts = np.zeros(len(rows), dtype=np.int64)
    if found is None:
        values = (pa.array([], pa.string()), pa.array([], pa.string()))
    else:
        counts[rows] = np.diff(found.offsets)
        vocabulary = pa.array(list(found.vocabulary), pa.string())
        values = (vocabulary.take(pa.array(found.code_index)),
                  pa.array(found.texts, pa.string()))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    codes, texts = (pa.ListArray.from_arrays(offsets, v, type=_LIST) for v in values)
    return codes, texts


def reference_response(model, mf: pd.DataFrame) -> np.ndarray:
    """P(redeem) of each member for a reference offer: whole basket, unknown type and depth."""
    offer = pd.DataFrame({"offer_id": ["reference"], "type": ["unknown"], "depth": [np.nan],
                          "categories": [()]})
    share = np.where(mf["frequency"].to_numpy() > 0, 1.0, np.nan)[:, None]
    return model.predict_proba(mf, offer, share)[:, 0]

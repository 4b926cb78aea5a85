"""The member table of a version: one row per member, built from a finished training run.

:func:`member_table` assembles what the offer engine and the server need per
member (segments, copied member features, the models' predictions, churn reason
codes and the recommender's top categories) as the frame
:func:`training.artifacts.schema.conform_members` returns.

The list columns are built as Arrow list arrays from flat values and offsets
(:class:`models.lifecycle.ReasonLists`), not as one Python list per member:
at a million members the long frame of reasons, its sort and group-by into
lists, and the Python lists themselves were most of the step's time.

Imports: :mod:`features`, :mod:`models` and :mod:`training` (applicability,
artifacts) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.lifecycle import ReasonLists
from training import applicability, artifacts

#: Most churn reasons per member.
TOP_REASONS = 3
_LIST = pa.list_(pa.string())
#: The columns :func:`lifecycle_columns` writes.
LIFECYCLE_COLUMNS = ("churn_risk", "expected_spend", "clv", "churn_reason_codes",
                     "churn_reasons")


def member_table(run) -> pd.DataFrame:
    """One row per member: what the offer engine and the server need to know.

    Parameters
    ----------
    run : training.pipeline.TrainingRun
        After its model steps.

    Returns
    -------
    DataFrame
        The columns of :data:`training.artifacts.schema.MEMBER_COLUMNS`, copied
        from the segments and member features (those the shop's data lacks are
        written as typed nulls), then the models' predictions; as
        :func:`~training.artifacts.schema.conform_members` returns it.
    """
    mf = run.member_features
    out = pd.DataFrame(index=mf.index)
    seg = run.tables["segments"]
    for col in ("segment", "rfm_score", "r_score", "f_score", "m_score", "cluster",
                "cluster_label"):
        out[col] = seg[col].to_numpy()
    copied = [c.name for c in artifacts.schema.MEMBER_COLUMNS if c.name not in out]
    for col in copied:
        if col in mf:
            out[col] = mf[col].to_numpy()
    models = MemberModels(run.churn, run.value, run.offer_response)
    if run.engine == "spark" and run.engine_tables is not None:
        # Scored in partitions on Spark's executors, the models broadcast (.spark_scoring).
        from training.spark_scoring import spark_member_predictions

        predicted = spark_member_predictions(run.engine_tables.con, models, mf)
    else:
        predicted = member_predictions(models, mf)
    for col in predicted.columns:  # on mf's index, in its order
        out[col] = predicted[col].array
    out["top_categories"] = member_lists(run.top_categories, run.recommender.member_ids_,
                                         out.index)
    return artifacts.schema.conform_members(out.reset_index(names="member_id"))


@dataclass(frozen=True)
class MemberModels:
    """The fitted models that score every member: churn and value (None when skipped)
    and the offer response model. Pickled whole to Spark's executors."""

    churn: Any
    value: Any
    offer_response: Any


def member_predictions(models: MemberModels, mf: pd.DataFrame) -> pd.DataFrame:
    """The models' predictions for the members of ``mf`` (any subset: each row is scored
    on its own), on ``mf``'s index: ``p_redeem_base`` then :data:`LIFECYCLE_COLUMNS`."""
    out = pd.DataFrame(index=mf.index)
    # The offer engine (serving/engine) scales its per-type priors by this member-level
    # responsiveness: P(redeem) of a reference whole-basket offer under the response model.
    out["p_redeem_base"] = reference_response(models.offer_response, mf)
    if models.churn is None or models.value is None:  # skipped (training/applicability.py)
        for col, values in applicability.skipped_lifecycle_columns(len(mf)).items():
            out[col] = values
    else:
        lifecycle_columns(models, mf, out, mf["frequency"].to_numpy() > 0)
    return out


def lifecycle_columns(models: MemberModels, mf: pd.DataFrame, out: pd.DataFrame,
                      buyers: np.ndarray) -> None:
    """Churn risk, expected spend, CLV and the churn reasons of the buyers into ``out``."""
    churn, value = models.churn, models.value
    risk = np.full(len(mf), np.nan)
    expected = np.zeros(len(mf))
    clv = np.zeros(len(mf))
    bought = mf[buyers]  # one copy of the buyers' features, shared by every model below
    risk[buyers] = churn.predict_proba(bought)
    expected[buyers] = value.predict(bought)
    # value.predict_clv(bought) without predicting again: 12 months of expected spend.
    clv[buyers] = expected[buyers] * value.clv_factor(365.0)
    out["churn_risk"] = risk
    out["expected_spend"] = expected
    out["clv"] = clv
    found = churn.reason_lists(bought, top=TOP_REASONS, risk=risk[buyers])
    codes, texts = reason_columns(found, buyers)
    out["churn_reason_codes"] = pd.Series(pd.arrays.ArrowExtensionArray(codes), index=out.index)
    out["churn_reasons"] = pd.Series(pd.arrays.ArrowExtensionArray(texts), index=out.index)


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


def member_lists(lists, member_ids, index: pd.Index) -> pd.Series:
    """``lists`` (one list of str per id of ``member_ids``) aligned with ``index``.

    Members of ``index`` without a list get an empty one. Returns an Arrow-backed
    list Series on ``index``.
    """
    values = pa.array(list(lists), _LIST)
    at = pd.Index(np.asarray(member_ids), dtype=str).get_indexer(index)
    taken = values.take(pa.array(at, mask=at < 0))
    empty = pa.scalar([], type=_LIST)
    filled = pc.if_else(pc.is_null(taken), empty, taken)
    return pd.Series(pd.arrays.ArrowExtensionArray(filled), index=index)


def reference_response(model, mf: pd.DataFrame) -> np.ndarray:
    """P(redeem) of each member for a reference offer: whole basket, unknown type and depth."""
    offer = pd.DataFrame({"offer_id": ["reference"], "type": ["unknown"], "depth": [np.nan],
                          "categories": [()]})
    share = np.where(mf["frequency"].to_numpy() > 0, 1.0, np.nan)[:, None]
    return model.predict_proba(mf, offer, share)[:, 0]

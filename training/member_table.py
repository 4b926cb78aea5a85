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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.lifecycle import ReasonLists
from training import applicability, artifacts

#: Most churn reasons per member.
TOP_REASONS = 3
#: Buyers scored at a time by the churn and value models: at 1M members scoring every
#: buyer at once peaked at 4,570 MiB in this step (bench/RESULTS.md, issue 11).
CHUNK_ROWS = 100_000
_LIST = pa.list_(pa.string())


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
    buyers = mf["frequency"].to_numpy() > 0
    # The offer engine (serving/engine) scales its per-type priors by this member-level
    # responsiveness: P(redeem) of a reference whole-basket offer under the response model.
    out["p_redeem_base"] = reference_response(run.offer_response, mf)
    if run.churn is None or run.value is None:  # skipped (training/applicability.py)
        for col, values in applicability.skipped_lifecycle_columns(len(mf)).items():
            out[col] = values
    else:
        lifecycle_columns(run, out, buyers)
    out["top_categories"] = member_lists(run.top_categories, run.recommender.member_ids_,
                                         out.index)
    return artifacts.schema.conform_members(out.reset_index(names="member_id"),
                                            arrow_lists=True)


def lifecycle_columns(run, out: pd.DataFrame, buyers: np.ndarray) -> None:
    """Churn risk, expected spend, CLV and the churn reasons of the buyers into ``out``.

    The buyers are scored :data:`CHUNK_ROWS` at a time (each row's answers are its
    own), so the models' feature copies and the reasons' texts are one chunk's.
    """
    mf = run.member_features
    churn, value = run.churn, run.value
    risk = np.full(len(mf), np.nan)
    expected = np.zeros(len(mf))
    positions = np.flatnonzero(buyers)
    codes, texts = [], []
    for start in range(0, len(positions), CHUNK_ROWS):
        at = positions[start:start + CHUNK_ROWS]
        bought = mf.iloc[at]  # one copy of the chunk's features, shared by the models below
        risk[at] = churn.predict_proba(bought)
        expected[at] = value.predict(bought)
        found = churn.reason_lists(bought, top=TOP_REASONS, risk=risk[at])
        chunk_codes, chunk_texts = reason_columns(found, np.ones(len(at), dtype=bool))
        codes.append(chunk_codes)
        texts.append(chunk_texts)
    out["churn_risk"] = risk
    out["expected_spend"] = expected
    # value.predict_clv(bought) without predicting again: 12 months of expected spend.
    out["clv"] = np.where(buyers, expected * value.clv_factor(365.0), 0.0)
    out["churn_reason_codes"] = _over_members(codes, buyers, out.index)
    out["churn_reasons"] = _over_members(texts, buyers, out.index)


def _over_members(chunks: list, rows: np.ndarray, index: pd.Index) -> pd.Series:
    """The list arrays of ``chunks`` (one list per True of ``rows``, in order) over every
    member of ``index``: the others get an empty list. An Arrow-backed Series."""
    values = pa.concat_arrays(chunks) if chunks else pa.array([], _LIST)
    at = np.full(len(rows), -1, dtype=np.int64)
    at[rows] = np.arange(int(rows.sum()))
    return _taken(values, at, index)


def _taken(values: pa.Array, at: np.ndarray, index: pd.Index) -> pd.Series:
    """``values[at]`` on ``index``, an empty list where ``at`` is negative."""
    taken = values.take(pa.array(at, mask=at < 0))
    filled = pc.if_else(pc.is_null(taken), pa.scalar([], type=_LIST), taken)
    return pd.Series(pd.arrays.ArrowExtensionArray(filled), index=index)


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
    return _taken(values, at, index)


def reference_response(model, mf: pd.DataFrame) -> np.ndarray:
    """P(redeem) of each member for a reference offer: whole basket, unknown type and depth."""
    offer = pd.DataFrame({"offer_id": ["reference"], "type": ["unknown"], "depth": [np.nan],
                          "categories": [()]})
    share = np.where(mf["frequency"].to_numpy() > 0, 1.0, np.nan)[:, None]
    return model.predict_proba(mf, offer, share)[:, 0]

"""The member table of a version: one row per member, built from a finished training run.

:func:`member_table` assembles what the offer engine and the server need per
member (segments, copied member features, the models' predictions, churn reason
codes and the recommender's top categories) as the frame
:func:`training.artifacts.schema.conform_members` returns.

The list columns are built as Arrow list arrays from flat values and offsets
(:class:`models.lifecycle.ReasonLists`), not as one Python list per member:
at a million members the long frame of reasons, its sort and group-by into
lists, and the Python lists themselves were most of the step's time.

The predictions come from :mod:`training.member_scoring`, in the driver, or on
Spark's executors on ``--engine spark`` (:mod:`training.spark_scoring`), where
the member features are :class:`training.spark_members.SparkMembers` by then
and only the copied columns are fetched.

Imports: :mod:`training` (artifacts, member_scoring, spark_members, spark_scoring) only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from training import artifacts
from training.member_scoring import MemberModels, member_predictions
from training.spark_members import SparkMembers

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
    copied = [c.name for c in artifacts.schema.MEMBER_COLUMNS
              if c.name not in out and c.name in mf]
    # On Spark (training.spark_members) only these columns come back to the driver.
    values = mf.select(copied) if isinstance(mf, SparkMembers) else mf
    for col in copied:
        out[col] = values[col].to_numpy()
    del values
    served = (getattr(run, "horizon_model", None) or {}).get("served") or {}
    models = MemberModels(run.churn, run.value, run.offer_response,
                          tuple(getattr(run, "horizon_models", ()) or ()),
                          mean_days=served.get("mean_anchor"))
    if run.engine == "spark" and run.engine_tables is not None:
        # Scored in partitions on Spark's executors, the models broadcast (.spark_scoring).
        from training.spark_scoring import spark_member_predictions

        predicted = spark_member_predictions(run.engine_tables.con, models, mf)
    else:
        predicted = member_predictions(models, mf)
    # The validated horizons' columns go beside the purchase summaries (horizon_summary).
    run.horizon_scores = (predicted[models.horizon_columns()] if models.horizon_columns()
                          else None)
    for col in predicted.columns.difference(models.horizon_columns(), sort=False):
        out[col] = predicted[col].array  # on mf's index, in its order
    out["top_categories"] = member_lists(run.top_categories, run.recommender.member_ids_,
                                         out.index)
    return artifacts.schema.conform_members(out.reset_index(names="member_id"),
                                            arrow_lists=True)


def member_lists(lists, member_ids, index: pd.Index) -> pd.Series:
    """``lists`` (one list of names per id of ``member_ids``: an Arrow list array, as
    :func:`models.recommenders.category.category_lists` gives, or lists of str)
    aligned with ``index``.

    Members of ``index`` without a list get an empty one. Returns an Arrow-backed
    list Series on ``index``.
    """
    values = lists if isinstance(lists, pa.Array) else pa.array(list(lists), _LIST)
    at = pd.Index(np.asarray(member_ids), dtype=str).get_indexer(index)
    taken = values.take(pa.array(at, mask=at < 0)).cast(_LIST)
    empty = pa.scalar([], type=_LIST)
    filled = pc.if_else(pc.is_null(taken), empty, taken)
    return pd.Series(pd.arrays.ArrowExtensionArray(filled), index=index)

"""Every member scored in partitions on Spark: the member table's predictions.

On ``--engine spark`` the member table's predictions (``p_redeem_base``, churn
risk, expected spend, CLV, churn reasons: :func:`training.member_scoring.member_predictions`)
are computed by ``mapInPandas`` over a Spark DataFrame of the member features, the
fitted models pickled once in the driver and broadcast (in memory, never read
from disk); only the result columns come back to the driver.

In a training run the features are already on Spark, cached since the
segmentation (:class:`training.spark_members.SparkMembers`); a pandas frame
given here is sent there first. The executors' Python must import this package
(on a local master it is the driver's own).

Imports: :mod:`features`, :mod:`training.member_scoring`, :mod:`training.spark_members`.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa

from features.errors import ConfigError
from features.relational.spark import collect_arrow
from training.member_scoring import LIFECYCLE_COLUMNS, MemberModels, member_predictions
from training.spark_members import MEMBER, ROW, SparkMembers

LIST_COLUMNS = ("churn_reason_codes", "churn_reasons")


def result_schema(models: MemberModels) -> str:
    """The Spark schema of the scored rows: the row number, then ``member_predictions``' columns."""
    return ", ".join(
        [f"{ROW} long", "p_redeem_base double"]
        + [f"{c} {'array<string>' if c in LIST_COLUMNS else 'double'}"
           for c in (*LIFECYCLE_COLUMNS, *models.horizon_columns())])


def spark_member_predictions(con, models: MemberModels, mf: pd.DataFrame | SparkMembers,
                             partitions: int | None = None) -> pd.DataFrame:
    """:func:`~training.member_scoring.member_predictions` of ``mf``, computed on Spark.

    Parameters
    ----------
    con : ibis Spark backend
        The run's open session (:func:`features.relational.connect_spark`).
    models : MemberModels
        Fitted; checked to pickle before anything is sent.
    mf : DataFrame or SparkMembers
        The member features, one row per member: on Spark already, or a pandas frame
        sent there for this call.
    partitions : int, optional
        How many partitions to score in (default: as made from the features, at most the
        session's parallelism: one task per core).

    Returns
    -------
    DataFrame
        On ``mf``'s index, in its order: the columns ``member_predictions`` gives, the
        list columns Arrow-backed.
    """
    session = con._session
    index = mf.index
    shared = session.sparkContext.broadcast(pickled(models))
    sent = None
    try:
        if not isinstance(mf, SparkMembers):
            # Coalesced to a task per core, not per Arrow batch: at 200k members 20 tasks
            # of 10,000 rows cost ~7x the driver's CPU on local[2], 2 tasks 1.1x.
            mf = sent = SparkMembers.from_frame(con, mf)
        df = mf.df.drop(MEMBER)
        if partitions is not None:
            df = df.repartition(int(partitions))

        def score(batches):  # on the executors
            from threadpoolctl import threadpool_limits

            fitted = pickle.loads(shared.value)  # the driver's bytes, in memory
            with threadpool_limits(1):
                for batch in batches:
                    yield _result_frame(batch, fitted)

        table = collect_arrow(df.mapInPandas(score, schema=result_schema(models)))
    finally:
        shared.destroy()
        if sent is not None:
            sent.release()
    table = table.sort_by(ROW)
    rows = table.column(ROW).to_numpy()
    if len(rows) != len(index) or not np.array_equal(rows, np.arange(len(index))):
        raise RuntimeError(f"Spark scored {len(rows)} rows for {len(index)} members, "
                           "not each member once.")
    out = pd.DataFrame(index=index)
    for name in table.column_names[1:]:
        column = table.column(name).combine_chunks()
        out[name] = (pd.arrays.ArrowExtensionArray(column) if name in LIST_COLUMNS
                     else column.to_numpy(zero_copy_only=False))
    return out


def pickled(models: MemberModels) -> bytes:
    """``models`` pickled, or a :class:`ConfigError` saying which one does not pickle."""
    named = [(name, getattr(models, name)) for name in ("churn", "value", "offer_response")]
    named += [(f"{task} model at {found.days} days", getattr(found, task))
              for found in models.horizons for task in ("churn", "value")]
    for name, model in named:
        try:
            pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise ConfigError(f"the {name} model cannot be sent to Spark's executors: it "
                              f"does not pickle ({exc}).") from None
    return pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)


def _result_frame(batch: pd.DataFrame, models: MemberModels) -> pd.DataFrame:
    """One batch's predictions with its row numbers, the lists as Python lists."""
    rows = batch.pop(ROW).to_numpy()
    predicted = member_predictions(models, batch)
    out = pd.DataFrame({ROW: rows})
    for name in predicted.columns:
        values = predicted[name]
        out[name] = (pa.array(values.array, pa.list_(pa.string())).to_pylist()
                     if name in LIST_COLUMNS else values.to_numpy(dtype=np.float64))
    return out

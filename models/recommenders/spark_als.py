"""ALS factors fitted by Spark MLlib (implicit preferences): ``ALSRecommender(solver="spark")``.

The confidence matrix is the one :class:`~models.recommenders.als.ALSRecommender`
gives ``implicit`` (weighted counts, rare items left out); MLlib factorises it
on the running Spark session (``offers train --engine spark`` keeps one for the
whole run) or on a new local one. The factors come back as the same arrays, so
the artifact and the server do not change.

Two differences from ``implicit`` are bridged, not hidden: MLlib's confidence
is ``1 + alpha * r`` (implicit's ``alpha * r``), and MLlib multiplies
``regParam`` by each member's (and item's) number of entries, so ``regParam``
is ``regularization`` divided by the mean entries per member. The factors are
therefore close to, not equal to, implicit's; the validation metrics of a
Spark-trained version measure them.

The members and items are split into as many blocks as the session has
cores (``defaultParallelism``), not MLlib's fixed 10: every block of items
sends its factors to every block of members that bought them, so on
``local[2]`` ten blocks were five times the copies and tasks for no more
parallelism (Complete Journey, 5 sweeps: 62 -> 38 JVM CPU seconds). On a
cluster the blocks follow its cores.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pyarrow as pa

#: ALS sweeps between checkpoints of the factors (cuts the lineage Spark keeps).
CHECKPOINT_EVERY = 3


def spark_als_factors(
    conf, *, factors: int, regularization: float, alpha: float, iterations: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(user factors, item factors)`` of the sparse confidence matrix ``conf``, float32.

    Rows (members) and columns (items) without any entry get zero factors.
    """
    from pyspark.ml.recommendation import ALS

    from features.relational.spark import collect_arrow, spark_backend

    coo = conf.tocoo()
    table = pa.table(
        {
            "user": coo.row.astype(np.int32),
            "item": coo.col.astype(np.int32),
            "rating": coo.data.astype(np.float32),
        }
    )
    with spark_backend() as con, tempfile.TemporaryDirectory(prefix="offers-als-") as tmp:
        context = con._session.sparkContext
        current = context.getCheckpointDir()
        if current is None or "offers-als-" in current:  # none, or an earlier fit's (removed)
            # Without checkpoints the factors' lineage grows with every sweep until a
            # task overflows its stack (seen on Complete Journey at 15 iterations).
            context.setCheckpointDir(tmp)
        ratings = con._session.createDataFrame(table).cache()
        blocks = max(1, int(context.defaultParallelism))
        als = ALS(
            numUserBlocks=blocks,
            numItemBlocks=blocks,
            checkpointInterval=CHECKPOINT_EVERY,
            rank=factors,
            maxIter=iterations,
            regParam=mllib_reg_param(conf, regularization),
            alpha=alpha,
            implicitPrefs=True,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
            seed=seed,
        )
        model = als.fit(ratings)
        users = _dense(collect_arrow(model.userFactors), conf.shape[0], factors)
        items = _dense(collect_arrow(model.itemFactors), conf.shape[1], factors)
        ratings.unpersist()
    return users, items


def mllib_reg_param(conf, regularization: float) -> float:
    """MLlib's ``regParam`` for ``implicit``'s ``regularization`` on ``conf``: MLlib
    multiplies it by each member's entries, so it is divided by their mean here."""
    per_member = np.diff(conf.indptr)
    mean_entries = float(per_member[per_member > 0].mean()) if (per_member > 0).any() else 1.0
    return regularization / mean_entries


def _dense(table: pa.Table, n: int, factors: int) -> np.ndarray:
    """MLlib's ``(id, features)`` rows as an ``n x factors`` array (zeros where no row)."""
    out = np.zeros((n, factors), dtype=np.float32)
    if table.num_rows:
        ids = table.column("id").to_numpy()
        values = table.column("features").combine_chunks().flatten().to_numpy()
        out[ids] = values.reshape(len(ids), factors)
    return out

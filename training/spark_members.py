"""Every member's features kept on Spark, cached, until the member table and uplift score them.

On ``--engine spark`` the pipeline's steps "features" and "segmentation" hold the
member features in the driver as a pandas frame: the relational queries bring
back one row per member of each aggregate and the per-member assembly is
:func:`features.member_features.build_member_features` (the one definition the
pandas engine shares), and the segments are learnt from every buyer (RFM's exact
quintile edges and the k-means fit read all of them). After the segmentation
nothing but the scoring reads every member's features, so the frame goes to
Spark once (:meth:`SparkMembers.from_frame`, cached on the executors) and leaves
the driver: the member table's predictions (:mod:`training.spark_scoring`) and
the uplift scoring (:mod:`training.spark_uplift`) run there in partitions, and
the driver fetches only result columns (:meth:`SparkMembers.select`: those the
member table copies, the response model's inputs the version stores).

Imports: :mod:`features` only.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.relational.fetch import local_uri
from features.relational.spark import collect_arrow

logger = logging.getLogger(__name__)

#: The row number each member carries on Spark (the driver's order of the features).
ROW = "_row"
#: The member id column on Spark (for joins with per-member aggregates there).
MEMBER = "member_id"
#: The staged file's name and rows per row group (Spark splits a file at row groups).
FILE, ROW_GROUP = "member_features.parquet", 100_000


@dataclass
class SparkMembers:
    """The member features as a cached Spark DataFrame: ``ROW``, ``MEMBER``, then the features.

    Attributes
    ----------
    df : pyspark.sql.DataFrame
        Cached; numbered ``0 .. n-1`` in the features' order.
    index : pd.Index
        The member ids (str) in that order: the member table's key, kept in the driver.
    columns : list of str
        The feature columns, in order.
    dtypes : dict
        Their pandas dtypes (:meth:`select` gives them back so).
    """

    df: Any
    index: pd.Index
    columns: list
    dtypes: dict = field(default_factory=dict)

    @classmethod
    def from_frame(cls, con, mf: pd.DataFrame, staging_dir=None) -> SparkMembers:
        """``mf`` (one row per member, indexed by id) sent to ``con``'s Spark session and
        cached there (filled once, now: the caller may drop ``mf``).

        With ``staging_dir`` (the run's staging directory, which the executors read) the
        rows go there as one Parquet file that Spark reads: the driver's JVM then keeps
        no copy (a frame given to ``createDataFrame`` stays in the driver's JVM as the
        rows' lineage for as long as Spark may recompute them).
        """
        session = con._session
        frame = mf.reset_index(drop=True)
        frame.insert(0, MEMBER, np.asarray(mf.index, dtype=str))
        frame.insert(0, ROW, np.arange(len(mf), dtype=np.int64))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        del frame
        if staging_dir is None:
            df = session.createDataFrame(table)  # one partition per ~10,000 rows
        else:
            path = Path(staging_dir) / FILE
            pq.write_table(table, path, row_group_size=ROW_GROUP, compression="zstd")
            df = session.read.parquet(local_uri(path))
        del table
        parallelism = session.sparkContext.defaultParallelism
        if df.rdd.getNumPartitions() > parallelism:  # a task per core (training/spark_scoring)
            df = df.coalesce(parallelism)
        df = df.cache()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "unclosed <socket", ResourceWarning)
            count = df.count()  # fills the cache now
        if count != len(mf):
            raise RuntimeError(f"Spark holds {count} member rows for {len(mf)} members.")
        index = pd.Index(np.asarray(mf.index, dtype=str), dtype="str", name=mf.index.name)
        logger.info("member features cached on Spark: %d members x %d columns",
                    len(mf), mf.shape[1])
        return cls(df, index, list(mf.columns), dict(mf.dtypes))

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, column) -> bool:
        return column in self.columns

    def select(self, columns) -> pd.DataFrame:
        """Only ``columns`` of every member, fetched to the driver: on :attr:`index`, in its
        order (a result the version stores, never every feature)."""
        columns = list(columns)
        unknown = [c for c in columns if c not in self.columns]
        if unknown:
            raise KeyError(f"no member feature(s) {unknown}")
        table = collect_arrow(self.df.select(ROW, *columns)).sort_by(ROW)
        rows = table.column(ROW).to_numpy()
        if len(rows) != len(self) or not np.array_equal(rows, np.arange(len(self))):
            raise RuntimeError(f"Spark returned {len(rows)} member rows for {len(self)}.")
        frame = table.drop([ROW]).to_pandas()
        frame.index = self.index
        for column in columns:
            if column in self.dtypes and frame[column].dtype != self.dtypes[column]:
                frame[column] = frame[column].astype(self.dtypes[column])
        return frame

    def release(self) -> None:
        """Drop the cached rows from the executors."""
        self.df.unpersist()

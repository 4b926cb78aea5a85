"""Relational features: the member and item features as Ibis expressions, on DuckDB or Spark.

Ibis is the one definition layer (issue 11): the same expression runs on DuckDB
(in process, out of core: it spills to ``temp_directory`` above ``memory_limit``)
and on the other Ibis backends (PySpark, Polars, warehouses). Only per-member
and per-item aggregates leave the engine; lines never come into pandas.

What it holds:

- :mod:`.engine`: :func:`connect`, a DuckDB backend with a memory limit and a
  spill directory;
- :mod:`.spark`: :func:`connect_spark`, a Spark session (local or a cluster)
  with local-friendly settings, one-line errors for a missing Java or master;
- :mod:`.portable`: the steps that differ by backend (timestamp to
  microseconds, frames into the engine, temporary tables, fetching results);
- :mod:`.tables`: the canonical tables as Ibis tables, from a
  :class:`~features.dataset.Dataset` or from canonical Parquet files;
- :mod:`.loading`: :func:`load_relational`, a data directory read, checked and
  cleaned by DuckDB itself (lines never in pandas), with :mod:`.scan` (files as
  views), :mod:`.columns` and :mod:`.checks` (the loader's checks in SQL) and
  :mod:`.transactions` (the transactions' checks, cleaning and lines view)
  and :mod:`.events` (the offer events' checks, cleaning and per-member counts);
- :mod:`.staging`: the Spark engine's load, DuckDB's cleaned lines staged as
  Parquet for Spark to read (a temporary or ``--staging-dir`` directory);
- :mod:`.purchases`: :func:`purchase_aggregates`, equal to
  :func:`features.purchase_features.purchase_features`;
- :mod:`.members`: :func:`member_features`, equal to
  :func:`features.member_features.build_member_features`, and ``member_features_at``,
  the same at several cutoffs with the per-line work of all in one pass
  (:mod:`.cutoffs`: lines grouped once, joined to the cutoffs by span);
- :mod:`.items`: :func:`item_features`, equal to
  :func:`features.item_features.build_item_features`;
- :mod:`.pairs`: the distinct (member, item) pairs grouped once, counted per member
  (distinct items) and per item (buyers), shared by the two when computed together
  (:func:`~features.relational.pairs.pairs_before`), or completed from pairs grouped
  elsewhere (:func:`~features.relational.pairs.counts_from_pairs`: the recommenders');
- :mod:`.kpis`: :func:`program_kpis`, equal to :func:`features.kpis.program_kpis`.

The pandas builders stay as the oracle of the parity tests.

Imports: :mod:`features` modules only (the lowest layer).
"""

from features.relational.engine import connect
from features.relational.items import item_features
from features.relational.kpis import program_kpis
from features.relational.loading import RelationalData, load_relational
from features.relational.members import member_features
from features.relational.purchases import purchase_aggregates
from features.relational.spark import connect_spark, java_available, spark_backend
from features.relational.tables import tables_from_dataset, tables_from_parquet

__all__ = [
    "connect",
    "connect_spark",
    "item_features",
    "java_available",
    "load_relational",
    "member_features",
    "program_kpis",
    "purchase_aggregates",
    "RelationalData",
    "spark_backend",
    "tables_from_dataset",
    "tables_from_parquet",
]

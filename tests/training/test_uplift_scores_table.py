"""The uplift scores a training run holds have categorical id columns (the same values in
far less memory) and are written and read back as the engine reads them."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from models.uplift import UPLIFT_SCORE_COLUMNS, compact_scores
from training import artifacts
from training.artifacts import schema
from training.artifacts.uplift import read_uplift_spend


def _scores(n_members: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ids = np.array([f"M{i:07d}" for i in range(n_members)], dtype=object)
    types = ("cashback", "percent_off", "points_multiplier")
    return pd.DataFrame({
        "member_id": np.tile(ids, len(types)),
        "offer_type": np.repeat(types, n_members),
        "offer_id": np.repeat([f"campaign-{t}" for t in types], n_members),
        "uplift_spend": rng.normal(size=len(types) * n_members),
        "uplift_retained": rng.random(len(types) * n_members),
    })[list(UPLIFT_SCORE_COLUMNS)].astype({"member_id": "str", "offer_type": "str",
                                            "offer_id": "str"})


def test_compact_scores_keep_every_value_in_less_memory():
    plain = _scores(20_000)
    compact = compact_scores(plain)
    assert list(compact.columns) == list(plain.columns)
    assert all(isinstance(compact[c].dtype, pd.CategoricalDtype)
               for c in ("member_id", "offer_type", "offer_id"))
    pd.testing.assert_frame_equal(compact.astype({c: "str" for c in plain.columns[:3]}), plain)
    assert compact.memory_usage(deep=True).sum() < 0.6 * plain.memory_usage(deep=True).sum()


def test_compact_scores_are_written_as_strings_and_read_as_the_plain_ones(tmp_path):
    plain = _scores(500)
    wide = {}
    for name, frame in (("plain", plain), ("compact", compact_scores(plain))):
        writer = artifacts.start_version(tmp_path / name)
        writer.save_frame(schema.UPLIFT_SCORES, frame)
        writer.commit({"as_of": "2026-01-01"})
        version = artifacts.open_version(tmp_path / name)
        # Other readers see string values: pyarrow, and DuckDB (as Spark, a Parquet reader).
        path = version.path / f"{schema.UPLIFT_SCORES}.parquet"
        assert pq.read_table(path)["member_id"].to_pylist() == plain["member_id"].tolist()
        types = duckdb.sql(f"SELECT typeof(member_id), typeof(offer_type), typeof(offer_id) "
                           f"FROM read_parquet('{path}') LIMIT 1").fetchone()
        assert types == ("VARCHAR", "VARCHAR", "VARCHAR")
        wide[name] = read_uplift_spend(version)
    assert wide["plain"].shape == (500, 3)
    pd.testing.assert_frame_equal(wide["compact"], wide["plain"])

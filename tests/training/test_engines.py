"""``offers train --engine duckdb``: the features step on DuckDB gives the pandas frames."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from features.errors import ConfigError
from features.item_features import build_item_features
from features.loading import load_dataset
from features.member_features import build_member_features
from offers.cli import main
from training.config import load_config
from training.engines import duckdb_features
from training.pipeline import train


def test_duckdb_features_step_equals_the_pandas_step(synth_data):
    ds = load_dataset(synth_data)
    as_of = pd.Timestamp("2025-11-01")
    cfg = load_config()["features"]
    members, items = duckdb_features(ds, as_of, cfg, memory_limit="200MB")
    want = build_member_features(
        ds, as_of, n_categories=cfg["n_categories"], trend_days=cfg["trend_days"]
    )
    pd.testing.assert_frame_equal(members, want, rtol=1e-9)
    pd.testing.assert_frame_equal(
        items, build_item_features(ds.transactions, ds.items, as_of), rtol=1e-9
    )


def test_an_unknown_engine_is_refused_before_anything_is_written(synth_data, tmp_path):
    with pytest.raises(ConfigError, match="engine='polars' is not one of"):
        train(synth_data, tmp_path / "art", engine="polars")
    assert not (tmp_path / "art").exists()


def test_memory_limit_without_duckdb_is_a_usage_error(synth_data, tmp_path):
    result = CliRunner().invoke(
        main, ["train", str(synth_data), "--out", str(tmp_path / "a"), "--memory-limit", "1GB"]
    )
    assert result.exit_code == 2
    assert "--memory-limit applies to --engine duckdb only" in result.output
    assert not (tmp_path / "a").exists()


def test_train_command_passes_the_engine_and_memory_limit_on(synth_data, tmp_path, monkeypatch):
    import training.pipeline

    seen = {}

    def fake_train(data_dir, artifacts_dir, **kwargs):
        seen.update(kwargs)
        raise ConfigError("stop here")

    monkeypatch.setattr(training.pipeline, "train", fake_train)
    args = [
        "train",
        str(synth_data),
        "--out",
        str(tmp_path / "a"),
        "--engine",
        "duckdb",
        "--memory-limit",
        "1GB",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "error: stop here" in result.output
    assert seen["engine"] == "duckdb" and seen["memory_limit"] == "1GB"

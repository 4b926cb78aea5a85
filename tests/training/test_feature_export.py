"""``offers features``: both engines write the same table; bad input writes nothing."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from offers.cli import main

AS_OF = "2025-11-01"


@pytest.fixture(scope="module")
def exported(synth_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    runner = CliRunner()
    frames = {}
    for engine in ("pandas", "duckdb"):
        path = out / f"{engine}.parquet"
        result = runner.invoke(
            main,
            ["features", str(synth_data), "--as-of", AS_OF, "--out", str(path), "--engine", engine],
        )
        assert result.exit_code == 0, result.output
        assert f"({engine})" in result.output
        frames[engine] = pd.read_parquet(path)
    return frames


def test_both_engines_export_the_same_member_features(exported):
    pandas, duckdb = exported["pandas"], exported["duckdb"]
    assert list(pandas.columns[:2]) == ["member_id", "recency_days"]
    assert len(pandas) > 100
    pd.testing.assert_frame_equal(duckdb, pandas, rtol=1e-9)


def test_item_level_export_matches_across_engines(synth_data, tmp_path):
    runner = CliRunner()
    frames = []
    for engine in ("pandas", "duckdb"):
        path = tmp_path / f"{engine}.csv"
        args = [
            "features",
            str(synth_data),
            "--as-of",
            AS_OF,
            "--out",
            str(path),
            "--engine",
            engine,
            "--level",
            "item",
        ]
        assert runner.invoke(main, args).exit_code == 0
        frames.append(pd.read_csv(path))
    assert frames[0]["item_id"].is_unique and (frames[0]["popularity"] > 0).any()
    pd.testing.assert_frame_equal(frames[1], frames[0], rtol=1e-9)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--as-of", "soon"], "--as-of 'soon' is not a date"),
        (["--as-of", AS_OF, "--out", "{d}/f.xlsx"], "unsupported file type '.xlsx'"),
        (
            ["--as-of", AS_OF, "--engine", "duckdb", "--memory-limit", "lots"],
            "DuckDB refused memory_limit='lots'",
        ),
        (
            ["--as-of", AS_OF, "--engine", "duckdb", "--memory-limit", "1MB"],
            "DuckDB ran out of memory under --memory-limit 1MB",
        ),
    ],
)
def test_bad_options_fail_with_a_clear_error_and_write_nothing(
    synth_data, tmp_path, extra, message
):
    args = ["features", str(synth_data), "--out", str(tmp_path / "f.parquet"), *extra]
    result = CliRunner().invoke(main, [a.format(d=tmp_path) for a in args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert list(tmp_path.iterdir()) == []


def test_invalid_data_gives_the_loader_errors_and_writes_nothing(make_data_dir, tmp_path):
    data = make_data_dir(transactions="member_id,timestamp,item_id,quantity\nm1,2024-01-01,i1,1\n")
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(
        main, ["features", str(data), "--as-of", "2024-02-01", "--out", str(out / "f.parquet")]
    )
    assert result.exit_code == 1
    assert "amount" in result.output and "error:" in result.output
    assert list(out.iterdir()) == []

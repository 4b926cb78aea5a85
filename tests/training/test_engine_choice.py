"""``offers train --engine auto`` (the default): the engine chosen from the data's size.

pandas while the lines fit in memory, DuckDB above :data:`AUTO_MAX_LINES` lines or
with a memory limit, Spark for a URL or Spark options; the lines counted from
Parquet footers (exact) or a CSV file's size (estimated), never read.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import training.engine_choice as engine_choice
from features.errors import DataError
from offers.cli import main
from tests.features.test_parquet_parts import hive_data, parts_data  # noqa: F401 (fixtures)
from training.engine_choice import choose_engine, count_lines


def test_the_lines_are_counted_from_the_footers_and_estimated_from_a_csv_size(
        synth_data, parts_data, hive_data, make_data_dir, tmp_path):  # noqa: F811
    import pandas as pd
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(synth_data / "transactions.parquet").metadata.num_rows
    assert rows > 10_000
    assert count_lines(synth_data) == (rows, True)
    assert count_lines(parts_data) == (rows, True)  # the parts' footers summed
    assert count_lines(hive_data) == (rows, True)  # and the partitions' (not _temporary/)
    assert count_lines(make_data_dir()) == (3, True)  # a small CSV: counted
    no_newline = make_data_dir("last", transactions="member_id,timestamp,item_id,quantity,"
                               "amount,basket_id\n1,2024-01-02T10:00:00,A,1,3.5,b1")
    assert count_lines(no_newline) == (1, True)
    big = tmp_path / "big"
    big.mkdir()
    csv = big / "transactions.csv"
    pd.read_parquet(synth_data / "transactions.parquet").to_csv(csv, index=False)
    with open(csv) as handle:
        want = sum(1 for _ in handle) - 1
    assert csv.stat().st_size > 1 << 20  # estimated, not counted
    got, exact = count_lines(big)
    assert not exact and abs(got - want) / want < 0.05, (got, want)
    assert count_lines(tmp_path / "nothing") is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "transactions.parquet").write_bytes(b"not parquet")
    assert count_lines(tmp_path / "broken") is None


def test_auto_picks_spark_then_a_memory_limit_then_the_size(synth_data, monkeypatch):
    lines, _ = count_lines(synth_data)
    assert choose_engine(synth_data.as_uri()).engine == "spark"
    assert choose_engine(synth_data, spark=True).engine == "spark"
    choice = choose_engine(synth_data, memory_limit="1GB")
    assert (choice.engine, choice.reason) == ("duckdb", "a memory limit (1GB) was given: "
                                              "out of core")
    choice = choose_engine(synth_data)
    assert choice.engine == "pandas" and f"{lines:,} transaction lines, at most" in choice.reason
    monkeypatch.setattr(engine_choice, "AUTO_MAX_LINES", lines - 1)
    choice = choose_engine(synth_data)
    assert choice.engine == "duckdb" and choice.reason == (
        f"{lines:,} transaction lines, more than {lines - 1:,}: out of core")
    monkeypatch.setattr(engine_choice, "AUTO_MAX_LINES", lines)
    assert choose_engine(synth_data).engine == "pandas"


@pytest.mark.parametrize("limit, options, want", [
    (None, [], "pandas"), (0, [], "duckdb"), (None, ["--memory-limit", "2GB"], "duckdb"),
    (None, ["--engine", "pandas"], "pandas"), (0, ["--engine", "pandas"], "pandas")])
def test_train_says_which_engine_auto_chose_and_trains_on_it(synth_data, tmp_path, monkeypatch,
                                                             limit, options, want):
    """The CLI's default is auto; it prints the choice and hands it to the pipeline (stopped
    there: what follows is the pipeline's own tests')."""
    import training.pipeline

    if limit is not None:
        monkeypatch.setattr(engine_choice, "AUTO_MAX_LINES", limit)
    seen = {}

    def stop(data_dir, artifacts_dir, **kwargs):
        seen.update(kwargs)
        raise DataError("stopped by the test")

    monkeypatch.setattr(training.pipeline, "train", stop)
    out = tmp_path / "artifacts"
    result = CliRunner().invoke(main, ["train", str(synth_data), "--out", str(out), *options])
    assert result.exit_code == 1 and "error: stopped by the test" in result.output
    assert seen.get("engine", "pandas") == want
    chose = f"engine: {want} (auto: "
    assert (chose in result.output) == ("--engine" not in options), result.output


def test_the_python_api_takes_auto_too(synth_data, tmp_path, monkeypatch):
    """``train(engine="auto")`` resolves as the CLI does before anything is loaded."""
    import training.pipeline

    seen = []

    def stop(engine, data_dir, **kwargs):
        seen.append(engine)
        raise DataError("stopped by the test")

    monkeypatch.setattr(training.pipeline, "load_for_engine", stop)
    monkeypatch.setattr(engine_choice, "AUTO_MAX_LINES", 0)
    for options, want in (({}, "duckdb"), ({"memory_limit": "1GB"}, "duckdb"),
                          ({"spark_master": "local[1]"}, "spark")):
        with pytest.raises(DataError, match="stopped by the test"):
            training.pipeline.train(synth_data, tmp_path / "a", engine="auto", **options)
        assert seen[-1] == want
    monkeypatch.setattr(engine_choice, "AUTO_MAX_LINES", 10**12)
    with pytest.raises(DataError, match="stopped by the test"):
        training.pipeline.train(synth_data, tmp_path / "a", engine="auto")
    assert seen[-1] == "pandas" and not (tmp_path / "a").exists()


def test_the_help_states_the_threshold_auto_uses():
    import re

    for command in ("train", "kpis"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0
        text = re.sub(r"\s+", " ", result.output)
        assert f"pandas up to {engine_choice.AUTO_MAX_LINES:,} transaction lines" in text, command

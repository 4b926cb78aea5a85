"""Batch exports stream in chunks to one file or a directory of Parquet parts (issue 11)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from offers.cli import main
from training import exports
from training.artifacts.store import open_version


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 64 members, so the ~590 members the model knows come in 10 chunks."""
    monkeypatch.setattr(exports, "BATCH", 64)


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_recommend_chunks_are_the_whole_table_in_order(trained_artifacts, small_batches):
    out, version = trained_artifacts
    v = open_version(out, version)
    chunks = list(exports.recommend_chunks(v, k=3))
    assert len(chunks) == 10 and all(c["member_id"].nunique() <= 64 for c in chunks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exports, "BATCH", 100_000)
        whole = exports.recommend_long(v, k=3)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


@pytest.mark.parametrize("level", ["item", "category"])
def test_recommend_all_streams_the_same_rows_to_a_file_or_parts(trained_artifacts, tmp_path,
                                                              small_batches, level):
    out, version = trained_artifacts
    whole = exports.recommend_long(open_version(out, version), k=3, level=level)
    expected = tmp_path / "whole.csv"
    whole.to_csv(expected, index=False)  # what the command wrote before it streamed

    common = ["recommend", out, "--all", "--k", "3", "--level", level]
    said = run(*common, "--out", tmp_path / "recs.csv")
    assert (tmp_path / "recs.csv").read_bytes() == expected.read_bytes()
    assert f"wrote {len(whole)} rows for {whole['member_id'].nunique()} members" in said

    run(*common, "--out", tmp_path / "recs.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "recs.parquet"),
                                  pd.read_parquet(_parquet(whole, tmp_path)))
    run(*common, "--out", f"{tmp_path / 'parts'}/")
    parts = sorted((tmp_path / "parts").iterdir())
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(10)]
    together = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(together, pd.read_parquet(_parquet(whole, tmp_path)))


def _parquet(frame, tmp_path):
    path = tmp_path / "whole.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_recommend_to_a_directory_with_other_files_is_refused_before_work(trained_artifacts,
                                                                       tmp_path):
    out, _ = trained_artifacts
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    result = CliRunner().invoke(main, ["recommend", str(out), "--all",
                                       "--out", f"{tmp_path / 'mine'}/"])
    assert result.exit_code == 1
    assert "holds files that are not Parquet parts ('notes.txt', ...)" in result.output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_score_streams_the_same_table_with_horizon_columns(trained_artifacts, tmp_path,
                                                           small_batches):
    out, version = trained_artifacts
    v = open_version(out, version)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exports, "BATCH", 100_000)  # one frame of every member, as before
        whole = exports.member_scores(v, horizons=(30, 90))
    assert len(whole) == 600 and list(whole.columns[-3:]) == [
        "churn_risk_90d", "expected_spend_90d", "mean_spend_90d"]
    expected = tmp_path / "whole.csv"
    whole.to_csv(expected, index=False)

    common = ["score", out, "--horizon-days", "30", "--horizon-days", "90"]
    assert "wrote 600 members" in run(*common, "--out", tmp_path / "scores.csv")
    assert (tmp_path / "scores.csv").read_bytes() == expected.read_bytes()
    run(*common, "--out", f"{tmp_path / 'parts'}/")
    assert len(list((tmp_path / "parts").iterdir())) == 10
    whole.to_parquet(tmp_path / "whole.parquet", index=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "parts"),
                                  pd.read_parquet(tmp_path / "whole.parquet"))


def test_campaign_writes_parts_and_holdout_parts(trained_artifacts, synth_data, tmp_path,
                                                  monkeypatch):
    out, _ = trained_artifacts
    monkeypatch.setattr("features.frame_sink.PART_ROWS", 7)
    common = ["campaign", out, "--budget", "40", "--now", "2026-12-01T10:00",
              "--campaign", "c1"]
    run(*common, "--out", tmp_path / "offers.parquet")
    said = run(*common, "--out", f"{tmp_path / 'offers'}/")
    assert f"wrote {tmp_path / 'offers'} and {tmp_path / 'offers.holdouts'}" in said
    for name in ("offers", "offers.holdouts"):
        whole = pd.read_parquet(tmp_path / f"{name}.parquet")
        parts = sorted((tmp_path / name).iterdir())
        assert len(parts) == max(1, -(-len(whole) // 7))
        pd.testing.assert_frame_equal(
            pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True), whole)
    assert len(pd.read_parquet(tmp_path / "offers.parquet")) > 7  # really split

    lifts = []  # offers lift reads the holdout parts as it reads the file
    for holdouts in (tmp_path / "offers.holdouts.parquet", tmp_path / "offers.holdouts"):
        run("lift", synth_data, "--holdouts", holdouts, "--out", tmp_path / "lift.csv")
        lifts.append((tmp_path / "lift.csv").read_bytes())
    assert lifts[0] == lifts[1]


def test_campaign_refuses_a_holdouts_directory_it_would_clobber(trained_artifacts, tmp_path):
    out, _ = trained_artifacts
    (tmp_path / "offers.holdouts").mkdir()
    (tmp_path / "offers.holdouts" / "mine.csv").write_text("x")
    result = CliRunner().invoke(main, ["campaign", str(out), "--budget", "40",
                                       "--out", f"{tmp_path / 'offers'}/"])
    assert result.exit_code == 1 and "holds files that are not Parquet parts" in result.output
    assert not (tmp_path / "offers").exists()

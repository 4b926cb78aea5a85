"""``offers predict-response`` on a version trained by the real pipeline."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from offers.cli import main


def test_predict_response_writes_scored_sends_with_statuses(trained_artifacts, tmp_path):
    artifacts_dir, _ = trained_artifacts
    from serving.engine import load_bundle

    member = str(load_bundle(artifacts_dir).members.ids[0])
    sends = tmp_path / "sends.csv"
    pd.DataFrame({"member_id": [member, "nobody", "bad id!", member],
                  "offer_id": ["double-points", "double-points", "double-points", "nope"],
                  "channel": ["email", "app", "email", ""]}).to_csv(sends, index=False)
    out = tmp_path / "scored.parquet"
    result = CliRunner().invoke(main, ["predict-response", str(artifacts_dir), "--sends",
                                       str(sends), "--out", str(out), "--now", "2026-01-05"])
    assert result.exit_code == 0, result.output
    assert "scored 4 sends" in result.output
    scored = pd.read_parquet(out)
    assert list(scored["status"]) == ["ok", "unknown_member", "malformed_member_id",
                                      "unknown_offer"]
    assert scored["p_redeem"].iloc[:2].between(0, 1).all()
    assert scored["p_redeem"].iloc[2:].isna().all()


def test_predict_response_names_a_missing_column(trained_artifacts, tmp_path):
    sends = tmp_path / "sends.csv"
    sends.write_text("member,offer_id\nM1,double-points\n")
    result = CliRunner().invoke(main, ["predict-response", str(trained_artifacts[0]),
                                       "--sends", str(sends), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert result.output.startswith("error: the sends lack column(s) ['member_id']")
    assert not (tmp_path / "o.csv").exists()

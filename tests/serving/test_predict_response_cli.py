"""``offers predict-response`` on a version trained by the real pipeline."""

from __future__ import annotations

import pandas as pd
import pytest
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


def test_predict_response_scores_the_datas_own_offers_with_the_learned_model(
        trained_artifacts, synth_data, tmp_path):
    from features.loading import load_dataset
    from models.offer_response import compute_affinity
    from serving.engine import load_bundle
    from serving.engine.data_offers import DataOffers

    bundle = load_bundle(trained_artifacts[0])
    data = DataOffers(bundle, synth_data)
    offer = sorted(data.offer_ids)[-1]  # an offer of the data, not a catalog template
    members = [str(m) for m in bundle.members.ids[:3]]
    sends = tmp_path / "sends.csv"
    pd.DataFrame({"member_id": [*members, "nobody"], "offer_id": [offer] * 4}).to_csv(
        sends, index=False)
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(main, ["predict-response", str(trained_artifacts[0]), "--sends",
                                       str(sends), "--out", str(out), "--data", str(synth_data)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert list(scored["status"]) == ["ok"] * 3 + ["unknown_member"]
    assert list(scored["source"]) == ["data"] * 4
    specs = data.specs[data.specs["offer_id"] == offer].reset_index(drop=True)
    model = bundle.response.model
    features = pd.DataFrame(bundle.response.members[:3], index=members,
                            columns=model.member_columns_)
    affinity = compute_affinity(load_dataset(synth_data), specs, bundle.as_of, members)
    expected = model.predict_proba(features, specs, affinity)[:, 0]
    assert scored["p_redeem"].iloc[:3].to_numpy() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name, content, words", [
    ("sends.csv", b"", "is empty"),
    ("sends.csv", b"member_id,offer_id\n\xd0\xcf\x11\xe0,double-points\n", "not UTF-8"),
    ("sends.parquet", b"member_id,offer_id\n1,double-points\n", "cannot be read as Parquet"),
])
def test_an_unreadable_sends_file_is_one_error_line(tmp_path, monkeypatch, name, content, words):
    """An empty file, a binary one or a CSV named .parquet was pandas' or pyarrow's
    traceback; now one ``error:`` line naming the file, before any model is loaded."""
    monkeypatch.setattr("serving.cli.offers._engine", lambda *a: pytest.fail("loaded"))
    sends = tmp_path / name
    sends.write_bytes(content)
    result = CliRunner().invoke(main, ["predict-response", str(tmp_path), "--sends", str(sends),
                                       "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: sends file {sends} ") and words in result.output
    assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize("content, words", [(b"", "is empty"), (b"\xff\xfe1\n", "not UTF-8")])
def test_an_unreadable_members_file_is_one_error_line(tmp_path, monkeypatch, content, words):
    monkeypatch.setattr("serving.cli.offers._engine", lambda *a: object())
    members = tmp_path / "members.csv"
    members.write_bytes(content)
    result = CliRunner().invoke(main, ["campaign", str(tmp_path), "--members", str(members),
                                       "--budget", "5", "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: members file {members} ") and words in result.output
    assert len(result.output.splitlines()) == 1


def test_an_unreadable_history_file_is_one_error_line(tmp_path, monkeypatch):
    from types import SimpleNamespace

    engine = SimpleNamespace(decide_with_record=lambda *a, **k: pytest.fail("decided"))
    monkeypatch.setattr("serving.cli.offers._engine", lambda *a: engine)
    history = tmp_path / "events.csv"
    history.write_bytes(b"")
    result = CliRunner().invoke(main, ["decide", str(tmp_path), "1029", "--history",
                                       str(history)])
    assert result.exit_code == 1, result.output
    assert result.output == (f"error: history file {history} is empty; it needs a header "
                             "line and rows.\n")

"""Serving configuration (file, environment, keys) and the `serve`, `apikey`, `events` commands."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from click.testing import CliRunner

from features.errors import ConfigError
from serving.api.auth import KeyRing
from serving.cli.events import events_group
from serving.cli.serve import apikey, serve
from serving.config import load_serve_config, parse_api_keys
from serving.store import StoredEvent, open_store
from tests.faults.fault_helpers import free_port

KEY = "k" * 24


def test_file_then_environment_then_overrides(tmp_path):
    path = tmp_path / "serve.toml"
    path.write_text(f'events_db = "file.sqlite3"\nbatch_max_members = 7\n'
                    f'[api_keys]\n"{KEY}" = ["read"]\n')
    config = load_serve_config(path, env={"OFFERS_API_KEYS": f"{'e' * 20}:events,admin",
                                          "OFFERS_EVENTS_DB": "env.sqlite3"},
                               ARTIFACTS_DIR="arts")
    assert config["API_KEYS"] == {KEY: ["read"], "e" * 20: ["events", "admin"]}
    assert config["EVENTS_DB"] == "env.sqlite3" and config["BATCH_MAX_MEMBERS"] == 7
    assert config["ARTIFACTS_DIR"] == "arts"


@pytest.mark.parametrize("text, fragment", [
    ("colour = 1\n", "unknown setting(s) colour"),
    ("batch_max_members = \n", "not valid TOML"),
    ('[api_keys]\n"short" = ["read"]\n', "shorter than 16"),
    (f'[api_keys]\n"{KEY}" = ["write"]\n', "unknown scope(s) write"),
    (f'[api_keys]\n"{KEY}" = []\n', "has no scopes"),
])
def test_bad_config_files_name_the_problem(tmp_path, text, fragment):
    path = tmp_path / "serve.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_serve_config(path, env={})


def test_api_keys_from_the_environment():
    assert parse_api_keys(f" {KEY}:read, events ; {'a' * 16}:admin;") == {
        KEY: ["read", "events"], "a" * 16: ["admin"]}
    with pytest.raises(ConfigError, match="has no ':'"):
        parse_api_keys("justakey")
    with pytest.raises(ConfigError) as info:
        load_serve_config(env={"OFFERS_API_KEYS": "short-secret:read"})
    assert "short-secret" not in str(info.value)  # a key is never echoed


def test_key_ring_matches_whole_keys_only():
    ring = KeyRing({KEY: ["read"], "b" * 20: ["admin", "events"]})
    assert ring.scopes(KEY) == {"read"} and ring.scopes("b" * 20) == {"admin", "events"}
    assert ring.scopes(KEY[:-1]) is None and ring.scopes(KEY + "k") is None
    assert ring.scopes("") is None


def test_apikey_prints_a_usable_entry():
    result = CliRunner().invoke(apikey, ["--scopes", "read,events"])
    assert result.exit_code == 0
    key, scopes = result.output.strip().rsplit(":", 1)
    assert scopes == "read,events" and len(key) >= 32
    assert parse_api_keys(result.output.strip()) == {key: ["read", "events"]}
    assert CliRunner().invoke(apikey, ["--scopes", "root"]).exit_code != 0


def test_serve_refuses_to_start_without_a_key(trained_artifacts, monkeypatch):
    monkeypatch.delenv("OFFERS_API_KEYS", raising=False)
    # A free port: a server a developer left on 8000 must not turn this into a port error.
    port = str(free_port())
    result = CliRunner().invoke(serve, [str(trained_artifacts[0]), "--port", port])
    assert result.exit_code == 1 and "no API key configured" in result.output
    assert "--open" in result.output


def test_events_export_command(tmp_path):
    db = tmp_path / "events.sqlite3"
    store = open_store(db)
    store.add([StoredEvent("x1", "7", "double-points", "sent",
                           datetime(2025, 5, 1, tzinfo=timezone.utc), "email", "spring")])
    store.close()
    out = tmp_path / "data"
    runner = CliRunner()
    result = runner.invoke(events_group, ["export", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "offer_events.csv", dtype=str)
    assert frame.to_dict("records") == [{
        "member_id": "7", "offer_id": "double-points", "event": "sent",
        "timestamp": "2025-05-01T00:00:00.000000", "channel": "email", "campaign_id": "spring",
        "event_id": "x1"}]
    again = runner.invoke(events_group, ["export", "--db", str(db), "--out", str(out)])
    assert again.exit_code != 0 and "--merge" in str(again.exception)  # `offers` prints it
    missing = runner.invoke(events_group, ["export", "--db", str(tmp_path / "no.sqlite3"),
                                           "--out", str(out)])
    assert missing.exit_code != 0 and "does not exist" in missing.output

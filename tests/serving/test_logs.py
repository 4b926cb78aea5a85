"""Structured logs: ``--log-format json`` gives one JSON object per line, ours and gunicorn's.

Guards issue 14: access lines with the request's fields, the path of a 404 named,
never an API key or Authorization header.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gunicorn.config import Config
from keys import READ

from serving import create_app
from serving.log_format import JsonFormatter, JsonGunicornLogger, configure_logging


@pytest.fixture(scope="module")
def app(make_config, trained_artifacts, tmp_path_factory):
    app = create_app(make_config(trained_artifacts[0], tmp_path_factory.mktemp("logs")))
    yield app
    app.extensions["offers_store"].close()


@pytest.fixture
def access_lines():
    """The JSON lines the access logger writes while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("serving.access")
    old_level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    access.removeHandler(handler)
    access.setLevel(old_level)


def test_an_access_line_is_one_json_object_with_the_request_fields(app, access_lines):
    client = app.test_client()
    response = client.get("/v1/members/1029/offers?channel=email",
                          headers={"Authorization": f"Bearer {READ}", "X-Request-ID": "rid-1"})
    assert response.status_code == 200
    (line,) = access_lines()
    assert line["level"] == "info" and line["logger"] == "serving.access"
    assert line["time"].endswith("Z") and line["message"]
    assert line["method"] == "GET" and line["status"] == 200
    assert line["route"] == "/v1/members/<member_id>/offers"
    assert line["request_id"] == "rid-1" and line["member_id"] == "1029"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_the_access_log_names_the_path_of_a_404_and_never_a_key(app, access_lines):
    client = app.test_client()
    client.get("/v1/no-such/thing?api_key=secret-in-query",
               headers={"Authorization": f"Bearer {READ}"})
    client.get("/v1/members/1029", headers={"Authorization": "Bearer wrong-key-0123456789"})
    first, second = access_lines()
    assert first["status"] == 404 and first["path"] == "/v1/no-such/thing"
    assert "/v1/no-such/thing" in first["message"] and first.get("route") is None
    assert second["status"] == 401
    text = json.dumps([first, second])
    for secret in (READ, "wrong-key-0123456789", "secret-in-query", "Bearer", "Authorization"):
        assert secret not in text


def test_a_malformed_member_id_is_not_logged_as_one(app, access_lines):
    app.test_client().get("/v1/members/bad%20id/offers",
                          headers={"Authorization": f"Bearer {READ}"})
    (line,) = access_lines()
    assert line["status"] == 400 and "member_id" not in line
    assert "member=(malformed)" in line["message"]


def test_gunicorn_lines_are_json_too(tmp_path):
    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("loglevel", "info")
    log = JsonGunicornLogger(cfg)
    log.info("Booting worker with pid: %s", 42)
    log.error("Connection in use: %s", ("127.0.0.1", 8000))
    log.access_log.info("GET /healthz 200")
    for handler in log.error_log.handlers + log.access_log.handlers:
        handler.close()
    lines = [json.loads(line) for name in ("error.log", "access.log")
             for line in (tmp_path / name).read_text().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("info", "Booting worker with pid: 42"),
        ("error", "Connection in use: ('127.0.0.1', 8000)"),
        ("info", "GET /healthz 200")]
    assert {line["logger"] for line in lines} == {"gunicorn.error", "gunicorn.access"}


def test_plain_text_stays_the_default(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging()
        logging.getLogger("serving.test").warning("hello %s", "there")
        text = capsys.readouterr().err.strip()
        configure_logging("json")
        logging.getLogger("serving.test").warning("hello %s", "there")
        line = json.loads(capsys.readouterr().err.strip())
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert text.endswith("WARNING serving.test: hello there")
    assert line["message"] == "hello there" and line["level"] == "warning"
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("xml")


@pytest.mark.slow
def test_offers_serve_log_format_json_writes_only_json_lines(trained_artifacts, tmp_path):
    """The real server: gunicorn's start-up and worker lines and the access lines, all JSON."""
    port = free_port()
    env = {**os.environ, "OFFERS_API_KEYS": f"{READ}:read"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from serving.cli.serve import serve; serve()",
             str(trained_artifacts[0]), "--workers", "1", "--port", str(port),
             "--events-db", str(tmp_path / "events.sqlite3"), "--log-format", "json"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/no/such/path",
                headers={"Authorization": f"Bearer {READ}"}), timeout=5)
        missing.value.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert "gunicorn.error" in loggers and "serving.access" in loggers
    assert any(line.get("path") == "/no/such/path" and line.get("status") == 404
               for line in lines)
    assert READ not in log.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_text_formatter_writes_what_logging_writes():
    """Its time is formatted once a second (issue 14); the lines are logging.Formatter's."""
    from serving.log_format import TEXT_FORMAT, TextFormatter

    ours, reference = TextFormatter(), logging.Formatter(TEXT_FORMAT)
    for created in (1_764_800_000.001, 1_764_800_000.999, 1_764_800_001.5, 1_764_800_000.25):
        record = logging.LogRecord("serving.access", logging.INFO, __file__, 1, "GET %s %d",
                                   ("/v1/x", 200), None)
        record.created, record.msecs = created, (created % 1) * 1000
        assert ours.format(record) == reference.format(record)
    record.created += 86_400 * 180  # another day (and maybe another UTC offset)
    assert ours.format(record) == reference.format(record)


def test_a_fast_path_access_line_has_the_request_fields(app, access_lines):
    got = app.test_client().get("/v1/members/unknown-3/offers?channel=email",
                                headers={"Authorization": f"Bearer {READ}",
                                         "X-Request-ID": "rid-1"})
    assert got.status_code == 200
    (line,) = access_lines()
    assert line["message"].startswith("GET /v1/members/<member_id>/offers 200 ")
    assert line["message"].endswith(" rid=rid-1 member=unknown-3")
    assert (line["route"], line["status"], line["member_id"]) == (
        "/v1/members/<member_id>/offers", 200, "unknown-3")


def test_a_refused_start_is_a_json_line_too(tmp_path):
    """``--log-format json`` promises JSON lines only; a start refused (here: the port is
    taken) printed the plain ``error: ...`` line. Without json it stays that line."""
    from click.testing import CliRunner

    from offers.cli import main

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = str(taken.getsockname()[1])
            as_json = CliRunner().invoke(main, ["serve", str(tmp_path), "--port", port, "--open",
                                                "--log-format", "json"])
            as_text = CliRunner().invoke(main, ["serve", str(tmp_path), "--port", port,
                                                "--open"])
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    message = f"port {port} on 127.0.0.1 is in use; pick another with --port"
    assert as_json.exit_code == 1 and as_text.exit_code == 1
    (line,) = as_json.output.splitlines()
    assert json.loads(line)["level"] == "error" and json.loads(line)["message"] == message
    assert as_text.output == f"error: {message}\n"

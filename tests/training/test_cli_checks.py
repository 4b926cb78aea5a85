"""The command line: options checked before any work, one error style, exit codes.

Guards issue 14: a wrong ``--out`` extension or ``--as-of`` failed only after the
work was done; errors had two styles (``Error:`` and ``error:``); ``offers serve``
on a port in use let gunicorn retry and log; ``offers decide`` took any member id.
"""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from offers.cli import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def no_work(monkeypatch):
    """Make every heavy step fail loudly: a check that runs first never reaches them."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the work started before the options were checked")

    monkeypatch.setattr("training.pipeline.train", forbidden)
    monkeypatch.setattr("training.cli.exports.open_version", forbidden)
    monkeypatch.setattr("serving.cli.offers._engine", forbidden)
    monkeypatch.setattr("features.loading.load_dataset", forbidden)


@pytest.mark.parametrize("args, option", [
    (["train", "{d}", "--out", "{d}/a", "--as-of", "last tuesday"], "--as-of"),
    (["train", "{d}", "--out", "{d}/a", "--as-of", "2017-13-45"], "--as-of"),
    (["score", "{d}", "--out", "{d}/scores.xlsx"], "--out"),
    (["score", "{d}", "--out", "{d}/s.csv", "--horizon-days", "0"], "--horizon-days"),
    (["score", "{d}", "--out", "{d}/s.csv", "--horizon-days", "-30"], "--horizon-days"),
    (["score", "{d}", "--out", "{d}/s.csv", "--horizon-days", "61.5"], "--horizon-days"),
    (["score", "{d}", "--out", "{d}/s.csv", "--horizon-days", "3651"], "--horizon-days"),
    (["recommend", "{d}", "--all", "--out", "{d}/recs.json"], "--out"),
    (["recommend", "{d}", "--all", "--out", "{d}/recs"], "--out"),
    (["campaign", "{d}", "--budget", "10", "--out", "{d}/offers.txt"], "--out"),
    (["lift", "{d}", "--out", "{d}/lift.xls"], "--out"),
    (["decide", "{d}", "1029", "--now", "soon"], "--now"),
    (["campaign", "{d}", "--budget", "10", "--out", "{d}/o.csv", "--now", "soon"], "--now"),
    (["features", "{d}", "--as-of", "someday", "--out", "{d}/f.parquet"], "--as-of"),
    (["features", "{d}", "--as-of", "2017-12-01", "--out", "{d}/f.xlsx"], "--out"),
])
def test_options_are_checked_before_any_work(runner, no_work, tmp_path, args, option):
    result = runner.invoke(main, [a.format(d=tmp_path) for a in args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ") and len(result.output.splitlines()) == 1
    assert ("use .csv or .parquet" if option == "--out" else option) in result.output


@pytest.mark.parametrize("args, words", [
    (["lift", "{d}", "--arms", "{d}/arms.csv", "--plot", "{d}/arms.txt"], "--plot"),
    (["lift", "{d}", "--arms", "{d}/arms.csv", "--plot", "{d}/arms"], "--plot"),
    (["predict-response", "{d}", "--sends", "{d}/arms.csv", "--out", "{d}/p.xlsx"],
     "use .csv or .parquet"),
    (["predict-response", "{d}", "--sends", "{d}/arms.csv", "--out", "{d}/p.csv",
      "--now", "soon"], "--now"),
    (["events", "export", "--db", "{d}/arms.csv", "--out", "{d}/events.json"],
     "use .csv, .parquet or a directory"),
    (["events", "export", "--db", "{d}/arms.csv", "--out", "{d}/d.txt", "--decisions"],
     "use .csv, .parquet, .jsonl or a directory"),
])
def test_output_names_of_commands_reading_a_file_are_checked_first(runner, no_work, tmp_path,
                                                                   monkeypatch, args, words):
    """A plot or export name the command cannot write fails before anything is read: a
    --plot of .txt was a matplotlib traceback after the work, --out events.json a directory."""
    (tmp_path / "arms.csv").write_text("member_id,arm\n1,a\n")
    monkeypatch.setattr("serving.store.open_store", lambda *a, **k: pytest.fail("opened"))
    result = runner.invoke(main, [a.format(d=tmp_path) for a in args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ") and len(result.output.splitlines()) == 1
    assert words in result.output
    assert not (tmp_path / "events.json").exists()


@pytest.mark.parametrize("member", ["bad id!", "x" * 65, "_starts-with-underscore", "é"])
def test_decide_rejects_a_malformed_member_id_as_the_api_does(runner, no_work, tmp_path,
                                                              member):
    from features.errors import ApiError
    from serving.api.params import check_id

    with pytest.raises(ApiError) as api:
        check_id(member)
    result = runner.invoke(main, ["decide", str(tmp_path), member])
    assert result.exit_code == 1
    assert result.output == f"error: {api.value.message}\n"


def test_a_command_error_is_one_error_line_and_exit_1(runner, tmp_path):
    (tmp_path / "data").mkdir()
    result = runner.invoke(main, ["kpis", str(tmp_path / "data")])  # no transactions file
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: ") and "Error:" not in result.output
    assert "Traceback" not in result.output


def test_a_usage_error_stays_clicks_exit_2(runner):
    result = runner.invoke(main, ["score"])
    assert result.exit_code == 2 and "Usage:" in result.output


def test_serve_on_a_port_in_use_says_so_once_and_exits_1(runner, tmp_path, monkeypatch):
    monkeypatch.setattr("serving.server.run_gunicorn", lambda *a, **k: pytest.fail("started"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["serve", str(tmp_path), "--port", str(port), "--open"])
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: port {port} on 127.0.0.1 is in use; "
                                      "pick another with --port")


def test_an_event_store_that_is_not_a_database_is_one_error_line(runner, tmp_path,
                                                                 trained_artifacts, monkeypatch):
    """``--events-db`` naming a file that is not SQLite: every gunicorn worker failed to boot
    with a traceback (and ``offers events export`` printed one); now one error line, before
    the model is loaded or a worker starts."""
    not_a_db = tmp_path / "events.csv"
    not_a_db.write_text("event_id,member_id\n1,2\n")
    monkeypatch.setattr("serving.server.load_served", lambda *a, **k: pytest.fail("loaded"))
    for args in (["serve", str(trained_artifacts[0]), "--events-db", str(not_a_db), "--open",
                  "--port", str(_free_port())],
                 ["events", "export", "--db", str(not_a_db), "--out", str(tmp_path / "e.csv")]):
        result = runner.invoke(main, args)
        assert result.exit_code == 1, result.output
        assert result.output.splitlines()[-1] == (
            f"error: cannot open the event store {not_a_db}: file is not a database; give an "
            "SQLite database file (a new path creates one).")
        assert "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

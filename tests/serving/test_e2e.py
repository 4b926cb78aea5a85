"""End to end: `offers serve` under gunicorn on a loopback port, exercised over HTTP.

Covers what only a real multi-worker server shows: workers agreeing on a
reloaded version, a reload (admin and SIGHUP) while requests are in flight
with no failed request, metrics summed over workers, events surviving a restart.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from keys import ADMIN, ALL, EVENTS, KEYS, READ

from training.artifacts.store import set_current

pytestmark = pytest.mark.slow

SERVE = "from serving.cli.serve import serve; serve()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running `offers serve` process (the gunicorn master) and an HTTP client for it."""

    def __init__(self, artifacts: Path, events_db: Path, log: Path, workers: int = 2):
        self.port = free_port()
        self.log_path = log
        env = {**os.environ, "OFFERS_API_KEYS": ";".join(
            f"{k}:{','.join(v)}" for k, v in KEYS.items())}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVE, str(artifacts), "--workers", str(workers),
                 "--port", str(self.port), "--events-db", str(events_db)],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).parents[2])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server not ready in 90 s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def call(self, method, path, key=None, body=None, headers=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                         method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read()

    def json(self, method, path, key=None, body=None, expect=200):
        status, _, raw = self.call(method, path, key, body)
        assert status == expect, (status, raw[:500], self.log())
        return json.loads(raw)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def server_factory(artifacts_copy, tmp_path):
    started = []

    def start(**kwargs):
        server = Server(artifacts_copy[0], tmp_path / "events.sqlite3", tmp_path / "server.log",
                        **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def wait_until(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


class Traffic:
    """Threads requesting offers and recommendations until stopped; every answer is kept."""

    def __init__(self, server: Server, members: list[str], threads: int = 4):
        self.server, self.members = server, members
        self.results: list[tuple[int, str | None, str]] = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self, n: int) -> None:
        for i in range(5000):  # bounded; normally stopped long before
            if self.stopped.is_set():
                return
            member = self.members[(n + i) % len(self.members)]
            kind = "offers" if i % 2 else "recommendations"
            path = (f"/v1/members/{member}/offers?channel=email" if kind == "offers" else
                    f"/v1/members/{member}/recommendations?limit=5")
            try:
                status, headers, _ = self.server.call("GET", path, READ)
                self.results.append((status, headers.get("X-Model-Version"), kind))
            except OSError as exc:  # a refused or reset connection is a failed request
                self.results.append((599, repr(exc), kind))

    def stop(self) -> list[tuple[int, str | None, str]]:
        self.stopped.set()
        for thread in self.threads:
            thread.join(60)
        return self.results


def test_serving_over_http_with_reloads_under_load(clone_version, server_factory, artifacts_copy):
    root, v1 = artifacts_copy
    server = server_factory()
    members = [f"M{m:07d}" for m in range(1, 40)]
    model = server.json("GET", "/v1/model", READ)
    assert model["version"] == v1
    profile = server.json("GET", f"/v1/members/{members[0]}", READ)
    assert profile["known"] and profile["profile"]["segment"]
    batch = server.json("POST", "/v1/offers/batch", READ, {"member_ids": members[:5]})
    assert [r["member_id"] for r in batch["results"]] == members[:5]
    status, headers, raw = server.call("POST", "/v1/offers/batch", READ,
                                       {"member_ids": members}, {"Accept": "application/x-ndjson"})
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    assert [json.loads(line)["member_id"] for line in raw.decode().splitlines()] == members
    assert server.call("GET", "/v1/members/1")[0] == 401
    assert server.call("POST", "/v1/admin/reload", READ)[0] == 403
    assert server.json("GET", "/openapi.json")["openapi"] == "3.1.0"

    traffic = Traffic(server, members)
    try:
        assert wait_until(lambda: len(traffic.results) >= 10)  # v1 answered some first
        # 1. an admin reload of a new `current`: every worker ends up on it
        v2 = clone_version(root, v1, "20990101T000000000000Z-0002")
        set_current(root, v2)
        assert server.json("POST", "/v1/admin/reload", ADMIN)["version"] == v2
        assert wait_until(lambda: all(
            server.json("GET", "/v1/model", READ)["version"] == v2 for _ in range(10))), \
            server.log()
        # 2. SIGHUP to the master: verified, then workers replaced gracefully
        v3 = clone_version(root, v1, "20990101T000000000000Z-0003")
        set_current(root, v3)
        server.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: all(
            server.json("GET", "/v1/model", READ)["version"] == v3 for _ in range(10))), \
            server.log()
        # 3. a broken version is refused both ways; the old one keeps serving
        broken = clone_version(root, v1, "20990101T000000000000Z-0004", corrupt=True)
        set_current(root, broken)
        refused = server.json("POST", "/v1/admin/reload", ALL, expect=422)
        assert "SHA-256" in refused["error"]["message"]
        server.process.send_signal(signal.SIGHUP)
        time.sleep(3)
        assert all(server.json("GET", "/v1/model", READ)["version"] == v3 for _ in range(10))
        assert server.json("GET", "/readyz")["status"] == "ready"
        time.sleep(0.5)
    finally:
        results = traffic.stop()
    failed = [r for r in results if r[0] != 200]
    assert len(results) > 50 and not failed, (len(results), failed[:5], server.log())
    served = {version for _, version, _ in results}
    assert {v1, v3} <= served, served

    metrics = server.call("GET", "/metrics")[2].decode()
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("offers_http_requests_total{")
                  and 'endpoint="/v1/members/<member_id>/offers"' in line)
    offers_requests = sum(kind == "offers" for _, _, kind in results)
    assert counted >= offers_requests, (counted, offers_requests)  # summed over all workers
    assert f'offers_model_info{{version="{v3}"}} 1.0' in metrics


def test_events_survive_a_restart_and_change_offers(server_factory, trained_artifacts):
    server = server_factory()
    member = next(m for m in (f"M{n:07d}" for n in range(1, 200))
                  if len(server.json("GET", f"/v1/members/{m}/offers?channel=app",
                                     READ)["offers"]) >= 2)
    offered = [o["offer_id"] for o in server.json(
        "GET", f"/v1/members/{member}/offers?channel=app", READ)["offers"]]
    eight_days_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 8 * 86400))
    events = [{"event_id": f"e2e-{o}", "member_id": member, "offer_id": o, "event": "sent",
               "channel": "app", "timestamp": eight_days_ago} for o in offered]
    assert server.json("POST", "/v1/events", EVENTS, events)["stored"] == len(events)
    server.stop()
    again = server_factory()
    assert again.json("POST", "/v1/events", EVENTS, events)["duplicates"] == len(events)
    after = again.json("GET", f"/v1/members/{member}/offers?channel=app", READ)
    assert not set(offered) & {o["offer_id"] for o in after["offers"]}

"""Helpers of the fault tests: the API keys, rewriting manifests, a real `offers serve`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from training.artifacts.store import MANIFEST, sha256_file

READ = "faults-read-key-0123456789"
ADMIN = "faults-admin-key-0123456789"
EVENTS = "faults-events-key-0123456789"
KEYS = {READ: ["read"], ADMIN: ["admin"], EVENTS: ["events"]}
SIGNING_KEY = "faults-signing-key-0123456789abcdef"
SERVE = "from serving.cli.serve import serve; serve()"


def rewrite_manifest(version_dir: Path, change) -> None:
    """Apply ``change(manifest)`` to the manifest of ``version_dir`` (in place)."""
    manifest = json.loads((version_dir / MANIFEST).read_text())
    change(manifest)
    (version_dir / MANIFEST).write_text(json.dumps(manifest))


def rehash(version_dir: Path, *names: str) -> None:
    """Record the current SHA-256 of ``names`` in the manifest (as an attacker could)."""

    def update(manifest):
        for name in names:
            manifest["files"][name] = sha256_file(version_dir / name)

    rewrite_manifest(version_dir, update)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running `offers serve` (the gunicorn master) on a loopback port, with a client."""

    def __init__(self, artifacts: Path, tmp: Path, *args: str, env: dict | None = None):
        self.port = free_port()
        self.log_path = tmp / f"server-{self.port}.log"
        env = {**os.environ, "OFFERS_API_KEYS": ";".join(
            f"{k}:{','.join(v)}" for k, v in KEYS.items()), **(env or {})}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVE, str(artifacts), "--port", str(self.port),
                 "--events-db", str(tmp / "events.sqlite3"), *args],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).parents[2])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            try:
                if self.call("GET", "/readyz", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server not ready in 90 s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def call(self, method, path, key=None, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                         method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def wait_until(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


class OwnPostgres:
    """A throw-away PostgreSQL cluster this test owns, so it can stop and restart it.

    Made the way ``scripts/with_postgres.sh`` makes one (initdb, trust auth on
    loopback, a free port; run as ``postgres`` when the tests run as root).
    """

    def __init__(self, bindir: Path, tmp: Path):
        self.bindir, self.tmp = bindir, tmp
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            import pwd

            owner = "postgres"
            try:
                pwd.getpwnam(owner)
            except KeyError:
                owner = "nobody"
            shutil.chown(tmp, owner)
            self.as_owner = ["runuser", "-u", owner, "--"]
        self.port = free_port()
        self._run("initdb", "-D", str(tmp / "data"), "-U", "offers", "-A", "trust", "-E",
                  "UTF8", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "offers", "offers")
        self.url = f"postgresql://offers@127.0.0.1:{self.port}/offers"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.as_owner, str(self.bindir / program), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.tmp / "data"), "-l", str(self.tmp / "server.log"),
                  "-w", "-t", "60", "start", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.tmp} -c fsync=off")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.tmp / "data"), "-m", mode, "-w", "stop")


def postgres_bindir() -> Path | None:
    """The PostgreSQL server programs' directory, as scripts/with_postgres.sh finds it."""
    import glob

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0,
                        reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).parent))
    return next((Path(d) for d in candidates if (Path(d) / "initdb").exists()), None)

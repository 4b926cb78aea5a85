"""Serving speed against the floor, and memory per gunicorn worker, on one artifacts directory.

Usage::

    python bench/bench_serve.py ARTIFACTS_DIR [--workers 2] [--seconds 5] [--repeat 3]
                                [--memory 1,2,4] [--json OUT.json]

Starts ``offers serve ARTIFACTS_DIR`` and the floor (``bench/floor_app.py``:
no framework, only the irreducible work) under the same gunicorn, the same
worker class as ``offers serve`` (its gthread worker,
``serving.slow_clients.DeadlineThreadWorker``: 16 threads, 5 s keep-alive,
connections spread over the workers), same worker count, each on a free
loopback port. For each endpoint (``/offers?channel=app&limit=3`` and
``/recommendations?limit=10``) and each
connection count (1 and 8), it loads the project then the floor, ``--repeat``
times in turn, each run ``--seconds`` long (at most 30), over a fixed mix of
80% members the version knows and 20% it does not. Medians over the runs;
ratios are project / floor for latency and floor / project for throughput
(1.0 = as fast as the floor, 1.5 = 1.5 times slower).

``--memory 1,2,4`` then starts the project alone with each worker count,
warms every worker with both endpoints and reads ``/proc/PID/smaps_rollup``
of the master and each worker: RSS, PSS (shared pages divided among the
processes sharing them) and USS (pages only that process holds). What one
more worker costs is the growth of the summed PSS; the artifact's memory-mapped
arrays are shared through the page cache, so it should stay well under the
version's size on disk. Every server is stopped at the end, also on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import generator, run_load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENDPOINTS = {
    "offers": "/v1/members/{}/offers?channel=app&limit=3",
    "recommendations": "/v1/members/{}/recommendations?limit=10",
}
KNOWN_SHARE = 0.8


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_paths(artifacts_dir: str, endpoint: str, n: int = 5000, seed: int = 0) -> list[str]:
    """``n`` request paths: 80% members of the current version, 20% ids it does not know."""
    from training.artifacts.store import open_version

    ids = open_version(artifacts_dir).load_frame("members")["member_id"].astype(str).tolist()
    rng = random.Random(seed)
    return [ENDPOINTS[endpoint].format(rng.choice(ids) if rng.random() < KNOWN_SHARE
                                       else f"unknown-{i}") for i in range(n)]


@contextmanager
def server(cmd: list[str], port: int, key: str, log: Path, env: dict | None = None,
           cwd: str | Path | None = None):
    """Run ``cmd`` (a gunicorn master) until the block ends; yields its Popen once it answers.

    ``cwd`` (default: this tree) and ``env["PYTHONPATH"]`` run another checkout's code."""
    with open(log, "ab") as out:
        # PYTHONPATH: this tree's code, not the package installed in the venv, which the
        # venv's `offers` script would import (another checkout's, for a worktree).
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd or ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    try:
        wait_ready(proc, port, key, log)
        yield proc
    finally:
        proc.terminate()  # gunicorn: graceful stop of the master and its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(proc: subprocess.Popen, port: int, key: str, log: Path,
               timeout: float = 120) -> None:
    """Poll an offers request until it answers 200; raise if the server exits or times out."""
    url = f"http://127.0.0.1:{port}" + ENDPOINTS["offers"].format("unknown-ready")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}:\n"
                               + log.read_text()[-2000:])
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f} s; see {log}")


def project_cmd(artifacts_dir: str, port: int, workers: int, tmp: Path,
                program: list[str] | None = None, extra: list[str] | tuple = ()) -> list[str]:
    """The ``offers serve`` command line (event store in ``tmp``).

    ``program`` replaces the ``offers`` executable (an older tree's entry point);
    ``extra`` options are appended (``--worker-class sync``).
    """
    return [*(program or [str(BIN / "offers")]), "serve", artifacts_dir, "--workers",
            str(workers), "--port", str(port), "--events-db",
            str(tmp / f"events-{port}.sqlite3"), *extra]


FLOOR_WORKER = "serving.slow_clients.DeadlineThreadWorker"  # `offers serve`'s gthread worker


def floor_cmd(artifacts_dir: str, port: int, workers: int, key: str,
              worker_class: str | None = None) -> list[str]:
    """The floor under gunicorn with the same worker class (``offers serve``'s gthread worker,
    which spreads connections over the workers; ``worker_class="gthread"``: gunicorn's own)
    and count."""
    factory = f"floor_app:create_app({os.path.abspath(artifacts_dir)!r}, {key!r})"
    return [str(BIN / "gunicorn"), "--workers", str(workers), "--worker-class",
            worker_class or FLOOR_WORKER,
            "--threads", "16", "--keep-alive", "5", "--bind", f"127.0.0.1:{port}",
            "--chdir", str(ROOT / "bench"),
            "--pythonpath", str(ROOT), "--log-level", "warning", factory]


def measure_speed(artifacts_dir: str, workers: int, seconds: float, repeat: int,
                  connections: tuple[int, ...], tmp: Path) -> dict:
    """Project and floor, run in turn for every endpoint and connection count."""
    key = secrets.token_urlsafe(24)
    headers = {"Authorization": f"Bearer {key}"}
    env = {"OFFERS_API_KEYS": f"{key}:read", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    ports = {"project": free_port(), "floor": free_port()}
    results: dict = {}
    with ExitStack() as stack:
        stack.enter_context(server(project_cmd(artifacts_dir, ports["project"], workers, tmp),
                                   ports["project"], key, tmp / "project.log", env))
        stack.enter_context(server(floor_cmd(artifacts_dir, ports["floor"], workers, key),
                                   ports["floor"], key, tmp / "floor.log", env))
        for endpoint in ENDPOINTS:
            paths = request_paths(artifacts_dir, endpoint)
            for name, port in ports.items():  # warm-up: page faults, lazy imports, caches
                run_load(port, paths, headers, 8, min(2, seconds))
            for conns in connections:
                runs: dict[str, list[dict]] = {"project": [], "floor": []}
                for _ in range(repeat):
                    for name, port in ports.items():
                        runs[name].append(run_load(port, paths, headers, conns, seconds))
                results[f"{endpoint}/{conns}"] = {n: summarise(r) for n, r in runs.items()}
                report_progress(endpoint, conns, results[f"{endpoint}/{conns}"])
    return results


def summarise(runs: list[dict]) -> dict:
    """Medians of req/s, p50 and p99 over ``runs``, with each run's figures and the errors."""
    out = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")}
    out["rps_runs"] = [round(r["rps"]) for r in runs]
    out["p99_runs"] = [round(r["p99_ms"], 2) for r in runs]
    out["errors"] = sum(r["errors"] + r["non_2xx"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    return out


def report_progress(endpoint: str, conns: int, pair: dict) -> None:
    """One progress line on stderr."""
    p, f = pair["project"], pair["floor"]
    print(f"  {endpoint}, {conns} conn: project {p['rps']:.0f} req/s p99 {p['p99_ms']:.2f} ms; "
          f"floor {f['rps']:.0f} req/s p99 {f['p99_ms']:.2f} ms", file=sys.stderr)


def smaps(pid: int) -> dict[str, float]:
    """RSS, PSS and USS of ``pid`` in MiB, from ``/proc/PID/smaps_rollup``."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"],
            "uss": fields["Private_Clean"] + fields["Private_Dirty"]}


def children(pid: int) -> list[int]:
    """Process ids of the children of ``pid`` (the gunicorn workers of a master)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(x) for x in f.read().split()]
    return sorted(found)


def measure_memory(artifacts_dir: str, counts: list[int], tmp: Path) -> dict:
    """Memory of the master and each worker after both endpoints warmed every worker."""
    key = secrets.token_urlsafe(24)
    headers = {"Authorization": f"Bearer {key}"}
    env = {"OFFERS_API_KEYS": f"{key}:read"}
    mix = [p for e in ENDPOINTS for p in request_paths(artifacts_dir, e, 1000)]
    random.Random(1).shuffle(mix)
    out = {}
    for n in counts:
        port = free_port()
        with server(project_cmd(artifacts_dir, port, n, tmp), port, key,
                    tmp / f"memory-{n}.log", env) as proc:
            run_load(port, mix, headers, max(8, 2 * n), 3)
            workers = children(proc.pid)
            master = smaps(proc.pid)
            per = [smaps(w) for w in workers]
        out[n] = {
            "workers": len(per), "master": master,
            "worker_rss": statistics.median(w["rss"] for w in per),
            "worker_pss": statistics.median(w["pss"] for w in per),
            "worker_uss": statistics.median(w["uss"] for w in per),
            "total_pss": master["pss"] + sum(w["pss"] for w in per),
            "total_rss": master["rss"] + sum(w["rss"] for w in per),
        }
        print(f"  memory, {n} worker(s): PSS total {out[n]['total_pss']:.0f} MiB, per worker "
              f"RSS {out[n]['worker_rss']:.0f} USS {out[n]['worker_uss']:.0f} MiB",
              file=sys.stderr)
    return out


def artifact_mib(artifacts_dir: str) -> float:
    """Size on disk of the current version of ``artifacts_dir``, MiB."""
    from training.artifacts.store import current_version

    version = Path(artifacts_dir) / current_version(artifacts_dir)
    return sum(p.stat().st_size for p in version.iterdir() if p.is_file()) / 2**20


def speed_table(results: dict) -> list[str]:
    """Markdown table of project and floor per endpoint and connection count."""
    lines = ["| endpoint | conns | project req/s | floor req/s | floor/project | "
             "project p50 / p99 ms | floor p50 / p99 ms | p99 project/floor |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, pair in results.items():
        endpoint, conns = key.split("/")
        p, f = pair["project"], pair["floor"]
        lines.append(
            f"| {endpoint} | {conns} | {p['rps']:,.0f} | {f['rps']:,.0f} | "
            f"{f['rps'] / p['rps']:.2f} | {p['p50_ms']:.2f} / {p['p99_ms']:.2f} | "
            f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f} | {p['p99_ms'] / f['p99_ms']:.2f} |")
    return lines


def memory_table(memory: dict, artifact: float) -> list[str]:
    """Markdown table of memory per worker count, and what each added worker costs."""
    lines = [f"Artifact version on disk: {artifact:.1f} MiB.", "",
             "| workers | master RSS MiB | worker RSS MiB | worker PSS MiB | worker USS MiB | "
             "total PSS MiB | added per worker (PSS) MiB |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    base = memory[min(memory)]
    for n, m in memory.items():
        added = ((m["total_pss"] - base["total_pss"]) / (n - min(memory))
                 if n != min(memory) else float("nan"))
        lines.append(f"| {n} | {m['master']['rss']:.0f} | {m['worker_rss']:.0f} | "
                     f"{m['worker_pss']:.0f} | {m['worker_uss']:.0f} | {m['total_pss']:.0f} | "
                     + ("-" if n == min(memory) else f"{added:.0f}") + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", default="1,8")
    parser.add_argument("--memory", default="1,2,4",
                        help="Worker counts for the memory table ('' to skip).")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--json", default=None, help="Also write the figures to this file.")
    args = parser.parse_args()
    if not shutil.which("gunicorn", path=str(BIN)):
        sys.exit("gunicorn is not installed in this environment")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    out = {"generator": generator(), "workers": args.workers, "seconds": args.seconds,
           "repeat": args.repeat, "load_before": os.getloadavg()[0]}
    try:
        if not args.no_speed:
            conns = tuple(int(c) for c in args.connections.split(","))
            out["speed"] = measure_speed(args.artifacts_dir, args.workers, args.seconds,
                                         args.repeat, conns, tmp)
            print(f"Load generator: {out['generator']}; {args.workers} workers; median of "
                  f"{args.repeat} runs of {args.seconds:g} s.")
            print("\n".join(speed_table(out["speed"])))
        if args.memory:
            counts = [int(c) for c in args.memory.split(",")]
            out["memory"] = measure_memory(args.artifacts_dir, counts, tmp)
            out["artifact_mib"] = artifact_mib(args.artifacts_dir)
            print()
            print("\n".join(memory_table(out["memory"], out["artifact_mib"])))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_after"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()

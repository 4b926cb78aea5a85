"""Why the offers endpoint stalls at 8 connections: many short runs, project and floor in turn,
with what each worker did in each run.

Usage::

    python bench/stall_probe.py ARTIFACTS_DIR [--runs 20] [--seconds 5] [--connections 8]
                               [--workers 2] [--endpoint offers] [--json OUT.json]
                               [--before-tree DIR] [--plain-floor] [--project-env KEY=VALUE ...]

Starts ``offers serve`` and the floor as ``bench/bench_serve.py`` does (same gunicorn, worker
class, worker count, request mix), then alternates wrk runs on them. ``--before-tree DIR``
adds ``offers serve`` run from another checkout (``project-before``: its code, e.g. main's),
``--plain-floor`` the floor under gunicorn's own ``gthread`` worker (``floor-gthread``). For
every run it
records requests/s and p99, and per server worker: its pid (a restart shows as a new pid),
how many of wrk's connections it holds (``ss``, one second into the run) and the CPU seconds
it used during the run (``/proc/PID/stat``). A run is a *stall* when its requests/s is under
half the median of that server's runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import (  # noqa: E402
    children,
    floor_cmd,
    free_port,
    project_cmd,
    request_paths,
    server,
)
from loadgen import run_load  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def connections_by_pid(port: int) -> dict[int, int]:
    """Established server-side connections on ``port``, counted per owning process."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=False).stdout
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def one_run(port: int, master: int, paths, headers, conns: int, seconds: float) -> dict:
    workers = children(master)
    before = {w: cpu_seconds(w) for w in workers}
    seen: dict[int, int] = {}

    def sample() -> None:
        time.sleep(1.0)
        seen.update(connections_by_pid(port))

    probe = threading.Thread(target=sample)
    probe.start()
    load0 = os.getloadavg()[0]
    result = run_load(port, paths, headers, conns, seconds)
    probe.join()
    after = {w: cpu_seconds(w) for w in workers if os.path.exists(f"/proc/{w}")}
    return {"rps": round(result["rps"]), "p99_ms": round(result["p99_ms"], 2),
            "p50_ms": round(result["p50_ms"], 2), "load": round(load0, 2),
            "workers": [{"pid": w, "conns": seen.get(w, 0),
                         "cpu_s": round(after.get(w, 0) - before[w], 2)} for w in workers]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--endpoint", default="offers", choices=("offers", "recommendations"))
    parser.add_argument("--no-floor", action="store_true", help="Load the project only.")
    parser.add_argument("--before-tree", default=None,
                        help="Also serve the project from this checkout (its code).")
    parser.add_argument("--plain-floor", action="store_true",
                        help="Also serve the floor under gunicorn's plain gthread worker.")
    parser.add_argument("--project-env", action="append", default=[],
                        help="KEY=VALUE for the project's environment (repeatable).")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    key = secrets.token_urlsafe(24)
    headers = {"Authorization": f"Bearer {key}"}
    env = {"OFFERS_API_KEYS": f"{key}:read", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    project_env = dict(env, **dict(kv.split("=", 1) for kv in args.project_env))
    tmp = Path(tempfile.mkdtemp(prefix="stall-probe-"))
    paths = request_paths(args.artifacts_dir, args.endpoint)
    names = ["project", *(["project-before"] if args.before_tree else []),
             *([] if args.no_floor else ["floor"]), *(["floor-gthread"] if args.plain_floor
                                                      else [])]
    ports = {name: free_port() for name in names}
    commands = {}
    for name, port in ports.items():
        if name == "project":
            commands[name] = (project_cmd(args.artifacts_dir, port, args.workers, tmp),
                              project_env, None)
        elif name == "project-before":
            before = str(Path(args.before_tree).resolve())
            commands[name] = (
                [sys.executable, "-m", "offers.cli",
                 *project_cmd(args.artifacts_dir, port, args.workers, tmp)[1:]],
                dict(project_env, PYTHONPATH=before), before)
        else:
            commands[name] = (floor_cmd(args.artifacts_dir, port, args.workers, key,
                                        worker_class="gthread" if name == "floor-gthread"
                                        else None), env, None)
    runs: dict[str, list[dict]] = {name: [] for name in ports}
    masters = {}
    with ExitStack() as stack:
        for name, (cmd, cmd_env, cwd) in commands.items():
            masters[name] = stack.enter_context(server(
                cmd, ports[name], key, tmp / f"{name}.log", cmd_env, cwd=cwd)).pid
        for name, port in ports.items():  # warm-up
            run_load(port, paths, headers, 8, 2)
        for i in range(args.runs):
            for name, port in ports.items():
                run = one_run(port, masters[name], paths, headers, args.connections,
                              args.seconds)
                runs[name].append(run)
                split = "/".join(str(w["conns"]) for w in run["workers"])
                cpu = "/".join(f"{w['cpu_s']:.1f}" for w in run["workers"])
                print(f"{i:3d} {name:14s} {run['rps']:6d} req/s p99 {run['p99_ms']:6.2f} ms "
                      f"conns {split:6s} cpu {cpu:10s} load {run['load']:.1f}", flush=True)
    for name, got in runs.items():
        median = statistics.median(r["rps"] for r in got)
        stalls = [r for r in got if r["rps"] < median / 2]
        print(f"{name}: median {median:.0f} req/s, runs {[r['rps'] for r in got]}, "
              f"stalls {len(stalls)}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()

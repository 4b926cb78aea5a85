"""Serving speed before and after a change: a git ref against the working tree, interleaved.

Usage::

    python bench/bench_serve_ab.py ARTIFACTS_DIR [--ref HEAD] [--workers 2] [--seconds 5]
                                   [--repeat 3] [--connections 1,8]
                                   [--before-artifacts DIR] [--after-args "--worker-class sync"]

Extracts ``--ref`` (``git archive``, the repository is not touched) into a
temporary directory and runs ``offers serve`` from it (``PYTHONPATH`` first)
beside ``offers serve`` from the working tree, same gunicorn settings and the
same load as ``bench_serve.py`` (80% known, 20% unknown members). Runs
alternate before, after, before, ... so that the machine's noise falls on
both alike; medians of ``--repeat`` runs.

A ref from before the artifact format changed cannot read today's versions:
give it ``--before-artifacts`` (the same data trained by that ref). A ref from
before the ``offers`` package is started through its ``training.cli``.
``--after-args`` adds ``offers serve`` options to the working tree's side, e.g.
``--worker-class sync`` to compare with a ref that only had sync workers.
"""

from __future__ import annotations

import argparse
import io
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import (  # noqa: E402
    ENDPOINTS,
    ROOT,
    free_port,
    project_cmd,
    request_paths,
    server,
    summarise,
)
from loadgen import generator, run_load  # noqa: E402


def extract(ref: str, into: Path) -> Path:
    """The tree of ``ref`` under ``into``; the artifacts and data stay the working tree's."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", default="1,8")
    parser.add_argument("--before-artifacts", default=None)
    parser.add_argument("--after-args", default="")
    args = parser.parse_args()
    artifacts = str(Path(args.artifacts_dir).resolve())
    before_artifacts = str(Path(args.before_artifacts or artifacts).resolve())
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    key = secrets.token_urlsafe(24)
    headers = {"Authorization": f"Bearer {key}"}
    env = {"OFFERS_API_KEYS": f"{key}:read", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    conns = [int(c) for c in args.connections.split(",")]
    try:
        before = extract(args.ref, tmp / "before")
        # python -m would put the working tree (the server's cwd) first on the path.
        old_entry = None if (before / "offers" / "cli.py").is_file() else [
            sys.executable, "-c", f"import sys; sys.path.insert(0, {str(before)!r}); "
            "from training.cli import main; main()"]
        ports = {"before": free_port(), "after": free_port()}
        with ExitStack() as stack:
            stack.enter_context(server(
                project_cmd(before_artifacts, ports["before"], args.workers, tmp, old_entry),
                ports["before"], key, tmp / "before.log", {**env, "PYTHONPATH": str(before)}))
            stack.enter_context(server(
                project_cmd(artifacts, ports["after"], args.workers, tmp,
                            extra=args.after_args.split()),
                ports["after"], key, tmp / "after.log", env))
            print(f"Load generator: {generator()}; {args.workers} workers; before = {args.ref}, "
                  f"after = working tree; median of {args.repeat} runs of {args.seconds} s.")
            print("| endpoint | conns | before req/s | after req/s | before p50 / p99 ms | "
                  "after p50 / p99 ms |\n|---|---:|---:|---:|---:|---:|")
            for endpoint in ENDPOINTS:
                paths = request_paths(artifacts, endpoint)
                for port in ports.values():  # warm-up
                    run_load(port, paths, headers, 8, 2)
                for n in conns:
                    runs: dict[str, list] = {"before": [], "after": []}
                    for _ in range(args.repeat):
                        for name, port in ports.items():
                            runs[name].append(run_load(port, paths, headers, n, args.seconds))
                    b, a = summarise(runs["before"]), summarise(runs["after"])
                    print(f"| {endpoint} | {n} | {b['rps']:,.0f} | {a['rps']:,.0f} | "
                          f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} | "
                          f"{a['p50_ms']:.2f} / {a['p99_ms']:.2f} |", flush=True)
                    print(f"  req/s per run: before {b['rps_runs']}, after {a['rps_runs']}",
                          file=sys.stderr)
                    if a["errors"] or b["errors"]:
                        print(f"  errors: before {b['errors']}, after {a['errors']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

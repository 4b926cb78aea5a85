"""`make bench`: retrain, serving against the floor, batches and memory, checked against issue 6.

Usage::

    python bench/run_bench.py [DATA_DIR] [--quick] [--no-write]

Trains a first version of DATA_DIR (default ``data/completejourney``) and
retrains it three times with that version present (``bench_train.py
--retrain``), serves the result under gunicorn beside the floor
(``bench_serve.py``), splits one request's time in process
(``bench_request_parts.py``), times ``offers campaign`` and ``offers recommend
--all`` (``bench_batch.py``), prints every table and the targets met or missed, and
replaces the ``make bench`` section of ``bench/RESULTS.md`` (the other
sections are kept). ``--quick`` runs each measurement once, with shorter load
runs (for trying the suite out; not for the record). Everything it trains or
starts lives in a temporary directory and is removed or stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
BEGIN, END = "<!-- make bench: begin -->", "<!-- make bench: end -->"
PACKAGES = ("numpy", "pandas", "scikit-learn", "implicit", "flask", "gunicorn")


def machine() -> str:
    """Cores, CPU, memory, kernel and library versions, in one line."""
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(x.split()[1]) for x in open("/proc/meminfo") if x.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    versions = ", ".join(f"{p} {version(p)}" for p in PACKAGES)
    return (f"{os.cpu_count()} cores ({cpu}), {mem / 2**20:.0f} GiB memory, Linux "
            f"{platform.release()}, Python {platform.python_version()}, {versions}")


def step(title: str, script: str, *args: str) -> tuple[str, dict]:
    """Run ``bench/SCRIPT ARGS --json``; its printed tables and its figures."""
    with tempfile.NamedTemporaryFile(suffix=".json") as record:
        print(f"== {title}", file=sys.stderr, flush=True)
        tick = time.perf_counter()
        done = subprocess.run([sys.executable, str(BENCH / script), *args, "--json",
                               record.name], stdout=subprocess.PIPE, text=True, check=True)
        print(f"   ({time.perf_counter() - tick:.0f} s)", file=sys.stderr, flush=True)
        return done.stdout.strip(), json.loads(Path(record.name).read_text())


def targets(train: dict, serve: dict, batch: dict) -> list[str]:
    """The issue's targets on this machine, each with the figure measured and met or missed."""
    retrain = sorted(sum(r["seconds"].values()) for r in train["retrains"])
    retrain_s = retrain[len(retrain) // 2]
    one, eight = serve["speed"]["offers/1"], serve["speed"]["offers/8"]
    memory = {int(k): v for k, v in serve["memory"].items()}
    added = memory[2]["total_pss"] - memory[1]["total_pss"]
    artifact = serve["artifact_mib"]
    rows = [
        ("offers p99, 1 connection", "<= 3 ms", f"{one['project']['p99_ms']:.2f} ms",
         one["project"]["p99_ms"] <= 3),
        ("offers p99, 8 connections", "<= 10 ms", f"{eight['project']['p99_ms']:.2f} ms",
         eight["project"]["p99_ms"] <= 10),
        ("offers throughput, 8 connections", ">= 1,500 req/s",
         f"{eight['project']['rps']:,.0f} req/s", eight["project"]["rps"] >= 1500),
    ]
    for conns, pair in (("1", one), ("8", eight)):
        p, f = pair["project"], pair["floor"]
        ratio = max(p["p50_ms"] / f["p50_ms"], p["p99_ms"] / f["p99_ms"], f["rps"] / p["rps"])
        rows.append((f"offers vs the floor, {conns} connection(s)", "<= 1.5x",
                     f"p50 {p['p50_ms'] / f['p50_ms']:.2f}x, p99 {p['p99_ms'] / f['p99_ms']:.2f}x,"
                     f" req/s {f['rps'] / p['rps']:.2f}x", ratio <= 1.5))
    rows += [
        ("retrain on Complete Journey", "< 15 s", f"{retrain_s:.1f} s", retrain_s < 15),
        ("a second worker adds", f"well under the artifact ({artifact:.0f} MiB)",
         f"{added:.0f} MiB PSS ({added / artifact:.2f}x)",
         True if added <= 0.5 * artifact else ("under, not by half" if added < artifact
                                                else False)),
        ("campaign, members/s (this data)", "1M in about a minute",
         f"{batch['members'] / batch['campaign_s']:,.0f} members/s over {batch['members']:,}",
         None),
    ]
    lines = ["| target | wanted | measured | met |", "|---|---|---|---|"]
    for name, wanted, got, ok in rows:
        mark = ("see below" if ok is None else ok if isinstance(ok, str)
                else "yes" if ok else "**no**")
        lines.append(f"| {name} | {wanted} | {got} | {mark} |")
    return lines


def write_results(section: str) -> None:
    """Replace the ``make bench`` section of RESULTS.md (append it the first time)."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default="data/completejourney")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave RESULTS.md.")
    args = parser.parse_args()
    repeat, seconds = ("1", "2") if args.quick else ("3", "5")
    started = datetime.now(timezone.utc)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        art = str(Path(tmp) / "artifacts")
        train_md, train = step("training: a first version, then retrains", "bench_train.py",
                               args.data_dir, "--retrain", "--repeat", repeat, "--keep", art)
        serve_md, serve = step("serving: project and floor, then memory", "bench_serve.py", art,
                               "--repeat", repeat, "--seconds", seconds, "--memory", "1,2,4")
        parts_md, _ = step("one request's parts, in process", "bench_request_parts.py", art,
                           "--repeat", "3" if args.quick else "7")
        batch_md, batch = step("batches: campaign and recommend --all", "bench_batch.py", art,
                               "--repeat", repeat)
        response_md, _ = step("decide: heuristic vs learned P(redeem)", "bench_response_p.py",
                              art, "--repeat", repeat)
    load_end = os.getloadavg()
    name = Path(args.data_dir).name
    section = "\n".join([
        BEGIN,
        "## Speed against the targets of issue 6 (`make bench`)",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC{' (--quick)' if args.quick else ''} by "
        f"`make bench` (`bench/run_bench.py`) on {machine()}. Load average "
        f"{load[0]:.1f} before, {load_end[0]:.1f} after (the machine is shared: other jobs "
        f"inflate every figure).",
        "",
        *targets(train, serve, batch),
        "",
        f"### Training on {name}: first training and retrains",
        "",
        "`bench_train.py --retrain`: one first training (recommender grid search), then "
        "retrains with that version present (they reuse its tuned parameters), each in a "
        "fresh process.",
        "",
        train_md,
        "",
        "### Serving: project against the floor",
        "",
        "`bench_serve.py`: `offers serve` (Flask, gunicorn sync workers) and the floor "
        "(`bench/floor_app.py`: a bare WSGI function doing only the member look-up, the numpy "
        "scoring, the top k and the JSON encoding, under the same gunicorn) on the version "
        "trained above, loaded in turn by the same generator; 80% known members, 20% unknown; "
        "the event store is empty (one indexed read per offers request).",
        "",
        serve_md,
        "",
        "Where a request's time goes without HTTP (`bench_request_parts.py`: the WSGI apps "
        "called directly, microseconds per request, median of passes over the same mix; "
        "\"app, model work cached\" is the project's app with the engine's answers memoised "
        "per member, i.e. the serving layer alone):",
        "",
        parts_md,
        "",
        "### Batches",
        "",
        "`bench_batch.py`: work timed in process, and the command end to end (start-up, "
        "loading and verifying the version, writing the CSV).",
        "",
        batch_md,
        "",
        "### `decide` with the heuristic vs the learned P(redeem) (issue 12)",
        "",
        "`bench_response_p.py`: the same version's engine without its response model, as "
        "trained, and with the model scoring every template; interleaved passes.",
        "",
        "```",
        response_md,
        "```",
        END,
    ])
    print(section)
    if not args.no_write:
        write_results(section)
        print(f"\nwrote {RESULTS.relative_to(BENCH.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""One ``offers train`` run measured per step: wall, CPU of the driver and of Spark's JVM, RSS.

Usage::

    python bench/bench_spark_train.py DATA_DIR --run-dir /tmp/run [--engine spark]
        [--spark-master 'local[2]'] [--spark-conf KEY=VALUE] [--config FILE]
        [--memory-limit 1GB] [--nice 5]
    python bench/bench_spark_train.py --analyse /tmp/run

Runs ``offers -v train DATA_DIR --out RUN_DIR/art`` under ``nice`` and
``/usr/bin/time -v`` (stderr in ``RUN_DIR/err.txt``) and samples every 2 s the
process tree (the driver and its JVM): each process's resident memory and CPU
seconds, in ``RUN_DIR/samples.txt`` (the format ``ps -o pid=,comm=,rss=,cputime=``
gives, after a ``# HH:MM:SS load L`` line per sample). ``--analyse`` prints, from
those two files, a markdown table per step: wall seconds (the pipeline's own
timer), CPU seconds of the driver and of the JVM in the step (the samples
around the step's end, so +-2 s), and the peaks of the driver, the JVM and
their sum. ``/usr/bin/time`` misses the JVM: pyspark does not wait for it.

CPU seconds compare across loads; wall seconds on a shared machine do not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

STEP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ INFO offers.progress: "
                  r"\[\d+/\d+\] (.+) done in ([\d.]+) s")
TICK = os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _sample(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/statm") as f:
            rss_kib = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, IndexError, ValueError):
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    return f"{pid} {comm.split('/')[-1]} {rss_kib} {cpu:.2f}"


def sampler(root: int, out: Path, stop: threading.Event, every: float = 2.0) -> None:
    with out.open("a") as f:
        while not stop.is_set():
            load = os.getloadavg()[0]
            rows = [r for r in (_sample(p) for p in _tree(root)) if r]
            f.write(f"# {time.strftime('%H:%M:%S')} load {load:.2f}\n" + "\n".join(rows) + "\n")
            f.flush()
            stop.wait(every)


def run(args) -> None:
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # ``-m offers.cli`` from the current directory: a worktree's code, not the installed one
    cmd = ["nice", "-n", str(args.nice), "/usr/bin/time", "-v", sys.executable, "-m",
           "offers.cli", "-v", "train",
           args.data_dir, "--out", str(run_dir / "art"), "--engine", args.engine]
    if args.engine == "spark":
        cmd += ["--spark-master", args.spark_master]
        for setting in args.spark_conf:
            cmd += ["--spark-conf", setting]
    if args.config:
        cmd += ["--config", args.config]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    with (run_dir / "err.txt").open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        stop = threading.Event()
        thread = threading.Thread(target=sampler, args=(proc.pid, run_dir / "samples.txt", stop))
        thread.start()
        try:
            proc.wait()
        finally:
            stop.set()
            thread.join()
    print(f"exit status {proc.returncode}")
    analyse(run_dir)


def _seconds(text: str) -> float:
    """CPU seconds from ``12.34`` or ps's ``[[DD-]HH:]MM:SS``."""
    if ":" not in text:
        return float(text)
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    return (int(days or 0) * 86400 + sum(v * 60**i for i, v in enumerate(reversed(parts))))


def _samples(path: Path) -> list[tuple[str, float, dict]]:
    """``[(HH:MM:SS, load, {comm: (rss MiB, cpu s)})]``; comms summed (``java``, driver)."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            _, clock, _, load = line.split()
            out.append((clock, float(load), {}))
        elif out and line.strip():
            _, comm, rss, cpu = line.split()
            kind = "jvm" if comm == "java" else "driver" if comm != "time" else None
            if kind:
                rss_old, cpu_old = out[-1][2].get(kind, (0.0, 0.0))
                out[-1][2][kind] = (rss_old + int(rss) / 1024, cpu_old + _seconds(cpu))
    return out


def analyse(run_dir) -> None:
    run_dir = Path(run_dir)
    samples = _samples(run_dir / "samples.txt")
    steps = []
    for line in (run_dir / "err.txt").read_text().splitlines():
        match = STEP.match(line)
        if match:
            stamp, name, seconds = match.groups()
            steps.append((datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").strftime("%H:%M:%S"),
                          name, float(seconds)))
    if not samples:
        print("no samples")
        return

    def cpu_at(clock: str) -> tuple[float, float]:
        before = [s for s in samples if s[0] <= clock] or samples[:1]
        usage = before[-1][2]
        return (usage.get("driver", (0, 0))[1], usage.get("jvm", (0, 0))[1])

    print("| step | wall s | driver CPU s | JVM CPU s | load (mean) |")
    print("|---|---:|---:|---:|---:|")
    previous, start = (0.0, 0.0), samples[0][0]
    for clock, name, seconds in steps:
        now = cpu_at(clock)
        loads = [s[1] for s in samples if start <= s[0] <= clock]
        mean_load = sum(loads) / len(loads) if loads else float("nan")
        print(f"| {name} | {seconds:.1f} | {now[0] - previous[0]:.0f} | {now[1] - previous[1]:.0f}"
              f" | {mean_load:.1f} |")
        previous, start = now, clock
    last = samples[-1]  # the CPU counters only grow: their largest values are the totals
    total = tuple(max(s[2].get(kind, (0, 0))[1] for s in samples) for kind in ("driver", "jvm"))
    if not steps or steps[-1][1] != "write artifacts":
        print(f"| (after the last step, until {last[0]}: not finished) | | "
              f"{total[0] - previous[0]:.0f} | {total[1] - previous[1]:.0f} | |")
    peaks = {kind: max(s[2].get(kind, (0, 0))[0] for s in samples) for kind in ("driver", "jvm")}
    tree = max(sum(v[0] for v in s[2].values()) for s in samples)
    print(f"\nsamples {samples[0][0]}-{last[0]}; CPU s in all: driver {total[0]:.0f}, "
          f"JVM {total[1]:.0f}; peak RSS MiB: driver {peaks['driver']:.0f}, "
          f"JVM {peaks['jvm']:.0f}, both {tree:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?")
    parser.add_argument("--run-dir")
    parser.add_argument("--analyse", metavar="RUN_DIR")
    parser.add_argument("--engine", default="spark", choices=["duckdb", "spark", "pandas"])
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="passed on to offers train (e.g. spark.driver.memory=3g)")
    parser.add_argument("--config")
    parser.add_argument("--memory-limit")
    parser.add_argument("--nice", type=int, default=5)
    args = parser.parse_args()
    if args.analyse:
        analyse(args.analyse)
    elif args.data_dir and args.run_dir:
        run(args)
    else:
        parser.error("give DATA_DIR and --run-dir, or --analyse RUN_DIR")


if __name__ == "__main__":
    main()

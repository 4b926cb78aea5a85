"""The training run's recommendations step per engine (issue 11): wall time and RSS.

Usage::

    python bench/bench_engine_recommendations.py DATA_DIR [DATA_DIR ...] [--synth 50000]
        [--repeat 1] [--untuned]

For each data set and engine (pandas, duckdb) a fresh process loads the data
(and, for DuckDB, registers the lines on the engine as ``offers train`` does),
then runs the pipeline's own recommendations step (``training.pipeline``'s
``_recommendations``: excluded categories, validation split, tuning, final fit)
with the default configuration. Printed: the step's seconds, the resident set
size before it, its peak during the step (sampled every 10 ms) and the
difference, which is what the step itself holds. ``--synth N`` first generates a
synthetic program of ``N`` members (``offers synth``, seed 1); ``--untuned``
uses the one-candidate grid of ``recommend.tune = false``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENGINES = ("pandas", "duckdb")


from rss import PeakRSS, rss_mib  # noqa: E402  (bench/, this script's folder)
from worker import run_json  # noqa: E402  (bench/, this script's folder)


def worker(data: str, engine: str, untuned: bool) -> dict:
    """One measured recommendations step, in this process."""
    from threadpoolctl import threadpool_limits

    from features.loading import load_dataset
    from training.config import load_config
    from training.pipeline import TrainingRun, _recommendations, resolve_as_of

    config = load_config(recommend={"tune": False}) if untuned else load_config()
    dataset = load_dataset(data)
    run = TrainingRun(data, resolve_as_of(dataset.transactions, None), config, dataset)
    run.metrics["skipped"] = {}
    if engine != "pandas":
        from training.engines import open_engine

        run.engine_tables = open_engine(engine, dataset)
    before = rss_mib()
    sampler = PeakRSS()
    sampler.start()
    start = time.perf_counter()
    with threadpool_limits(1):
        _recommendations(run)
    seconds = time.perf_counter() - start
    peak = sampler.stop()
    rec = run.metrics["recommend"]
    return {"seconds": seconds, "before": before, "peak": peak,
            "lines": len(dataset.transactions), "members": int(rec["validation_members"]),
            "blend_ndcg": rec["blend_ndcg@10"], "blend_ndcg_new": rec["blend_ndcg@10_new"]}


def measure(data: Path, engine: str, untuned: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, str(data)]
    if untuned:
        cmd.append("--untuned")
    return run_json(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", type=Path)
    parser.add_argument("--synth", type=int, action="append", default=[])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--untuned", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(str(args.data[0]), args.worker, args.untuned)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        sets = list(args.data)
        for n in args.synth:
            out = Path(tmp) / f"synth-{n}"
            subprocess.run([str(Path(sys.executable).parent / "offers"), "synth", str(out),
                            "--members", str(n), "--seed", "1"], check=True,
                           capture_output=True)
            sets.append(out)
        print(f"{'data':<24} {'lines':>10} {'engine':<7} {'seconds':>8} {'RSS before':>10} "
              f"{'peak':>7} {'step MiB':>9} {'ndcg':>7} {'ndcg new':>8}")
        for data in sets:
            for engine in ENGINES:
                runs = [measure(data, engine, args.untuned) for _ in range(args.repeat)]
                r = runs[len(runs) // 2]
                seconds = statistics.median(x["seconds"] for x in runs)
                print(f"{data.name:<24} {r['lines']:>10,} {engine:<7} {seconds:>8.1f} "
                      f"{r['before']:>10.0f} {r['peak']:>7.0f} {r['peak'] - r['before']:>9.0f} "
                      f"{r['blend_ndcg']:>7.4f} {r['blend_ndcg_new']:>8.4f}", flush=True)


if __name__ == "__main__":
    main()

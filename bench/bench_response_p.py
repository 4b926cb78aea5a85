"""``decide`` and engine load with P(redeem) from the prior heuristic vs the learned model.

Usage::

    python bench/bench_response_p.py ARTIFACTS_DIR [--members 2000] [--repeat 5]

Builds three engines on one verified version and the default catalog:

* ``heuristic``: the bundle without its response model (the engine before issue 12:
  ``prior x responsiveness x (0.5 + 0.5 x lift)`` for every template);
* ``as trained``: the bundle as loaded (the model scores templates whose type it
  was trained on; on data whose sends carry no type, none);
* ``model, every type``: the model scores every template, as if it had been
  trained on every catalog type (its first type stands in): the cost of the
  learned path at its widest.

For each it prints the engine build time (the precompute of every member x
template runs there) and the median and p99 of ``decide`` over the same
members, passes interleaved so that machine load hits all three alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np

from serving.engine import EngineConfig, OfferEngine, load_bundle, load_catalog
from serving.engine.response_model import TemplateResponse


def every_type(engine: OfferEngine) -> OfferEngine:
    """``engine`` with its static scores recomputed as if the model knew every type."""
    from serving.engine.scoring import with_static_scores

    resp = engine.scoring.response
    n = engine.templates.n
    forced = TemplateResponse(inputs=resp.inputs, model_type=(resp.inputs.model.types_[0],) * n,
                              learned=np.ones(n, dtype=bool), depth=resp.depth)
    scoring = dataclasses.replace(engine.scoring, response=forced, static=None)
    engine.scoring = with_static_scores(scoring) if engine.scoring.static is not None else scoring
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--now", default="2026-12-01T10:00")
    parser.add_argument("--json", default=None, help="Also write the figures here.")
    args = parser.parse_args()
    bundle = load_bundle(args.artifacts_dir)
    if bundle.response is None:  # priors only, or a gradient-boosting model: nothing to compare
        print("this version holds no exported learned response model: nothing to compare")
        if args.json:
            Path(args.json).write_text("{}")
        return
    response, catalog = bundle.response, load_catalog()
    engines, build = {}, {}
    for name in ("heuristic", "as trained", "model, every type"):
        bundle.response = None if name == "heuristic" else response
        tick = time.perf_counter()
        engine = OfferEngine(bundle, catalog, EngineConfig())
        if name == "model, every type":
            engine = every_type(engine)
        build[name] = time.perf_counter() - tick
        engines[name] = engine
    ids = bundle.members.ids[:: max(1, len(bundle.members) // args.members)][:args.members]
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.repeat):
        for name, engine in engines.items():
            for member in ids:
                tick = time.perf_counter()
                engine.decide(member, "app", now=args.now)
                times[name].append(time.perf_counter() - tick)
    print(f"{len(bundle.members):,} members, {engines['heuristic'].templates.n} templates, "
          f"{len(ids)} members x {args.repeat} passes; learned templates as trained: "
          f"{int(engines['as trained'].scoring.response.learned.sum())}")
    figures = {}
    for name, t in times.items():
        figures[name] = {"build_s": build[name], "median_ms": 1e3 * statistics.median(t),
                         "p99_ms": float(1e3 * np.percentile(t, 99))}
        print(f"  {name:>18}: engine build {build[name]:6.2f} s, decide median "
              f"{figures[name]['median_ms']:.3f} ms, p99 {figures[name]['p99_ms']:.3f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(figures))


if __name__ == "__main__":
    main()

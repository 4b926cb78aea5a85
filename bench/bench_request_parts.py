"""Where one request's time goes, in process (no HTTP): framework, serving layer, engine, floor.

Usage::

    python bench/bench_request_parts.py ARTIFACTS_DIR [--repeat 7] [--clock cpu|wall]
                                        [--json OUT.json]

Calls the WSGI apps directly with prepared environments over the same
80/20 mix of known and unknown members as ``bench_serve.py``, so HTTP, the
kernel and gunicorn are left out. For ``/offers`` and ``/recommendations``
it times, per request (median over ``--repeat`` passes, one BLAS thread):

* ``flask, empty view``: a bare Flask app whose view returns a small dict;
* ``app, model work cached``: the project's app with the engine's answer
  memoised per member, i.e. everything but the model work (routing, hooks,
  API key, event store read, JSON, metrics, access log);
* ``app``: the project's app as served;
* ``app, no decision log``: the same with ``decision_log = false`` (what logging
  every decision for replay costs a request, the writer thread included);
* ``model work``: the engine's ``decide`` or the bundle's
  ``recommend_with_categories`` alone (what the views call);
* ``floor``: ``bench/floor_app.py`` called as a WSGI app.

``--clock cpu`` (the default) counts the process's CPU time (every thread: the
decision-log writer's too), which a loaded machine inflates far less than wall
time; ``--clock wall`` is the wall clock the earlier tables used.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # this tree's code, not the
# package installed in the venv (another checkout's, for a worktree)
from bench_serve import request_paths  # noqa: E402


def environ(path: str, key: str) -> dict:
    """A WSGI environ for GET ``path`` with the bearer ``key``."""
    route, _, query = path.partition("?")
    return {"REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1", "HTTP_AUTHORIZATION": f"Bearer {key}"}


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = time.process_time


def per_request_us(app, environs: list[dict], repeat: int) -> float:
    """Median microseconds per request of ``app`` over ``environs``, ``repeat`` passes."""
    def start_response(status, headers, exc_info=None):
        return None

    def one_pass() -> float:
        tick = clock()
        for env in environs:
            env = dict(env, **{"wsgi.input": io.BytesIO(b"")})
            for _ in app(env, start_response):
                pass
        return (clock() - tick) / len(environs) * 1e6

    one_pass()
    return statistics.median(one_pass() for _ in range(repeat))


def model_us(fn, members: list[str], repeat: int) -> float:
    """Median microseconds of ``fn(member)`` over ``members``, ``repeat`` passes."""
    def one_pass() -> float:
        tick = clock()
        for member in members:
            fn(member)
        return (clock() - tick) / len(members) * 1e6

    one_pass()
    return statistics.median(one_pass() for _ in range(repeat))


def measure(artifacts_dir: str, repeat: int) -> dict:
    """Every part of the module docstring, per endpoint."""
    from flask import Flask
    from floor_app import create_app as create_floor
    from threadpoolctl import threadpool_limits

    from serving import create_app

    threadpool_limits(1)
    key = secrets.token_urlsafe(24)
    tmp = tempfile.mkdtemp(prefix="bench-parts-")
    # The access log goes to a file, as under `offers serve` with its output redirected.
    logging.basicConfig(level=logging.WARNING, stream=open(Path(tmp) / "access.log", "w"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("serving").setLevel(logging.INFO)
    app = create_app({"ARTIFACTS_DIR": artifacts_dir, "API_KEYS": {key: ["read"]},
                      "EVENTS_DB": str(Path(tmp) / "events.sqlite3")})
    unlogged = create_app({"ARTIFACTS_DIR": artifacts_dir, "API_KEYS": {key: ["read"]},
                           "EVENTS_DB": str(Path(tmp) / "events-unlogged.sqlite3"),
                           "DECISION_LOG": False})
    floor = create_floor(artifacts_dir, key)
    bare = Flask("bare")
    bare.add_url_rule("/v1/members/<member_id>/<what>", "bare",
                      lambda member_id, what: {"member_id": member_id, "what": what})
    served = app.extensions["offers_model"].served
    engine, bundle = served.engine, served.bundle
    work = {
        "offers": lambda m: engine.decide(m, "app", limit=3),
        "recommendations": lambda m: bundle.recommend_with_categories(m, k=10,
                                                                      n_categories=3),
    }
    out = {}
    for endpoint in ("offers", "recommendations"):
        paths = request_paths(artifacts_dir, endpoint, n=1000)
        envs = [environ(p, key) for p in paths]
        members = [p.split("/")[3] for p in paths]
        row = {"flask, empty view": per_request_us(bare, envs, repeat),
               "app": per_request_us(app, envs, repeat),
               "app, no decision log": per_request_us(unlogged, envs, repeat),
               "model work": model_us(work[endpoint], members, repeat),
               "floor": per_request_us(floor, envs, repeat)}
        row["app, model work cached"] = _cached_app_us(app, endpoint, envs, repeat)
        out[endpoint] = row
    app.extensions["offers_store"].close()
    unlogged.extensions["offers_store"].close()
    return out


def _cached_app_us(app, endpoint: str, envs: list[dict], repeat: int) -> float:
    """The app with its model answers memoised per member: the serving layer alone."""
    served = app.extensions["offers_model"].served
    owner, names = ((type(served.engine), ("decide", "decide_pending")) if endpoint == "offers"
                    else (type(served.bundle), ("recommend_with_categories",)))
    saved = {name: getattr(owner, name) for name in names if hasattr(owner, name)}  # older refs
    try:
        for name, original in saved.items():
            memo: dict = {}

            def cached(self, member_id, *args, _original=original, _memo=memo, **kwargs):
                # One answer per member: the other arguments are the same for every request.
                if member_id not in _memo:
                    _memo[member_id] = _original(self, member_id, *args, **kwargs)
                return _memo[member_id]

            setattr(owner, name, cached)
        return per_request_us(app, envs, repeat)
    finally:
        for name, original in saved.items():
            setattr(owner, name, original)


def table(parts: dict) -> list[str]:
    """Markdown table of the parts."""
    order = ("flask, empty view", "app, model work cached", "model work", "app",
             "app, no decision log", "floor")
    lines = ["| per request, in process (us) | " + " | ".join(order) + " |",
             "|---|" + "---:|" * len(order)]
    for endpoint, row in parts.items():
        lines.append(f"| {endpoint} | " + " | ".join(f"{row[k]:,.0f}" for k in order) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts_dir")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    parts = measure(args.artifacts_dir, args.repeat)
    print("\n".join(table(parts)))
    if args.json:
        Path(args.json).write_text(json.dumps(parts, indent=1))


if __name__ == "__main__":
    main()

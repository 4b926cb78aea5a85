"""A bounded HTTP load generator for the serving benchmarks: ``wrk`` when installed, else Python.

:func:`run_load` keeps ``connections`` requests in flight against one
loopback server for ``seconds`` (closed loop: each connection sends its next
request when the previous answer is complete), cycling through a list of
request paths, and returns requests/s and latency percentiles. ``wrk``
(Debian package ``wrk``) is preferred: written in C, it leaves the CPU to the
servers being measured. The fallback is one asyncio thread in this process;
it needs a good share of one core at a few thousand requests/s, so its
figures are pessimistic on a 2-core machine and are labelled as such.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

WRK_SCRIPT = r"""
local paths = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"seconds":%.6f,"p50_ms":%.4f,"p90_ms":%.4f,"p99_ms":%.4f,' ..
    '"max_ms":%.4f,"errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def generator() -> str:
    """``"wrk"`` when the ``wrk`` binary is on the PATH, else ``"python"``."""
    return "wrk" if shutil.which("wrk") else "python"


def run_load(port: int, paths: list[str], headers: dict[str, str], connections: int,
             seconds: float, host: str = "127.0.0.1") -> dict:
    """Load ``host:port`` with GET ``paths`` (cycled) over ``connections`` for ``seconds``.

    Returns
    -------
    dict
        ``requests, seconds, rps, p50_ms, p90_ms, p99_ms, max_ms, errors, non_2xx, tool``.
    """
    if host != "127.0.0.1":
        raise ValueError(f"host={host!r}: the benchmarks only load 127.0.0.1.")
    if not 0 < seconds <= 30:
        raise ValueError(f"seconds={seconds} should be in (0, 30]: runs are bounded.")
    if generator() == "wrk":
        out = _run_wrk(host, port, paths, headers, connections, seconds)
    else:
        out = asyncio.run(_run_python(host, port, paths, headers, connections, seconds))
    out["rps"] = out["requests"] / out["seconds"] if out["seconds"] else 0.0
    return out


def _run_wrk(host, port, paths, headers, connections, seconds) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script, listing = os.path.join(tmp, "mix.lua"), os.path.join(tmp, "paths.txt")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)
        with open(listing, "w") as f:
            f.write("\n".join(paths) + "\n")
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", script]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd += [f"http://{host}:{port}", "--", listing]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30,
                              check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("JSON "))
    return json.loads(line[5:]) | {"tool": "wrk"}


async def _run_python(host, port, paths, headers, connections, seconds) -> dict:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [f"GET {p} HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode() for p in paths]
    latencies: list[float] = []
    counts = {"errors": 0, "non_2xx": 0}
    start = time.perf_counter()
    stop = start + seconds

    async def one_connection(offset: int) -> None:
        i = offset
        reader = writer = None
        while time.perf_counter() < stop:
            i = (i + 1) % len(requests)
            tick = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(requests[i])
                status, close = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                writer = None
                continue
            latencies.append(time.perf_counter() - tick)
            if not 200 <= status < 300:
                counts["non_2xx"] += 1
            if close:
                writer.close()
                writer = None

    await asyncio.gather(*(one_connection(c * 997) for c in range(connections)))
    elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {"requests": len(latencies), "seconds": elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
            "tool": "python (asyncio, same machine: pessimistic)"} | counts


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status and whether the server closes the connection; reads the body (Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close

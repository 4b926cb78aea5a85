"""Run a bench script's measurement in a fresh process and read the JSON line it prints last.

Imports: the standard library only.
"""

from __future__ import annotations

import json
import subprocess
import sys


def run_json(cmd: list[str], **options) -> dict:
    """``cmd``'s last stdout line as JSON; exits with the command and its stderr tail if it fails.

    ``options`` go to :func:`subprocess.run` (``env``, ``cwd``).
    """
    done = subprocess.run(cmd, capture_output=True, text=True, **options)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])

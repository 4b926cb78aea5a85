"""Run a bench script's measurement in a fresh process and read the JSON line it prints last.

Imports: the standard library only.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

#: The checkout these scripts belong to: the default source tree to measure.
THIS_TREE = str(Path(__file__).resolve().parent.parent)


def run_json(cmd: list[str], **options) -> dict:
    """``cmd``'s last stdout line as JSON; exits with the command and its stderr tail if it fails.

    ``options`` go to :func:`subprocess.run` (``env``, ``cwd``).
    """
    done = subprocess.run(cmd, capture_output=True, text=True, **options)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_trees(trees: list[str] | None, repeat: int, one_run, keys) -> dict[str, list[dict]]:
    """``one_run(tree)`` ``repeat`` times per source tree, alternating the trees (a change
    in the machine's load hits each alike); prints every run, then a Markdown table of each
    tree's medians of ``keys``. ``trees``: default this checkout."""
    trees = trees or [THIS_TREE]
    runs: dict[str, list[dict]] = {tree: [] for tree in trees}
    for _ in range(repeat):
        for tree in trees:
            run = one_run(tree)
            runs[tree].append(run)
            print(tree, json.dumps({k: round(v, 2) for k, v in run.items()}), flush=True)
    print("| tree | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for tree, done in runs.items():
        print(f"| {tree} | " + " | ".join(
            f"{statistics.median(r[k] for r in done):,.1f}" for k in keys) + " |")
    return runs

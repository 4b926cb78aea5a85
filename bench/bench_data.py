"""The data a bench script runs on: a data directory, or the Complete Journey imported afresh.

Shared by the model benchmarks (``bench_features.py``, ``bench_churn_value.py``,
``bench_recommenders.py``), which take either ``DATA_DIR`` or
``--completejourney``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from features.loading import load_dataset


def bench_dataset(data_dir: Path | None, completejourney: bool,
                  cj_name: str = "completejourney", **load_kwargs):
    """``(dataset, name)`` of ``data_dir``, or of the Complete Journey imported to a temp dir.

    Exactly one of ``data_dir`` and ``completejourney`` must be given (a
    usage error otherwise). ``load_kwargs`` go to
    :func:`features.loading.load_dataset` for the Complete Journey import.
    """
    if (data_dir is None) == (not completejourney):
        raise click.UsageError("pass either DATA_DIR or --completejourney")
    if not completejourney:
        return load_dataset(data_dir), data_dir.name
    from training.importers.completejourney import import_completejourney

    with tempfile.TemporaryDirectory() as tmp:
        import_completejourney(Path(tmp) / "cj")
        return load_dataset(Path(tmp) / "cj", **load_kwargs), cj_name

"""A training run opened as ``offers train`` opens it, for bench scripts that run single steps.

Imports: :mod:`training` (run with the repository root on ``sys.path``, as the
bench scripts set it).
"""

from __future__ import annotations


def open_run(data, config: dict, *, engine: str = "duckdb", memory_limit: str | None = None):
    """A :class:`training.pipeline.TrainingRun` of ``data`` loaded on ``engine``
    (:func:`training.engines.load_for_engine`), as of the day after its last line, with no
    step skipped. Its ``engine_tables`` (None on pandas) are the caller's to close."""
    from training.engines import line_span, load_for_engine
    from training.pipeline import TrainingRun, resolve_as_of

    dataset, tables = load_for_engine(engine, data, memory_limit=memory_limit)
    lines = None if tables is None else tables.lines
    span = line_span(dataset.transactions if lines is None else lines)
    run = TrainingRun(data, resolve_as_of(span, None), config, dataset, engine_tables=tables,
                      engine=engine, line_span=span)
    run.metrics["skipped"] = {}
    return run

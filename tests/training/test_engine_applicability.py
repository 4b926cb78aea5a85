"""The applicability checks and ``as_of`` from engine aggregates equal the pandas answers.

``offers train --engine duckdb`` never holds the lines in pandas, so the skip
reasons, the churn horizon and the default ``as_of`` come from aggregates on
DuckDB (:class:`training.applicability.History`). Over the odd data shapes of
:mod:`training.synth.shapes` (one item, a few weeks, a dozen members, ...) and
several cutoffs, they must give what the pandas lines give.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import DataError
from features.loading import load_dataset
from features.relational import connect, load_relational
from training.applicability import History, churn_horizon, history, skip_reasons
from training.config import load_config
from training.engines import line_span
from training.pipeline import resolve_as_of
from training.synth.generate import generate
from training.synth.shapes import DataShape

SHAPES = {
    "one_item": (40, DataShape(n_items=1, no_categories=True, no_offers=True,
                               returns_share=0.05)),
    "dozen_members": (12, DataShape()),
    "five_weeks": (40, DataShape(weeks=5)),
    "eight_weeks": (40, DataShape(weeks=8)),
    "default": (40, DataShape(one_time_share=0.3)),
}


@pytest.fixture(scope="module", params=list(SHAPES))
def both(request, tmp_path_factory):
    """One shape's data loaded by pandas and by DuckDB: ``(name, dataset, relational)``."""
    n_members, shape = SHAPES[request.param]
    data = generate(tmp_path_factory.mktemp(request.param) / "data", n_members, seed=3,
                    shape=shape)
    con = connect()
    yield request.param, load_dataset(data), load_relational(con, data)
    con.disconnect()


def _cutoffs(dataset) -> list[pd.Timestamp]:
    """The default as_of and earlier ones, down to a few days after the first line."""
    first, last = line_span(dataset.transactions)
    default = last.normalize() + pd.Timedelta(days=1)
    earlier = [default - pd.Timedelta(days=d) for d in (30, 250)]
    return [default, *[c for c in earlier if c > first + pd.Timedelta(days=2)]]


def test_skip_reasons_and_churn_horizon_from_the_engine_equal_pandas(both):
    name, dataset, relational = both
    config = load_config()
    lines = relational.transactions
    answers = set()
    for as_of in _cutoffs(dataset):
        want = history(dataset, as_of)
        got = History.of_engine(lines, as_of)
        assert (got.n_items, got.n_members, got.first) == (
            want.n_items, want.n_members, want.first), (name, as_of)
        for horizon in (None, 56):
            config["churn"]["horizon_days"] = horizon
            reasons = skip_reasons(None, as_of, config, lines=lines)
            assert reasons == skip_reasons(dataset, as_of, config), (name, as_of, horizon)
            answers.add(tuple(sorted(reasons)))
            derived = churn_horizon(None, as_of, horizon, lines=lines)
            assert derived == churn_horizon(dataset, as_of, horizon), (name, as_of, horizon)
        assert got.cadence_horizon() == want.cadence_horizon(), (name, as_of)
    if name == "one_item":  # the shapes do reach the skips (the comparison is not vacuous)
        assert ("recommendations",) in answers
    if name == "eight_weeks":  # enough history for every step, then too little
        assert () in answers and ("churn", "recommendations", "value") in answers
    if name == "dozen_members":  # and below 20 members no churn at any cutoff
        assert answers == {("churn", "value")}
        assert churn_horizon(None, _cutoffs(dataset)[-1], None, lines=lines) == 35


def test_as_of_from_the_engine_equals_pandas(both):
    name, dataset, relational = both
    lines = relational.transactions
    assert line_span(lines) == line_span(dataset.transactions)
    assert resolve_as_of(lines, None) == resolve_as_of(dataset.transactions, None)
    first = line_span(dataset.transactions)[0]
    with pytest.raises(DataError, match="is not after the first transaction") as on_engine:
        resolve_as_of(lines, first.normalize())
    with pytest.raises(DataError) as on_pandas:
        resolve_as_of(dataset.transactions, first.normalize())
    assert str(on_engine.value) == str(on_pandas.value)
    assert relational.row_counts() == dataset.row_counts()

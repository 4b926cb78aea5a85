"""The "horizons" step on a member sample above ``max_members`` buyers (issue 11 at 1M members):
the same sample on pandas and DuckDB, nothing sampled (the same numbers) below the limit."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pandas as pd
import pytest

from features.errors import ConfigError
from features.loading import load_dataset
from features.relational.portable import to_frame
from models.lifecycle import engine_sample_buyers, make_windows, sample_buyers
from training.config import load_config
from training.horizon_step import fit_horizon_step, fit_purchase_cycle, validate_horizon
from training.synth.generate import generate

AS_OF = pd.Timestamp("2026-01-01")
LIMIT = 150  # of the ~400 members who bought before AS_OF


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_dataset(generate(tmp_path_factory.mktemp("horizon-sample") / "data", 400,
                                 seed=5))


@pytest.fixture(scope="module")
def full(dataset):
    """The validation at 45 days of every member (no limit)."""
    return validate_horizon(dataset, AS_OF, 45, max_members=None)


@pytest.fixture
def engine(dataset):
    from training.engines import open_engine

    tables = open_engine("duckdb", dataset)
    yield tables
    tables.close()


def temp_tables(engine) -> set[str]:
    rows = engine.con.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary")
    return {name for (name,) in rows.fetchall()}


def step(dataset, engine=None, max_members=LIMIT):
    run = SimpleNamespace(dataset=dataset, as_of=AS_OF, engine_tables=engine, metrics={},
                          tables={}, horizon_days=None, windows=None,
                          config=load_config(churn={"validate_horizons": [45]}))
    fit_horizon_step(run, max_members=max_members)
    return run


def test_below_the_limit_nothing_is_sampled_and_the_numbers_are_unchanged(dataset, full):
    """Through the pipeline's steps at H = 45 days: the step reuses the windows step's windows
    and the churn and value steps' metrics, and gives validate_horizon's numbers exactly."""
    from training import pipeline

    config = load_config(churn={"horizon_days": 45, "validate_horizons": [45]})
    run = pipeline.TrainingRun("data", AS_OF, config, dataset)
    for fit in (pipeline._windows, pipeline._churn, pipeline._value):
        fit(run)
    n = sample_buyers(dataset, AS_OF, None).n_members
    fit_horizon_step(run, max_members=n)
    found = run.metrics["horizons"]
    assert found["sample_fraction"] == 1.0 and found["members_before_as_of"] == n
    got = copy.deepcopy(found["validation"]["45"])
    # At H the version's own models (as served) are the models fitted at H: listed twice.
    assert got["churn"].pop("churn_model_at_H") == got["churn"]["churn_model"]
    assert got["value"].pop("value_model_at_H") == got["value"]["value_model"]
    # The sums of the value step's own forecasts on the same window: its median is the
    # model fitted at H; its mean (the CLV's) is what mean_spend_<N>d sums to.
    sums = got["value_sums"]
    assert sums.pop("value_model_at_H") == sums["value_model"] == full["value_sums"][
        "value_model"]
    assert sums.pop("value_mean_at_H") == run.metrics["value"]["clv_mean"]
    assert got.pop("sums_se") > 0  # both means scored on the same members: their noise
    assert got == full
    assert found["params"] == fit_purchase_cycle(dataset.transactions, AS_OF)[0]


def test_the_same_sample_on_pandas_and_duckdb(dataset, engine):
    want = sample_buyers(dataset, AS_OF, LIMIT, random_state=3)
    with engine_sample_buyers(engine.lines, AS_OF, LIMIT, random_state=3) as got:
        assert 0.2 < want.fraction < 0.6 and got.n_members == want.n_members
        assert got.kept.equals(want.kept)
        assert set(want.dataset.transactions["member_id"].astype(str)) == set(want.kept)
        lines = to_frame(got.lines)
        assert set(lines["member_id"]) == set(want.kept)
        assert len(lines) == len(want.dataset.transactions)
        table = got._table
        assert table in temp_tables(engine)
    assert table not in temp_tables(engine)  # the temporary table is dropped
    other = sample_buyers(dataset, AS_OF, LIMIT, random_state=4)
    assert not other.kept.equals(want.kept)


def test_above_the_limit_the_step_learns_from_the_sample_on_both_engines(dataset, engine, full):
    got, want = step(dataset, engine), step(dataset)
    found = want.metrics["horizons"]
    assert found["trained"] and 0.2 < found["sample_fraction"] < 0.6
    assert found["members_before_as_of"] == sample_buyers(dataset, AS_OF, None).n_members
    # Parameters from the sample, every member scored.
    every, _ = fit_purchase_cycle(dataset.transactions, AS_OF)
    assert found["params"]["bgnbd"] != every["bgnbd"]
    assert len(want.horizon_summary) == found["members_before_as_of"]
    assert got.horizon_summary.index.equals(want.horizon_summary.index)
    # Spend sums differ in their last bits between engines: Gamma-Gamma's flat likelihood
    # lets L-BFGS-B stop a little apart (within its tolerance).
    for model, rel in (("bgnbd", 1e-6), ("gamma_gamma", 1e-3)):
        numbers = {k: v for k, v in found["params"][model].items() if k != "model"}
        assert {k: got.metrics["horizons"]["params"][model][k] for k in numbers} == (
            pytest.approx(numbers, rel=rel))
    # The validation: the sample's members only, the same ones on both engines.
    val, ref = got.metrics["horizons"]["validation"]["45"], found["validation"]["45"]
    assert ref["validation_members"] == val["validation_members"] < 0.6 * full[
        "validation_members"]
    for task, models in (("churn", ("recency_only", "bgnbd")),
                         ("value", ("past_spend_rate", "bgnbd_gamma_gamma"))):
        for model in models:
            assert val[task][model] == pytest.approx(ref[task][model], rel=1e-6), model
    assert val["churn"]["churn_model"]["roc_auc"] == pytest.approx(
        ref["churn"]["churn_model"]["roc_auc"], abs=0.01)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "many"])
def test_a_bad_limit_is_refused_with_its_name(dataset, bad):
    with pytest.raises(ConfigError, match=f"max_members={bad!r} should be a positive whole"):
        validate_horizon(dataset, AS_OF, 45, max_members=bad)
    with pytest.raises(ConfigError, match="max_members"):
        step(dataset, max_members=bad)


def test_windows_or_a_sample_of_another_horizon_or_date_are_refused(dataset):
    windows = make_windows(dataset, AS_OF, 30, max_members=None)
    with pytest.raises(ConfigError, match="windows given are at 30 days"):
        validate_horizon(dataset, AS_OF, 45, windows=windows)
    with pytest.raises(ConfigError, match="pass windows= too"):
        validate_horizon(dataset, AS_OF, 45, measured={"churn": {}, "value": {}})
    earlier = sample_buyers(dataset, AS_OF - pd.Timedelta(days=7), None)
    with pytest.raises(ConfigError, match="sample was drawn as of"):
        validate_horizon(dataset, AS_OF, 45, sample=earlier)


def test_horizons_sharing_a_cutoff_build_its_features_once(dataset):
    from features.member_features import build_member_features

    calls = []

    def builder(data, cutoff):
        calls.append(cutoff)
        return build_member_features(data, cutoff)

    sample = sample_buyers(dataset, AS_OF, None)
    make_windows(dataset, AS_OF, 30, feature_builder=builder, sample=sample)
    shared = make_windows(dataset, AS_OF, 60, feature_builder=builder, sample=sample)
    assert sorted((AS_OF - c).days for c in calls) == [30, 60, 90, 120, 180]  # 60: once
    alone = make_windows(dataset, AS_OF, 60, max_members=None)
    pd.testing.assert_frame_equal(shared.features, alone.features)
    pd.testing.assert_frame_equal(shared.outcomes, alone.outcomes)


def test_with_a_derived_horizon_the_windows_step_builds_every_horizons_features_at_once(
        dataset, engine, monkeypatch):
    """Default config (churn horizon derived from the cadence) on DuckDB: the windows step
    builds the member features of its windows and of every validate horizon's in one pass,
    and the step "horizons" builds none (before, the prefetch was skipped when the horizon
    was derived and the horizons step made a second pass: its own peak at 200k; issue 11)."""
    import models.lifecycle.engine_windows as engine_windows
    from training import pipeline

    calls = []
    together = engine_windows.member_features_at

    def spy(lines, small, cutoffs, **kw):
        calls.append(sorted(cutoffs))
        return together(lines, small, cutoffs, **kw)

    monkeypatch.setattr(engine_windows, "member_features_at", spy)
    config = load_config(churn={"validate_horizons": [30, 45]})
    assert config["churn"]["horizon_days"] in (None, 0)
    run = pipeline.TrainingRun("data", AS_OF, config, dataset, engine_tables=engine)
    pipeline._windows(run)
    assert len(calls) == 1 and len(calls[0]) > len(run.windows.cutoffs)
    pipeline._churn(run)
    pipeline._value(run)
    fit_horizon_step(run)
    # The version's models are judged at 30 and 45 days too, on H-day windows ending at
    # each horizon's cutoff: one pass each for those (not kept), none for the rest.
    found = run.metrics["horizons"]["validation"]
    assert set(found) >= {"30", "45"}
    assert all("churn_model_at_H" in found[h]["churn"] for h in found)
    others = [int(h) for h in found if int(h) != run.horizon_days]
    assert len(calls) == 1 + len(others)
    for h, cutoffs in zip(sorted(others), calls[1:], strict=True):
        assert max(cutoffs) == AS_OF - pd.Timedelta(days=h + run.horizon_days)


def test_a_sample_ending_earlier_shares_the_members_and_features(dataset):
    with sample_buyers(dataset, AS_OF, LIMIT, random_state=3) as sample:
        kept = sample.features_at(AS_OF, "source", lambda: pd.DataFrame({"x": [1]}))
        earlier = sample.ending_at(AS_OF - pd.Timedelta(days=30))
        assert earlier.as_of == AS_OF - pd.Timedelta(days=30) and earlier.kept is sample.kept
        earlier.check(AS_OF - pd.Timedelta(days=30))
        assert earlier.features_at(AS_OF, "source", lambda: None).equals(kept)  # read
        earlier.features_at(earlier.as_of, "source", lambda: pd.DataFrame({"x": [2]}))
        assert earlier.as_of not in sample._features  # its own, not held by the sample
        with pytest.raises(ConfigError, match="need a sample drawn as of then"):
            sample.ending_at(AS_OF + pd.Timedelta(days=1))

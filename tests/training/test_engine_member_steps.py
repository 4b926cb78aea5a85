"""The offer-response and uplift steps on a relational engine (DuckDB): only their member
sample's lines in pandas, the same models and scores as on pandas.

The pandas steps are the oracle. On the engine the steps must not read the
loaded lines (``run.dataset.transactions``) nor its events: the run's dataset
here raises on either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import training.pipeline as pipeline
import training.uplift_step as uplift_step
from features.errors import ConfigError
from features.loading import load_dataset
from models.member_source import LINE_ORDER, MemberSource, in_line_order
from models.offer_response import (
    OfferResponseModel,
    compute_affinity,
    fit_offer_response,
    offer_specs_from_events,
)
from models.offer_response.engine_affinity import engine_affinity
from models.uplift import engine_member_uplift, member_uplift
from training.config import load_config
from training.engines import engine_features, open_engine
from training.pipeline import TrainingRun, _offer_response, resolve_as_of
from training.uplift_step import fit_uplift_step

FAST_UPLIFT = 10  # boosting rounds of the uplift step's models here (60 in training)


class LinesOnTheEngine:
    """A loaded dataset whose lines and events must not be read (they are on the engine)."""

    def __init__(self, dataset):
        self._dataset = dataset

    def __getattr__(self, name):
        if name in ("transactions", "offer_events"):
            raise AssertionError(f"an engine step read run.dataset.{name}")
        return getattr(self._dataset, name)


@pytest.fixture(scope="module")
def engine(synth_data):
    dataset = load_dataset(synth_data)
    tables = open_engine("duckdb", dataset)
    yield dataset, tables
    tables.close()


@pytest.fixture(scope="module")
def runs(synth_data, engine):
    """The two steps on DuckDB and on pandas: ``(pandas run, oracle run, engine run, fits)``.

    The oracle is pandas building the rows from the same members' data as the
    engine (``MemberSource.of_dataset(rows_from_all=False)``); the pandas run
    (offer response only) builds them from every member's, as training does.
    """
    dataset, tables = engine
    config = load_config()
    as_of = resolve_as_of(dataset.transactions, None)
    member_features, _ = engine_features(tables, as_of, config["features"])
    on_pandas, oracle = (TrainingRun(str(synth_data), as_of, config, dataset=dataset,
                                     member_features=member_features) for _ in range(2))
    on_engine = TrainingRun(str(synth_data), as_of, config, dataset=LinesOnTheEngine(dataset),
                            engine_tables=tables, member_features=member_features)
    fits = []
    fit = uplift_step.fit_uplift
    with pytest.MonkeyPatch.context() as patch, threadpool_limits(1):
        patch.setattr(uplift_step, "MAX_ITER", FAST_UPLIFT)
        patch.setattr(uplift_step, "fit_uplift",
                      lambda *a, **kw: fits.append(fit(*a, **kw)) or fits[-1])
        _offer_response(on_pandas)
        for run in (on_engine, oracle):
            if run is oracle:
                source = MemberSource.of_dataset(dataset, rows_from_all=False)
                patch.setattr(pipeline, "member_source", lambda _: source)
                patch.setattr(uplift_step, "member_source", lambda _: source)
            _offer_response(run)
            fit_uplift_step(run)
    return on_pandas, oracle, on_engine, fits


def test_the_offer_response_step_learns_the_same_model_on_the_engine(runs):
    on_pandas, oracle, on_engine, _ = runs
    assert isinstance(on_engine.offer_response, OfferResponseModel)
    want, got = oracle.metrics["offer_response"], on_engine.metrics["offer_response"]
    assert want["training_sends"] > 1000 and want["sample_fraction"] == 1.0
    assert got == want  # estimator, sends, validation scores and calibration
    pd.testing.assert_frame_equal(on_engine.tables["response_calibration"],
                                  oracle.tables["response_calibration"])
    # pandas training builds the rows from every member's data: population values differ
    full = on_pandas.metrics["offer_response"]
    for key in ("estimator", "training_sends", "sends_before_as_of", "base_rate"):
        assert got[key] == full[key], key
    assert got["roc_auc"] == pytest.approx(full["roc_auc"], abs=0.02)


def test_the_uplift_step_validates_the_same_models_on_the_engine(runs):
    _, oracle, on_engine, fits = runs
    want, got = oracle.metrics["uplift"], on_engine.metrics["uplift"]
    assert want["trained"] and len(want["models"]) >= 2
    assert got == want
    for name in ("uplift_validation", "uplift_curves"):
        pd.testing.assert_frame_equal(on_engine.tables[name], oracle.tables[name])
    # Every member's scores (on the engine from the run's own member features).
    assert want["served_types"] and len(oracle.tables["uplift_scores"]) > 500
    pd.testing.assert_frame_equal(on_engine.tables["uplift_scores"],
                                  oracle.tables["uplift_scores"], rtol=1e-9)
    pd.testing.assert_frame_equal(fits[0].rows, fits[1].rows)


def test_every_member_is_scored_on_the_engine_as_on_pandas(runs, engine):
    on_pandas, *_, fits = runs
    dataset, tables = engine
    fit = fits[1]
    offers = offer_specs_from_events(dataset)
    ids = np.r_[on_pandas.member_features.index.to_numpy(dtype=str), ["never-bought"]]
    want = member_uplift(fit, dataset, offers, on_pandas.as_of, ids, chunk=250)
    got = engine_member_uplift(fit, tables.lines, tables.small, offers, on_pandas.as_of, ids,
                               chunk=250)
    assert len(want) == len(ids) * len({t for t, _ in fit.models}) and len(ids) > 500
    assert want["uplift_spend"].notna().all() and want["uplift_spend"].std() > 0
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)


def test_a_sampled_offer_response_model_is_the_same_on_the_engine(engine):
    dataset, tables = engine
    as_of = resolve_as_of(dataset.transactions, None)
    source = MemberSource(tables.small["offer_events"], dataset.offers, tables.member_dataset)
    kept = []
    with threadpool_limits(1):
        want, got = (fit_offer_response(data, as_of=as_of, max_sends=1500, random_state=3,
                                        on_rows=lambda rows, _: kept.append(rows))
                     for data in (dataset, source))
    assert isinstance(got, OfferResponseModel) and 0.2 < got.sample_fraction_ < 0.6
    assert (got.n_rows_, got.sample_fraction_) == (want.n_rows_, want.sample_fraction_)
    assert got.validation_scores_ == want.validation_scores_
    pd.testing.assert_frame_equal(kept[1], kept[0])
    np.testing.assert_array_equal(got.predict_proba_rows(kept[0]),
                                  want.predict_proba_rows(kept[0]))


def test_an_engine_source_needs_as_of(engine):
    dataset, tables = engine
    source = MemberSource(tables.small["offer_events"], dataset.offers, tables.member_dataset)
    with pytest.raises(ConfigError, match="as_of is required when the data are on an engine"):
        fit_offer_response(source)


def test_the_affinity_on_the_engine_equals_the_pandas_affinity(engine):
    dataset, tables = engine
    offers = offer_specs_from_events(dataset)
    items = dataset.items["item_id"].astype(str).to_numpy()
    odd = offers.iloc[:3].assign(
        offer_id=["whole-basket", "items-only", "unknown-category"],
        categories=[(), ("no-such-category",), (offers["categories"].iloc[2][0], "nope")],
        items=[tuple(items[:40]), tuple(items[5:9]), ()])
    offers = pd.concat([offers, odd], ignore_index=True)
    ids = np.r_[dataset.members["member_id"].astype(str).to_numpy(), ["never-bought"]]
    as_of = dataset.transactions["timestamp"].quantile(0.7).floor("D")
    got = engine_affinity(tables.lines, dataset.items, offers, as_of, ids)
    want = compute_affinity(dataset, offers, as_of, ids)
    assert (got.member_ids == want.member_ids).all() and (got.offer_ids == want.offer_ids).all()
    for name in ("category_share", "lift", "item_purchases", "population_share"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    assert np.nanmax(got.item_purchases) > 0 and np.isnan(got.category_share[-1]).all()
    assert (got.category_share[:-1, -3] == 1.0).mean() > 0.5  # whole basket: 1 for buyers


def test_pandas_member_samples_come_in_the_engines_line_order(engine):
    dataset, tables = engine
    ids = pd.Index(sorted(dataset.members["member_id"].astype(str))[::5])
    got = MemberSource.of_dataset(dataset).fetch(ids).transactions
    want = tables.member_dataset(ids).transactions
    columns = list(LINE_ORDER)
    pd.testing.assert_frame_equal(got[columns].astype({"member_id": str, "item_id": str}),
                                  want[columns].astype({"member_id": str, "item_id": str}))
    shuffled = got.sample(frac=1.0, random_state=0)
    assert not shuffled.index.equals(got.index)
    pd.testing.assert_frame_equal(in_line_order(shuffled), got)


def test_a_sampled_uplift_fit_is_the_same_on_the_engine(engine):
    """Above max_members participants the rows come from a seeded sample, on both engines."""
    from models.member_source import members_with_events
    from models.offer_response import offer_specs_from_events
    from models.uplift import fit_uplift

    dataset, tables = engine
    as_of = resolve_as_of(dataset.transactions, None)
    source = MemberSource(tables.small["offer_events"], dataset.offers, tables.member_dataset)
    everyone, _ = members_with_events(dataset.offer_events, as_of, ("sent", "holdout"))
    offers = offer_specs_from_events(dataset)
    limit = int(len(everyone) * 0.6)
    with threadpool_limits(1):
        want, got = (fit_uplift(data, as_of, offers, max_members=limit, max_iter=20)
                     for data in (dataset, source))
    members = got.rows["member_id"].astype(str).unique()
    assert 0.4 * len(everyone) < len(members) <= 0.75 * len(everyone)
    pd.testing.assert_frame_equal(got.rows, want.rows)
    pd.testing.assert_frame_equal(got.validation, want.validation)


def test_an_uplift_sample_limit_that_is_not_a_positive_whole_number_is_named(engine):
    from models.offer_response import offer_specs_from_events
    from models.uplift import fit_uplift

    dataset, _ = engine
    as_of = resolve_as_of(dataset.transactions, None)
    with pytest.raises(ConfigError, match="max_members=0 should be a positive whole number"):
        fit_uplift(dataset, as_of, offer_specs_from_events(dataset), max_members=0)


def test_scoring_reuses_the_runs_member_features_and_recomputes_only_the_mix(
        runs, engine, monkeypatch):
    """With the run's features (5 category columns here) only the category shares are
    computed again; the scores equal those of a full build with every category."""
    import features.relational as relational

    on_pandas, *_, fits = runs
    dataset, tables = engine
    fit, offers = fits[1], offer_specs_from_events(dataset)
    as_of = on_pandas.as_of
    assert as_of == as_of.normalize()
    ids = on_pandas.member_features.index.to_numpy(dtype=str)
    base = relational.member_features(tables.lines, tables.small, as_of, n_categories=5)
    assert base.filter(like="cat_share__").shape[1] == 6
    want = engine_member_uplift(fit, tables.lines, tables.small, offers, as_of, ids, chunk=250)

    def no_full_build(*args, **kwargs):
        raise AssertionError("every member feature was built again")

    monkeypatch.setattr(relational, "member_features", no_full_build)
    got = engine_member_uplift(fit, tables.lines, tables.small, offers, as_of, ids, chunk=250,
                               base=base.iloc[::-1], base_trend_days=90)
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)
    # Another trend window: the base is not the rows' features, so it is not used.
    with pytest.raises(AssertionError, match="built again"):
        engine_member_uplift(fit, tables.lines, tables.small, offers, as_of, ids,
                             base=base, base_trend_days=30)


def test_the_uplift_scoring_sums_the_features_steps_staged_spend_then_drops_it(
        synth_data, runs, engine, monkeypatch):
    """The features step stages each member's (department, category) spend on DuckDB and
    the uplift step's scoring sums its category shares from it (the lines are not
    grouped again), with the same scores; the staged table goes when the step ends."""
    import ibis

    import features.relational.purchases as purchases

    _, _, on_engine, _ = runs
    dataset, tables = engine
    con = ibis.get_backend(tables.lines)
    views = lambda: {v for (v,) in con.raw_sql(  # noqa: E731
        "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    config = load_config()
    member_features, _ = engine_features(tables, on_engine.as_of, config["features"])
    assert tables.spend is not None and tables.spend.table.get_name() in views()

    def no_grouping(*args, **kwargs):
        raise AssertionError("the lines were grouped into spend pairs again")

    monkeypatch.setattr(purchases, "spend_pairs", no_grouping)
    monkeypatch.setattr(uplift_step, "MAX_ITER", FAST_UPLIFT)
    run = TrainingRun(str(synth_data), on_engine.as_of, config,
                      dataset=LinesOnTheEngine(dataset), engine_tables=tables,
                      member_features=member_features)
    with threadpool_limits(1):
        _offer_response(run)
        name = tables.spend.table.get_name()
        fit_uplift_step(run)
    assert tables.spend is None and name not in views()
    pd.testing.assert_frame_equal(run.tables["uplift_scores"],
                                  on_engine.tables["uplift_scores"], rtol=1e-9)

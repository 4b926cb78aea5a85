"""Members scored in partitions on Spark equal the driver's scoring (training/spark_scoring.py)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.errors import ConfigError
from models.lifecycle.value import PastSpendBaseline
from training.member_scoring import HorizonModels, MemberModels, member_predictions
from training.member_table import member_table
from training.spark_scoring import pickled, spark_member_predictions


def _models(run) -> MemberModels:
    return MemberModels(run.churn, run.value, run.offer_response)


def test_partitions_on_spark_score_every_member_as_the_driver_does(spark_con, trained_run):
    mf = trained_run.member_features.sample(frac=1.0, random_state=3)  # not in id order
    models = _models(trained_run)
    want = member_predictions(models, mf)
    got = spark_member_predictions(spark_con, models, mf, partitions=3)
    assert list(got.index) == list(mf.index) and list(got.columns) == list(want.columns)
    buyers = mf["frequency"].to_numpy() > 0
    assert 100 < buyers.sum() < len(mf)  # both branches: buyers and members without a purchase
    for col in ("p_redeem_base", "churn_risk", "expected_spend", "clv"):
        np.testing.assert_allclose(got[col].to_numpy(dtype=float),
                                   want[col].to_numpy(dtype=float), rtol=1e-9, atol=1e-12,
                                   err_msg=col)
    assert np.isnan(got["churn_risk"].to_numpy(dtype=float)[~buyers]).all()
    for col in ("churn_reason_codes", "churn_reasons"):
        got_lists = [list(v) for v in got[col].tolist()]
        assert got_lists == [list(v) for v in want[col].tolist()], col
        assert any(got_lists)  # some member has a reason: the comparison says something


def test_the_member_table_on_spark_equals_the_drivers(spark_con, trained_run):
    want = member_table(trained_run)
    on_spark = replace(trained_run, engine="spark",
                       engine_tables=SimpleNamespace(con=spark_con))
    got = member_table(on_spark)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)


def test_the_served_horizon_models_score_on_spark_as_in_the_driver(spark_con, trained_run):
    # The churn model served at H, a spend model per horizon (here the version's, twice).
    horizons = (HorizonModels(28, trained_run.churn, trained_run.value),
                HorizonModels(60, None, PastSpendBaseline(60)))
    models = replace(_models(trained_run), horizons=horizons)
    mf = trained_run.member_features.head(300)
    want = member_predictions(models, mf)
    got = spark_member_predictions(spark_con, models, mf, partitions=2)
    columns = ["churn_risk_28d", "expected_spend_28d", "expected_spend_60d"]
    assert models.horizon_columns() == columns and list(got.columns[-3:]) == columns
    for col in columns:
        np.testing.assert_allclose(got[col].to_numpy(dtype=float),
                                   want[col].to_numpy(dtype=float), rtol=1e-9, err_msg=col)
    np.testing.assert_allclose(got["churn_risk_28d"], got["churn_risk"], rtol=1e-12)


def test_the_versions_own_models_are_not_run_again_for_the_horizon_columns(trained_run,
                                                                            monkeypatch):
    calls = []
    for name, model, method in (("churn", trained_run.churn, "predict_proba"),
                                ("value", trained_run.value, "predict"),
                                ("value", trained_run.value, "predict_with_mean")):
        real = getattr(model, method)
        monkeypatch.setattr(model, method,
                            lambda X, real=real, name=name: calls.append(name) or real(X))
    refit = PastSpendBaseline(28)  # another spend model at 28 days: run
    models = replace(_models(trained_run), horizons=(
        HorizonModels(28, trained_run.churn, trained_run.value), HorizonModels(60, None, refit)))
    mf = trained_run.member_features.head(200)
    got = member_predictions(models, mf)
    # Once each, for churn_risk and for expected_spend with the CLV's mean.
    assert sorted(calls) == ["churn", "value"]
    np.testing.assert_array_equal(got["churn_risk_28d"], got["churn_risk"])
    np.testing.assert_array_equal(got["expected_spend_28d"], got["expected_spend"])
    buyers = mf["frequency"].to_numpy() > 0
    np.testing.assert_allclose(got["expected_spend_60d"][buyers], refit.predict(mf[buyers]))


def test_skipped_lifecycle_models_score_only_p_redeem_on_spark(spark_con, trained_run):
    models = replace(_models(trained_run), churn=None, value=None)
    mf = trained_run.member_features.head(50)
    got = spark_member_predictions(spark_con, models, mf)
    want = member_predictions(models, mf)
    np.testing.assert_allclose(got["p_redeem_base"], want["p_redeem_base"], rtol=1e-9)
    assert np.isnan(got["churn_risk"].to_numpy(dtype=float)).all()
    assert (got["clv"] == 0).all() and got["churn_reasons"].tolist() == [[]] * 50


def test_a_model_that_does_not_pickle_is_a_clear_error(trained_run):
    models = replace(_models(trained_run), value=lambda x: x)
    with pytest.raises(ConfigError, match="value model cannot be sent to Spark"):
        pickled(models)

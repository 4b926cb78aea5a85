"""Fixtures of the model tests.

``case``: one synthetic program with planted churners (``training.synth.generate``),
its labelled windows and fitted churn and value models, built once per test
session: generation and fitting take a few seconds, and the churn and value
tests share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from features.dataset import Dataset
from features.loading import load_dataset
from models.lifecycle.churn import ChurnModel, RecencyBaseline
from models.lifecycle.value import ValueModel
from models.lifecycle.windows import TrainingWindows, make_windows

N_MEMBERS = 2000
SEED = 3
#: The day after the synthetic year (2025) ends.
AS_OF = pd.Timestamp("2026-01-01")


@dataclass
class SynthCase:
    dataset: Dataset
    truth: pd.DataFrame  # indexed by member_id: segment, churn_date, ...
    windows: TrainingWindows
    churn: ChurnModel
    baseline: RecencyBaseline
    value: ValueModel


@pytest.fixture(scope="session")
def case(tmp_path_factory) -> SynthCase:
    """The shared synthetic case, generated under pytest's session temporary directory."""
    from training.synth.generate import generate

    out = generate(tmp_path_factory.mktemp("churn_value") / "synth", N_MEMBERS, SEED)
    dataset = load_dataset(out, now="2026-06-01")
    truth = pd.read_parquet(out / "truth" / "members.parquet").set_index("member_id")
    windows = make_windows(dataset, AS_OF)
    X_train, y_train = windows.train()
    return SynthCase(
        dataset=dataset,
        truth=truth,
        windows=windows,
        churn=ChurnModel().fit_windows(windows),
        baseline=RecencyBaseline().fit(X_train, y_train["churned"]),
        value=ValueModel().fit_windows(windows),
    )


@dataclass
class UpliftCase:
    dataset: Dataset
    offers: pd.DataFrame
    truth: pd.DataFrame  # truth/uplift.parquet: member_id, offer_type, true_effect_*, group
    fit: object  # models.uplift.UpliftFit of the "points_multiplier" offers


#: Offer type the uplift tests fit (one type keeps them fast; its planted groups differ most).
UPLIFT_TYPE = "points_multiplier"


@pytest.fixture(scope="session")
def uplift_case(tmp_path_factory) -> UpliftCase:
    """A synthetic program with planted uplift and holdouts, and an X-learner fitted on it."""
    from models.offer_response import offer_specs_from_events
    from models.uplift import fit_uplift
    from training.synth.generate import generate

    out = generate(tmp_path_factory.mktemp("uplift") / "synth", 1500, seed=11)
    dataset = load_dataset(out, now="2026-06-01")
    offers = offer_specs_from_events(dataset, out / "truth" / "offers.parquet")
    truth = pd.read_parquet(out / "truth" / "uplift.parquet").astype(
        {"member_id": str, "offer_type": str, "group": str})
    with threadpool_limits(1):  # boosting on a busy 2-core box: 1 thread is ~5x faster
        fit = fit_uplift(dataset, AS_OF, offers, offer_types=[UPLIFT_TYPE], max_iter=40)
    return UpliftCase(dataset, offers, truth, fit)


@pytest.fixture
def one_thread():
    """Fit boosted trees on one OpenMP thread: many small fits are faster without spinning."""
    with threadpool_limits(1):
        yield

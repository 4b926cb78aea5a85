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

"""Plumbing shared by the tabular models (churn and value): feature matrices, checks and
the settings of their gradient-boosted trees (:func:`booster_settings`).

The feature frame becomes the float matrix the models learn from:

The churn and value models use the numeric and boolean columns of
:func:`features.member_features.build_member_features` (text columns such as
``top_category`` or ``tier`` are left out). Missing values and infinities become
NaN, which gradient-boosted trees handle natively.

Share columns (names with ``"__"``, e.g. ``cat_share__dairy``) are optional at
prediction time: one the frame lacks is read as 0.0, because the feature
builder only writes the categories it saw. Any other missing column is an error.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError, NotFittedError
from features.profile_features import CURRENT_ONLY

logger = logging.getLogger(__name__)


def numeric_feature_names(frame: pd.DataFrame) -> list[str]:
    """Names of the numeric and boolean columns of ``frame``, in frame order, but the
    members file's current-only values (:data:`features.profile_features.CURRENT_ONLY`:
    in a past window today's points balance tells the spend that came after it)."""
    names = []
    for name, dtype in frame.dtypes.items():
        if name in CURRENT_ONLY:
            continue
        if pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
        ):
            names.append(str(name))
    if not names:
        raise DataError("the feature frame has no numeric columns to learn from.")
    return names


def is_optional(name: str) -> bool:
    """Whether a missing column ``name`` may be read as 0.0 (a share or one-hot column)."""
    return "__" in name


def to_matrix(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """``frame[names]`` as float64, shape ``(len(frame), len(names))``; NA and inf -> NaN.

    Column-major (Fortran-ordered): the layout the trees predict fastest on
    (:func:`models.tree_input.by_columns`; the member table step at 200k members,
    which predicts churn, value and the churn reasons: 23.3 -> 19.4 s, bench/RESULTS.md).

    Raises
    ------
    DataError
        A column of ``names`` that is not optional (see :func:`is_optional`) is missing.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame of member features, got {type(frame)}.")
    missing = [n for n in names if n not in frame.columns]
    required = [n for n in missing if not is_optional(n)]
    if required:
        raise DataError(
            f"the feature frame lacks {len(required)} column(s) the model was fitted on: "
            f"{required[:5]}; build features with the same feature builder."
        )
    out = np.zeros((len(frame), len(names)), dtype=np.float64, order="F")
    present = [i for i, n in enumerate(names) if n in frame.columns]
    if present:
        cols = [names[i] for i in present]
        values = frame[cols].to_numpy(dtype=np.float64, na_value=np.nan)
        out[:, present] = values
    out[~np.isfinite(out)] = np.nan
    return out


def informative_columns(
    names: list[str], matrix: np.ndarray, min_count: int
) -> tuple[list[str], np.ndarray]:
    """Drop the columns with fewer than ``min_count`` non-missing values or a single value.

    Such columns cannot be split on (and an all-missing column makes
    scikit-learn's binning fail), so the models leave them out at fit time.

    Returns
    -------
    names : list of str
    matrix : ndarray, shape (n, len(names))
    """
    present = np.isfinite(matrix)
    count = present.sum(axis=0)
    lo = np.where(present, matrix, np.inf).min(axis=0)
    hi = np.where(present, matrix, -np.inf).max(axis=0)
    keep = (count >= max(min_count, 1)) & (hi > lo)
    dropped = [n for n, k in zip(names, keep) if not k]
    if dropped:
        logger.info("left out %d uninformative column(s): %s", len(dropped), dropped[:10])
    if not keep.any():
        raise DataError(
            f"no feature column has {min_count} or more non-missing values and more than one "
            f"value among {len(names)} column(s); there is nothing to learn from."
        )
    return [n for n, k in zip(names, keep) if k], matrix[:, keep]


def check_fitted(model, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``model`` has the fitted ``attribute``."""
    if not hasattr(model, attribute):
        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def check_horizon(wanted: int | None, got: int) -> None:
    """Refuse windows whose horizon differs from the one a model was configured with."""
    if wanted is not None and wanted != got:
        raise ConfigError(
            f"the model was configured with horizon_days={wanted} but the windows use "
            f"horizon_days={got}; build the windows with the model's horizon."
        )


def booster_settings(model) -> dict:
    """The histogram-boosting settings the churn and value models both pass to scikit-learn
    (their own hyperparameters, no early stopping), so the two boosters stay alike."""
    return {"max_iter": model.max_iter, "learning_rate": model.learning_rate,
            "max_leaf_nodes": model.max_leaf_nodes, "min_samples_leaf": model.min_samples_leaf,
            "l2_regularization": model.l2_regularization, "early_stopping": False,
            "random_state": model.random_state}

"""Training configuration: defaults, overridden by a TOML file and the command line.

Example ``train.toml``::

    seed = 7
    validation_days = 28      # the last weeks before as_of, held out for validation
    parallel_steps = true     # pandas engine, up to 5M lines: the recommender trains on a
                              # second thread beside the member steps (false: one step at
                              # a time, a lower peak memory); DuckDB and Spark always one
                              # at a time

    [features]
    n_categories = 20         # category-share features for the top N categories
    trend_days = 90

    [churn]
    horizon_days = 0          # 0 = derived from the data's purchase cadence
    validate_horizons = [30, 60, 90]  # also validated at these (BG/NBD answers any horizon)

    [recommend]
    tune = true               # grid-search ALS and blend weights on the validation split
    reuse_tuned = true        # a retrain reuses the previous version's tuned parameters
    k = 10
    factors = 64              # ALS latent factors
    iterations = 15
    validation_members = 100000  # validate on a seeded sample of this many members (0: all)
    warm_iterations = 5       # final ALS sweeps, warm-started from the validation fit (0: cold)
    als_members = 200000      # final ALS sweeps on a seeded sample of this many members, then
                              # every member solved against its item factors (0: all members)
    # never recommended, nor learned from: items whose category or department is one of these
    exclude_categories = ["FUEL", "KIOSK-GAS", "GASOLINE-REG UNLEADED", "COUPON", ...]

    [clusters]
    k_min = 3
    k_max = 8
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from features.errors import ConfigError
from features.files import read_toml

#: Not products, or not to be promoted: kept out of recommendations (``recommend.exclude_
#: categories``). Names of the Complete Journey data (fuel is a top seller there) and generic
#: ones; matched case-insensitively against an item's category and department.
EXCLUDED_CATEGORIES = (
    "FUEL", "KIOSK-GAS", "GASOLINE-REG UNLEADED", "PROPANE", "COUPON", "COUPON/MISC ITEMS",
    "COUPONS/STORE & MFG", "BOTTLE DEPOSITS", "CIGARETTES", "CIGARS", "TOBACCO OTHER",
    "LOTTERY", "POSTAGE STAMPS", "POSTAL CENTER", "CHARITABLE CONT", "GASOLINE", "DEPOSIT",
)

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "validation_days": 28,
    "parallel_steps": True,
    "features": {"n_categories": 20, "trend_days": 90},
    "churn": {"horizon_days": 0, "validate_horizons": [30, 60, 90]},
    "recommend": {"tune": True, "reuse_tuned": True, "k": 10, "factors": 64, "iterations": 15,
                  "validation_members": 100_000, "warm_iterations": 5,
                  "als_members": 200_000,
                  "exclude_categories": list(EXCLUDED_CATEGORIES)},
    "clusters": {"k_min": 3, "k_max": 8},
}


def load_config(path: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Defaults, updated by the TOML file at ``path``, then by non-None ``overrides``.

    Unknown keys and values of the wrong type are errors that name the key.
    """
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        _merge(config, read_toml(path), str(path), "")
    for key, value in overrides.items():
        if value is not None:
            _merge(config, {key: value}, "command line", "")
    for key in ("validation_members", "warm_iterations", "als_members"):
        if config["recommend"][key] < 0:
            raise ConfigError(f"recommend.{key}={config['recommend'][key]} should be >= 0.")
    horizons = config["churn"]["validate_horizons"]
    if not all(type(h) is int and 1 <= h <= 3650 for h in horizons):
        raise ConfigError(f"churn.validate_horizons={horizons} should be whole numbers of days "
                          "from 1 to 3650.")
    if config["validation_days"] < 7:
        raise ConfigError(f"validation_days={config['validation_days']} should be >= 7.")
    return config


def _merge(base: dict, update: dict, source: str, prefix: str) -> None:
    for key, value in update.items():
        name = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"{source}: unknown setting '{name}'; known: {', '.join(base)}.")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{name}' must be a table of settings.")
            _merge(base[key], value, source, f"{name}.")
        elif type(value) is not type(base[key]) and not (
            isinstance(base[key], float) and isinstance(value, int)
        ):
            raise ConfigError(
                f"{source}: '{name}' must be {type(base[key]).__name__}, got {value!r}."
            )
        else:
            base[key] = value

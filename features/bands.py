"""Member attributes given as a number or a band of numbers (``34``, ``35-44``, ``65+``,
``Under 15K``, ``50-74K``), read as one number each.

Survey and CRM exports give ages, incomes and household sizes as bands more often than
as numbers. The models need a number that orders the members: a band ``a-b`` reads as
its midpoint, ``a+`` (or ``over a``) as ``a``, ``under a`` (or ``< a``) as ``0.75 a``; a
``K`` multiplies by 1,000 and ``M`` by 1,000,000; currency signs and thousands commas are
ignored. Words that mean "not known" (``unknown``, ``n/a``, ``none``, ``-``, ``prefer not
to say``) are missing values, not errors.

Imports: nothing of the project.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Values read as missing (lower case, stripped).
UNKNOWN = frozenset({"", "unknown", "n/a", "na", "none", "-", "?", "prefer not to say",
                     "not stated", "not given"})

_NUMBER = r"(\d+(?:\.\d+)?)\s*([km]?)"
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6}
_ONE = re.compile(rf"^{_NUMBER}$")
_RANGE = re.compile(rf"^{_NUMBER}\s*(?:-|–|to)\s*{_NUMBER}$")
_AT_LEAST = re.compile(rf"^(?:{_NUMBER}\s*\+|{_NUMBER}\s+(?:or|and)\s+(?:more|over|above)"
                       rf"|(?:over|above|>=?)\s*{_NUMBER})$")
_BELOW = re.compile(rf"^(?:under|below|less than|<=?)\s*{_NUMBER}$")


def band_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each value as a number, and which values could not be read.

    Returns
    -------
    numbers : ndarray of float64
        NaN where the value is missing, means "not known", or could not be read.
    bad : ndarray of bool
        The values that are given but are neither a number, a band nor an "unknown".

    >>> numbers, bad = band_numbers(pd.Series(["34", "35-44", "65+", "Under 15K", "50-74K",
    ...                                        "$50,000", None, "Unknown", "teen"]))
    >>> numbers.tolist()[:6]
    [34.0, 39.5, 65.0, 11250.0, 62000.0, 50000.0]
    >>> bad.tolist()
    [False, False, False, False, False, False, False, False, True]
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
        return np.where(np.isfinite(numbers), numbers, np.nan), np.zeros(len(values), bool)
    # Each distinct value is read once: a members file repeats a handful of bands.
    codes, distinct = pd.factorize(values.astype("string").str.strip().str.lower())
    known = np.array([value not in UNKNOWN for value in distinct], dtype=bool)
    read = np.array([_number(value) if k else np.nan for value, k in zip(distinct, known)]
                    + [np.nan], dtype="float64")  # the last one: missing values (code -1)
    numbers = read[codes]
    bad = (codes >= 0) & np.append(known, False)[codes] & np.isnan(numbers)
    return numbers, bad


def _number(value: str) -> float:
    """One lower-case, stripped value as a number (NaN: not readable)."""
    cleaned = re.sub(r"[$£€¥,]", "", value)
    if found := _RANGE.match(cleaned):
        low, low_unit, high, high_unit = found.groups()
        # "35-49K": a unit written once, after the upper bound, is both bounds' unit.
        low_scale = _SCALE[low_unit or high_unit]
        return (float(low) * low_scale + float(high) * _SCALE[high_unit]) / 2
    for pattern, share in ((_ONE, 1.0), (_AT_LEAST, 1.0), (_BELOW, 0.75)):
        if found := pattern.match(cleaned):
            number, unit = [g for g in found.groups() if g is not None]  # the branch taken
            return share * float(number) * _SCALE[unit]
    return float("nan")

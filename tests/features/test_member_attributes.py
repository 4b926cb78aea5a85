"""Who the member is (age, income, household size, kids) from the members file, as numbers.

Survey and CRM exports give them as bands ("35-44", "65+", "Under 15K", "50-74K"); the
loader reads each as one number (features.bands), a value it cannot read is a problem
naming the line, and the member features carry them to the churn, value and
offer-response models on every engine.
"""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import features.bands
from features.bands import band_numbers
from features.errors import DataValidationError
from features.loading import load_dataset
from features.member_features import build_member_features
from features.profile_features import ATTRIBUTE_COLUMNS

MEMBERS = ("member_id,age,income,household_size,kids_count\n"
           "1,35-44,50-74K,2,0\n"
           "2,65+,Under 15K,5+,3+\n"
           "3,,unknown,,\n")


@pytest.mark.parametrize(("text", "number"), [
    ("34", 34.0), ("19-24", 21.5), ("35 to 44", 39.5), ("65+", 65.0), ("65 or more", 65.0),
    ("over 65", 65.0), ("Under 15K", 11_250.0), ("<25", 18.75), ("50-74K", 62_000.0),
    ("10k-20k", 15_000.0), ("250K+", 250_000.0), ("$50,000", 50_000.0), ("1.5M", 1.5e6),
])
def test_numbers_and_bands_read_as_one_number(text, number):
    numbers, bad = band_numbers(pd.Series([text]))
    assert numbers[0] == pytest.approx(number) and not bad[0]


def test_unknowns_are_missing_and_anything_else_is_bad():
    numbers, bad = band_numbers(pd.Series([None, "", "Unknown", "N/A", "-", "teen", "12-"]))
    assert np.isnan(numbers).all()
    assert bad.tolist() == [False] * 5 + [True, True]
    numbers, bad = band_numbers(pd.Series([34, None], dtype="Int64"))  # a numeric column
    assert numbers[0] == 34 and np.isnan(numbers[1]) and not bad.any()
    assert doctest.testmod(features.bands).failed == 0


def test_the_loader_reads_bands_and_the_member_features_carry_them(make_data_dir):
    ds = load_dataset(make_data_dir(**{"members.csv": MEMBERS}), now="2025-01-01")
    members = ds.members.set_index("member_id")
    assert members.loc["1", list(ATTRIBUTE_COLUMNS)].tolist() == [39.5, 62_000.0, 2.0, 0.0]
    assert members.loc["2", list(ATTRIBUTE_COLUMNS)].tolist() == [65.0, 11_250.0, 5.0, 3.0]
    assert members.loc["3", list(ATTRIBUTE_COLUMNS)].isna().all()
    found = build_member_features(ds, pd.Timestamp("2024-02-01"))
    assert found.loc["1", "age"] == 39.5 and found.loc["2", "income"] == 11_250.0
    assert all(pd.api.types.is_float_dtype(found[c]) for c in ATTRIBUTE_COLUMNS)


def test_an_unreadable_band_is_a_problem_naming_the_line(make_data_dir):
    data = make_data_dir(**{"members.csv": MEMBERS + "4,teenager,,,\n"})
    with pytest.raises(DataValidationError) as caught:
        load_dataset(data, now="2025-01-01")
    (problem,) = caught.value.problems
    assert problem.column == "age" and problem.values == ("teenager",)
    assert "write 34, 35-44, 65+ or Under 15K" in problem.message


def test_without_the_columns_the_features_are_missing_not_an_error(make_data_dir):
    ds = load_dataset(make_data_dir(**{"members.csv": "member_id,tier\n1,gold\n"}),
                      now="2025-01-01")
    found = build_member_features(ds, pd.Timestamp("2024-02-01"))
    assert found[list(ATTRIBUTE_COLUMNS)].isna().all().all()

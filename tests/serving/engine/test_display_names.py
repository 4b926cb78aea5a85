"""How a category or item name reads in an offer's title, message and reason."""

from __future__ import annotations

import doctest

import pytest

import serving.engine.messages
from serving.engine.messages import display_name


@pytest.mark.parametrize(("name", "shown"), [
    ("FLUID MILK PRODUCTS", "fluid milk products"),  # a Complete Journey commodity
    ("GASOLINE-REG UNLEADED", "gasoline-reg unleaded"),
    ("coffee_tea", "coffee tea"),
    ("Sourdough loaf", "Sourdough loaf"),  # already a name: as written
    ("85123A", "85123A"),  # an item id standing in for a name: a code, never lowercased
    ("SKU-0042", "SKU-0042"),
    ("WHITE HANGING HEART T-LIGHT HOLDER", "white hanging heart t-light holder"),
    (None, None),
])
def test_names_in_capitals_read_in_lower_case_and_codes_as_written(name, shown):
    assert display_name(name) == shown


def test_doctests():
    assert doctest.testmod(serving.engine.messages).failed == 0

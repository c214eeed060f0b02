"""``units.fixed`` writes numbers exactly as the ``floatformat`` filter it stands in for on the busiest pages."""

from __future__ import annotations

import random

import pytest
from django.template.defaultfilters import floatformat

from advisor.pages.units import fixed


def _values() -> list[float]:
    rng = random.Random(7)
    halves = [k / 2 / 10**p for p in range(5) for k in range(-41, 41, 3)]  # the ties rounding must break upwards
    wide = [rng.uniform(-1e4, 1e4) for _ in range(3000)] + [rng.lognormvariate(0, 4) for _ in range(3000)]
    return halves + wide + [0.0, -0.0, 1e-9, -1e-9, 0.0005, 0.00049999, 999.95, 2.675, 1.005, 123456789.5]


@pytest.mark.parametrize("places", [0, 1, 2, 3, 4])
def test_fixed_matches_floatformat(places: int) -> None:
    values = _values()
    assert [fixed(v, places) for v in values] == [floatformat(v, places) for v in values]
    assert [fixed(n, places) for n in range(-50, 50, 7)] == [floatformat(n, places) for n in range(-50, 50, 7)]


def test_fixed_of_nothing_is_empty() -> None:
    assert fixed(None, 1) == ""
    assert fixed(0.25, 1) == "0.3" and fixed(-0.04, 1) == "0.0" and fixed(12, 2) == "12.00"

from __future__ import annotations

import pytest
from django.core.cache import cache

from advisor.ratelimit import hit


@pytest.fixture(autouse=True)
def clean_cache() -> None:
    cache.clear()


def test_allows_up_to_the_limit_then_says_how_long_to_wait() -> None:
    assert [hit("probe", "user:1", 3) for _ in range(3)] == [None, None, None]
    wait = hit("probe", "user:1", 3)
    assert wait is not None and 0 < wait <= 60


def test_limits_are_per_key_and_per_action() -> None:
    for _ in range(2):
        hit("probe", "user:1", 2)
    assert hit("probe", "user:1", 2) is not None
    assert hit("probe", "user:2", 2) is None
    assert hit("import", "user:1", 2) is None

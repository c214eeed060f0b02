"""The examples in docstrings run: each module that has one is checked with doctest."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ADVISOR = Path(__file__).resolve().parents[2] / "advisor"
MODULES = sorted(
    ".".join(p.relative_to(ADVISOR.parent).with_suffix("").parts)
    for p in ADVISOR.rglob("*.py")
    if ">>>" in p.read_text() and "migrations" not in p.parts
)


def test_the_examples_are_found() -> None:
    assert "advisor.hardware" in MODULES and "advisor.core.hardware_spec" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

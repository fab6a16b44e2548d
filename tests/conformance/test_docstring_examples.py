"""The runnable examples in the docstrings of the harness modules that carry them."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ("compare", "decode", "expected", "diagnosis", "diff", "suggest")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"optimspec.conformance.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {name} failed"

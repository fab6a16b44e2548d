"""The optimspec.tf public API documents itself: Args, Returns, Raises and an example for every
public callable, and every example runs."""

from __future__ import annotations

import doctest

import pytest

import optimspec.tf as otf
from optimspec.conformance.testing import docstring_gaps
from optimspec.tf import accumulator, adam_weight_decay, factory, schedules


@pytest.mark.parametrize("name", otf.__all__)
def test_every_public_callable_documents_args_returns_raises_and_an_example(name: str) -> None:
    gaps = docstring_gaps(getattr(otf, name))
    assert not gaps, f"optimspec.tf.{name}: missing {gaps}"


@pytest.mark.parametrize("module", [accumulator, adam_weight_decay, factory, schedules], ids=lambda m: m.__name__)
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

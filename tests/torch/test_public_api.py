"""The public API: transformers' names, signatures and defaults; runnable docstring examples."""

from __future__ import annotations

import __future__
import doctest
import inspect
import logging

import pytest
import transformers.optimization as hf

import optimspec.torch as ot
from optimspec.conformance.testing import docstring_gaps
from optimspec.torch import adafactor, adamw, greedy, schedules

SHARED_WITH_TRANSFORMERS = [
    "Adafactor",
    "AdafactorSchedule",
    "GreedyLR",
    "StreamingAverage",
    "get_adafactor_schedule",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_greedy_schedule",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_reduce_on_plateau_schedule",
    "get_scheduler",
    "get_wsd_schedule",
]


def _parameters(obj) -> list[tuple[str, object, object]]:
    return [(p.name, p.default, p.kind) for p in inspect.signature(obj).parameters.values()]


#: Keyword-only arguments optimspec adds after transformers' own: the implementation path and the
#: opt-in float32 master copies of half params.
ADDED = {"Adafactor": [("impl", "fused", inspect.Parameter.KEYWORD_ONLY), ("master_weights", False, inspect.Parameter.KEYWORD_ONLY)]}


@pytest.mark.parametrize("name", SHARED_WITH_TRANSFORMERS)
def test_same_signature_as_transformers(name):
    assert _parameters(getattr(ot, name)) == _parameters(getattr(hf, name)) + ADDED.get(name, [])


def test_adamw_signature_is_the_legacy_one_plus_keyword_only_impl_and_master_weights():
    # transformers v4.49: AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0,
    #                           correct_bias=True, no_deprecation_warning=False)
    params = inspect.signature(ot.AdamW).parameters
    assert [(p.name, p.default) for p in params.values()] == [
        ("params", inspect.Parameter.empty),
        ("lr", 1e-3),
        ("betas", (0.9, 0.999)),
        ("eps", 1e-6),
        ("weight_decay", 0.0),
        ("correct_bias", True),
        ("no_deprecation_warning", False),
        ("impl", "fused"),
        ("master_weights", False),
    ]
    assert params["impl"].kind is params["master_weights"].kind is inspect.Parameter.KEYWORD_ONLY


def _transformers_public_names() -> set[str]:
    """What ``from transformers.optimization import NAME`` offers on purpose: the classes, functions
    and data the module defines, and ``SchedulerType`` (``get_scheduler``'s argument type). Imports
    of other modules' helpers (``LambdaLR``, ``partial``, ``Any``, …) and the logger are not API."""
    names = {"SchedulerType"}
    for name, value in vars(hf).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        defined_here = getattr(value, "__module__", None) == hf.__name__
        module_data = not callable(value) and not isinstance(value, (logging.Logger, __future__._Feature))
        if defined_here or module_data:
            names.add(name)
    return names


def test_every_public_name_of_the_installed_transformers_optimization_module_exists():
    names = _transformers_public_names()
    assert {"Adafactor", "StreamingAverage", "TYPE_TO_SCHEDULER_FUNCTION", "get_scheduler"} <= names
    missing = sorted(name for name in names if not hasattr(ot, name))
    assert not missing, f"transformers.optimization names missing from optimspec.torch: {missing}"


def test_public_names():
    own = ["AdamW", "SchedulerType", "TYPE_TO_SCHEDULER_FUNCTION"]
    assert sorted(ot.__all__) == sorted(SHARED_WITH_TRANSFORMERS + own)
    assert all(hasattr(ot, name) for name in ot.__all__)
    assert {t.value for t in ot.TYPE_TO_SCHEDULER_FUNCTION} == {t.value for t in hf.TYPE_TO_SCHEDULER_FUNCTION}


@pytest.mark.parametrize("module", [ot, adamw, adafactor, greedy, schedules], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", [name for name in ot.__all__ if callable(getattr(ot, name))])
def test_every_public_callable_documents_args_returns_raises_and_an_example(name):
    assert not docstring_gaps(getattr(ot, name)), f"optimspec.torch.{name}: missing {docstring_gaps(getattr(ot, name))}"

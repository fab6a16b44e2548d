"""Every reference module declares itself as data, and its docstring example runs."""

from __future__ import annotations

import doctest

import pytest

from optimspec.reference import registry
from optimspec.reference._spec import REQUIRED

EXPECTED_CATALOGUE = {
    "optimizer": {"adamw", "adam_weight_decay", "adafactor"},
    "accumulator": {"gradient_accumulator"},
    "schedule": {
        "constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial",
        "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr",
        "warmup_stable_decay", "greedy", "adafactor_schedule", "warmup", "polynomial_decay", "create_optimizer",
    },
}


def test_catalogue_holds_exactly_the_issue_names() -> None:
    by_kind: dict[str, set[str]] = {}
    for spec in registry.specs():
        by_kind.setdefault(spec.kind, set()).add(spec.name)
    assert by_kind == EXPECTED_CATALOGUE


@pytest.mark.parametrize("name", registry.names())
def test_spec_record_is_complete(name: str) -> None:
    spec = registry.spec(name)
    module = registry.module(name)
    assert spec.summary and spec.source and spec.step_indexing, f"{name}: summary, source and step_indexing are required"
    assert spec.history and spec.decisions, f"{name}: the docs need its upstream history and compatibility decisions"
    assert module.__doc__ and ">>>" in module.__doc__, f"{name}: the module docstring needs a runnable example"
    for hp in spec.hparams:
        assert hp.doc, f"{name}: hyperparameter {hp.name} has no description"
        if hp.default is not REQUIRED:
            assert hp.domain.contains(hp.default), f"{name}: default {hp.name}={hp.default!r} is outside its own domain"
    for convention in spec.conventions:
        assert len(convention.values) >= 2 and convention.doc, f"{name}: convention {convention.axis} needs alternatives and a doc"
    if spec.kind == "optimizer":
        assert tuple(module.State._fields) == spec.state_fields, f"{name}: State fields differ from SPEC.state_fields"


@pytest.mark.parametrize("name", registry.names())
def test_docstring_examples_run(name: str) -> None:
    module = registry.module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)[:2]
    assert tried > 0, f"{name}: no doctest example found"
    assert failures == 0, f"{name}: {failures} docstring example(s) failed"


def test_unknown_algorithm_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown algorithm 'adam'.*adamw"):
        registry.spec("adam")


def test_unknown_hyperparameter_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="unknown hyperparameter.*learning_rate"):
        registry.spec("adamw").resolve({"learning_rate": 1e-3})


def test_unknown_convention_value_is_rejected() -> None:
    with pytest.raises(ValueError, match="eps_placement='inside_sqrt' is not one of"):
        registry.spec("adamw").variant({"eps_placement": "inside_sqrt"})

"""Out-of-domain arguments raise ValueError at construction, naming the argument (the compatibility policy of docs/design.md)."""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import pytest

from optimspec.tf import AdamWeightDecay, PolynomialDecay, WarmUp, create_optimizer


def _warmup(**overrides):
    args = dict(
        initial_learning_rate=0.1,
        decay_schedule_fn=keras.optimizers.schedules.PolynomialDecay(0.1, 10),
        warmup_steps=2,
    )
    return WarmUp(**{**args, **overrides})


def _polynomial(**overrides):
    return PolynomialDecay(**{**dict(initial_learning_rate=0.1, decay_steps=10), **overrides})


def _create(**overrides):
    return create_optimizer(**{**dict(init_lr=1e-3, num_train_steps=10, num_warmup_steps=2), **overrides})


REJECTED: list[tuple[Callable, dict, str]] = [
    (AdamWeightDecay, {"learning_rate": -1e-3}, "learning_rate"),
    (AdamWeightDecay, {"learning_rate": math.nan}, "learning_rate"),
    (AdamWeightDecay, {"beta_1": -0.1}, "beta_1"),
    (AdamWeightDecay, {"beta_1": 1.0}, "beta_1"),
    (AdamWeightDecay, {"beta_2": 1.0}, "beta_2"),
    (AdamWeightDecay, {"beta_2": 1.5}, "beta_2"),
    (AdamWeightDecay, {"epsilon": -1e-8}, "epsilon"),
    (AdamWeightDecay, {"weight_decay_rate": -0.01}, "weight_decay_rate"),
    (AdamWeightDecay, {"include_in_weight_decay": "bias"}, "include_in_weight_decay"),
    (AdamWeightDecay, {"exclude_from_weight_decay": ["bias", "(unclosed"]}, "exclude_from_weight_decay"),
    (AdamWeightDecay, {"clipnorm": 0.0}, "clipnorm"),
    (AdamWeightDecay, {"global_clipnorm": -1.0}, "global_clipnorm"),
    (AdamWeightDecay, {"clipvalue": 0.0}, "clipvalue"),
    (AdamWeightDecay, {"clipnorm": 1.0, "global_clipnorm": 1.0}, "global_clipnorm"),
    (AdamWeightDecay, {"weight_decay": 0.01}, "weight_decay"),
    (AdamWeightDecay, {"decay": 0.01}, "decay"),
    (_warmup, {"warmup_steps": 0}, "warmup_steps"),
    (_warmup, {"warmup_steps": -3}, "warmup_steps"),
    (_warmup, {"warmup_steps": 2.5}, "warmup_steps"),
    (_warmup, {"initial_learning_rate": -0.1}, "initial_learning_rate"),
    (_warmup, {"initial_learning_rate": 0.0}, "initial_learning_rate"),
    (_warmup, {"power": -1.0}, "power"),
    (_warmup, {"power": math.inf}, "power"),
    (_polynomial, {"initial_learning_rate": 0.0}, "initial_learning_rate"),
    (_polynomial, {"initial_learning_rate": math.nan}, "initial_learning_rate"),
    (_polynomial, {"decay_steps": 0}, "decay_steps"),
    (_polynomial, {"decay_steps": 2.5}, "decay_steps"),
    (_polynomial, {"end_learning_rate": -1e-4}, "end_learning_rate"),
    (_polynomial, {"power": -1.0}, "power"),
    (_polynomial, {"cycle": 1}, "cycle"),
    (_create, {"init_lr": -1e-3}, "init_lr"),
    (_create, {"init_lr": 0.0}, "init_lr"),
    (_create, {"num_train_steps": 0}, "num_train_steps"),
    (_create, {"num_train_steps": -10}, "num_train_steps"),
    (_create, {"num_train_steps": 10.5}, "num_train_steps"),
    (_create, {"num_warmup_steps": -1}, "num_warmup_steps"),
    (_create, {"num_warmup_steps": 10}, "num_warmup_steps"),  # == T: upstream's lr was NaN
    (_create, {"num_warmup_steps": 11}, "num_warmup_steps"),
    (_create, {"min_lr_ratio": -0.1}, "min_lr_ratio"),
    (_create, {"min_lr_ratio": 1.5}, "min_lr_ratio"),
    (_create, {"power": -2.0}, "power"),
    (_create, {"adam_beta1": 1.0}, "adam_beta1"),
    (_create, {"adam_beta2": -0.1}, "adam_beta2"),
    (_create, {"adam_epsilon": -1e-8}, "adam_epsilon"),
    (_create, {"weight_decay_rate": -0.1}, "weight_decay_rate"),
    (_create, {"adam_clipnorm": 0.0}, "adam_clipnorm"),
    (_create, {"adam_global_clipnorm": -1.0}, "adam_global_clipnorm"),
    (_create, {"adam_clipnorm": 1.0, "adam_global_clipnorm": 1.0}, "adam_global_clipnorm"),
]


@pytest.mark.parametrize(
    ("build", "arguments", "name"),
    REJECTED,
    ids=[f"{build.__name__.strip('_')}-{'-'.join(f'{k}={v}' for k, v in args.items())}" for build, args, _ in REJECTED],
)
def test_rejected_argument_is_named(build: Callable, arguments: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        build(**arguments)


@pytest.mark.parametrize(
    ("build", "arguments"),
    [
        (AdamWeightDecay, {"learning_rate": 0.0, "beta_1": 0.0, "beta_2": 0.0, "epsilon": 0.0}),
        (_warmup, {"warmup_steps": 1, "initial_learning_rate": 1e-30, "power": 0.0}),
        (_polynomial, {"decay_steps": 1.0, "end_learning_rate": 0.0, "power": 0.0, "cycle": True}),
        (_create, {"init_lr": 1e-30, "num_train_steps": 1, "num_warmup_steps": 0, "min_lr_ratio": 1.0, "power": 0.0}),
        (_create, {"num_train_steps": 10.0, "num_warmup_steps": 9}),
    ],
)
def test_domain_edges_are_accepted(build: Callable, arguments: dict) -> None:
    build(**arguments)


def test_amsgrad_must_be_a_bool() -> None:
    from optimspec.tf import AdamWeightDecay

    with pytest.raises(ValueError, match=r"AdamWeightDecay: `amsgrad`='no' is out of range: must be True or False"):
        AdamWeightDecay(amsgrad="no")


def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_variable() -> None:
    import keras
    import numpy as np

    from optimspec.tf import AdamWeightDecay

    optimizer = AdamWeightDecay()
    optimizer.build([keras.Variable(np.zeros((2, 3), dtype="float32"), name="kernel")])
    saved = {str(i): np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
    optimizer.load_own_variables(saved)  # its own state fits
    with pytest.raises(ValueError, match=r"saved optimizer state has 2 variables, this optimizer has"):
        optimizer.load_own_variables({k: saved[k] for k in ("0", "1")})
    wrong = {**saved, str(len(saved) - 1): np.zeros((3, 2), dtype="float32")}
    with pytest.raises(ValueError, match=r"has shape \(3, 2\) and dtype float32; expected \(2, 3\) and float32"):
        optimizer.load_own_variables(wrong)

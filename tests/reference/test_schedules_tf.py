"""The Keras-side schedules ``polynomial_decay``, ``warmup`` and ``create_optimizer`` (TF
``WarmUp`` and ``create_optimizer``): hand-computed values at every boundary, the composition rules, the step-offset convention,
the rejected inputs, and a cross-check against Keras' own float32 ``PolynomialDecay``."""

from __future__ import annotations

import doctest
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from optimspec.conformance.cases import create_optimizer as create_optimizer_cases
from optimspec.conformance.cases import polynomial_decay as polynomial_decay_cases
from optimspec.reference import run
from optimspec.reference._dtypes import EPS
from optimspec.reference._numeric import FLOAT64

GOLDEN_K = 8.0  # the schedule budget in float32 ε·peak


def values(algorithm: str, steps: list[int], **hparams: Any) -> list[float]:
    return run.schedule_values(algorithm, steps, hparams)[:, 0].tolist()


# --------------------------------------------------------------------------------------------------
# polynomial_decay: (init − end)·(1 − min(t, D)/D)^power + end
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("power", "expected"),
    [
        # init 1, end 0.5, D = 4: 0.5·(1 − t/4)^power + 0.5, then 0.5 from t = 4 on.
        (1.0, [1.0, 0.875, 0.75, 0.625, 0.5, 0.5, 0.5]),
        (2.0, [1.0, 0.78125, 0.625, 0.53125, 0.5, 0.5, 0.5]),
        (0.5, [1.0, 0.5 * math.sqrt(0.75) + 0.5, 0.5 * math.sqrt(0.5) + 0.5, 0.75, 0.5, 0.5, 0.5]),
    ],
)
def test_polynomial_decay_values(power: float, expected: list[float]) -> None:
    got = values("polynomial_decay", [0, 1, 2, 3, 4, 5, 8], initial_learning_rate=1.0, decay_steps=4, end_learning_rate=0.5, power=power)
    assert got == pytest.approx(expected, rel=1e-15)


def test_polynomial_decay_keras_defaults() -> None:
    hp = run.registry.spec("polynomial_decay").defaults()
    assert (hp["end_learning_rate"], hp["power"]) == (0.0001, 1.0)
    # 3e-4 → 1e-4 over 1000 steps: halfway is 2e-4.
    assert values("polynomial_decay", [500, 1000, 5000], initial_learning_rate=3e-4, decay_steps=1000) == pytest.approx([2e-4, 1e-4, 1e-4], rel=1e-15)


def test_polynomial_decay_edges() -> None:
    assert values("polynomial_decay", [0, 2, 3], initial_learning_rate=0.5, decay_steps=2, end_learning_rate=0.1, power=0.0) == [0.5, 0.5, 0.5]
    assert values("polynomial_decay", [0, 1, 2], initial_learning_rate=0.25, decay_steps=2, end_learning_rate=1.0) == [0.25, 0.625, 1.0]
    assert values("polynomial_decay", [2, 3], initial_learning_rate=1.0, decay_steps=2, end_learning_rate=0.0, power=3.0) == [0.0, 0.0]


# --------------------------------------------------------------------------------------------------
# warmup: init·(t/W)^power for t < W, then PolynomialDecay(t − W)
# --------------------------------------------------------------------------------------------------

WARMUP = {"initial_learning_rate": 2.0, "warmup_steps": 4, "decay_steps": 8, "end_learning_rate": 0.5}
# t = 0, 1, W−1, W, W+1, T−1, T, T+1, 2T with T = W + D = 12
WARMUP_STEPS = [0, 1, 3, 4, 5, 11, 12, 13, 24]
DECAY_PART = [2.0, 1.5 * 7 / 8 + 0.5, 1.5 / 8 + 0.5, 0.5, 0.5, 0.5]  # t = W, …, 2T with decay power 1


@pytest.mark.parametrize(
    ("power", "ramp"),
    [
        (1.0, [0.0, 0.5, 1.5]),
        (2.0, [0.0, 2.0 / 16, 2.0 * 9 / 16]),
        (0.5, [0.0, 2.0 * math.sqrt(0.25), 2.0 * math.sqrt(0.75)]),
        (0.0, [2.0, 2.0, 2.0]),
    ],
)
def test_warmup_values(power: float, ramp: list[float]) -> None:
    got = values("warmup", WARMUP_STEPS, **WARMUP, power=power)
    assert got == pytest.approx(ramp + DECAY_PART, rel=1e-15)


def test_warmup_decay_sees_the_shifted_step_with_its_own_power() -> None:
    # t = W + 2: the decay at step 2 of 8 with power 2: 1.5·(6/8)² + 0.5.
    assert values("warmup", [6], **WARMUP, decay_power=2.0) == [1.5 * 36 / 64 + 0.5]


def test_warmup_nan_before_step_zero_with_a_fractional_power() -> None:
    # Only the one-step-early convention evaluates t = −1: IEEE pow(−1/W, 0.5) is NaN.
    one_early = run.schedule_values("warmup", [0, 1], {**WARMUP, "power": 0.5}, variant={"step_offset": "-1"})[:, 0]
    assert math.isnan(one_early[0]) and one_early[1] == 0.0
    squared = run.schedule_values("warmup", [0], {**WARMUP, "power": 2.0}, variant={"step_offset": "-1"})[:, 0]
    assert squared.tolist() == [2.0 / 16]


# --------------------------------------------------------------------------------------------------
# create_optimizer: WarmUp(init, PolynomialDecay(init, T − W, init·ratio, power), W) if W > 0
# --------------------------------------------------------------------------------------------------

CREATE = {"init_lr": 2.0, "num_train_steps": 12, "num_warmup_steps": 4, "min_lr_ratio": 0.25}


@pytest.mark.parametrize(
    ("power", "decay"),
    [
        # t = W, W+1, T−1, T, T+1, 2T: 1.5·(1 − (t − 4)/8)^power + 0.5
        (1.0, [2.0, 1.8125, 0.6875, 0.5, 0.5, 0.5]),
        (2.0, [2.0, 1.5 * 49 / 64 + 0.5, 1.5 / 64 + 0.5, 0.5, 0.5, 0.5]),
        (0.5, [2.0, 1.5 * math.sqrt(7 / 8) + 0.5, 1.5 * math.sqrt(1 / 8) + 0.5, 0.5, 0.5, 0.5]),
    ],
)
def test_create_optimizer_values(power: float, decay: list[float]) -> None:
    # t = 0, W−1 on the linear warmup whatever the power: 0 and 2·3/4.
    got = values("create_optimizer", [0, 3, 4, 5, 11, 12, 13, 24], **CREATE, power=power)
    assert got == pytest.approx([0.0, 1.5] + decay, rel=1e-15)


def test_create_optimizer_without_warmup() -> None:
    # W = 0: the bare decay over T = 12 steps: lr(0) = init.
    got = values("create_optimizer", [0, 6, 11, 12, 13, 24], **{**CREATE, "num_warmup_steps": 0})
    assert got == pytest.approx([2.0, 1.25, 1.5 / 12 + 0.5, 0.5, 0.5, 0.5], rel=1e-15)


def test_create_optimizer_defaults_decay_to_zero() -> None:
    assert values("create_optimizer", [12, 24], init_lr=2.0, num_train_steps=12, num_warmup_steps=4) == [0.0, 0.0]


def test_create_optimizer_does_not_pass_power_to_the_warmup() -> None:
    # A WarmUp with power 2 would give 2·(2/4)² = 0.5 at t = 2; create_optimizer's is linear.
    assert values("create_optimizer", [2], **CREATE, power=2.0) == [1.0]


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
@pytest.mark.parametrize(("warmup_steps", "total"), [(4, 12), (0, 12), (11, 12), (0, 1)])
def test_create_optimizer_is_warmup_around_polynomial_decay(power: float, warmup_steps: int, total: int) -> None:
    steps = list(range(2 * total + 2))
    got = values("create_optimizer", steps, init_lr=3e-4, num_train_steps=total, num_warmup_steps=warmup_steps, min_lr_ratio=0.1, power=power)
    decay = {"decay_steps": total - warmup_steps, "end_learning_rate": 3e-4 * 0.1}
    if warmup_steps:
        composed = values("warmup", steps, initial_learning_rate=3e-4, warmup_steps=warmup_steps, power=1.0, decay_power=power, **decay)
    else:
        composed = values("polynomial_decay", steps, initial_learning_rate=3e-4, power=power, **decay)
    assert got == pytest.approx(composed, rel=1e-15)


# --------------------------------------------------------------------------------------------------
# conventions and numeric contexts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "hparams"),
    [
        ("polynomial_decay", {"initial_learning_rate": 1.0, "decay_steps": 4, "end_learning_rate": 0.5}),
        ("warmup", WARMUP),
        ("create_optimizer", CREATE),
    ],
)
def test_step_offset_shifts_by_one(algorithm: str, hparams: Mapping[str, Any]) -> None:
    steps = list(range(1, 15))
    late = run.schedule_values(algorithm, [t - 1 for t in steps], hparams, variant={"step_offset": "1"})
    early = run.schedule_values(algorithm, [t + 1 for t in steps], hparams, variant={"step_offset": "-1"})
    plain = run.schedule_values(algorithm, steps, hparams)
    assert late.tolist() == plain.tolist() == early.tolist()


@pytest.mark.parametrize("algorithm", ["polynomial_decay", "warmup", "create_optimizer"])
def test_schedules_are_specified_in_float32(algorithm: str) -> None:
    assert run.registry.module(algorithm).DTYPE == "float32"


def test_float64_context_within_a_few_ulp_of_the_exact_values() -> None:
    hp = {**CREATE, "init_lr": 3e-4, "power": 0.5, "num_train_steps": 97, "num_warmup_steps": 7, "min_lr_ratio": 0.03}
    steps = list(range(0, 120))
    exact = run.schedule_values("create_optimizer", steps, hp)
    plain = run.schedule_values("create_optimizer", steps, hp, nx=FLOAT64)
    assert np.max(np.abs(plain - exact)) <= 4 * EPS["float64"] * 3e-4


# --------------------------------------------------------------------------------------------------
# rejected inputs
# --------------------------------------------------------------------------------------------------

POLY = {"initial_learning_rate": 0.1, "decay_steps": 10}


@pytest.mark.parametrize(
    ("algorithm", "hparams", "argument"),
    [
        ("polynomial_decay", {**POLY, "decay_steps": 0}, "decay_steps"),
        ("polynomial_decay", {**POLY, "decay_steps": 2.5}, "decay_steps"),
        ("polynomial_decay", {"decay_steps": 10}, "initial_learning_rate"),
        ("polynomial_decay", {**POLY, "initial_learning_rate": 0.0}, "initial_learning_rate"),
        ("polynomial_decay", {**POLY, "end_learning_rate": -1e-4}, "end_learning_rate"),
        ("polynomial_decay", {**POLY, "power": -1.0}, "power"),
        ("warmup", {**WARMUP, "warmup_steps": 0}, "warmup_steps"),
        ("warmup", {**WARMUP, "warmup_steps": -3}, "warmup_steps"),
        ("warmup", {**WARMUP, "power": -0.5}, "power"),
        ("warmup", {**WARMUP, "decay_steps": 0}, "decay_steps"),
        ("warmup", {**WARMUP, "decay_power": -1.0}, "decay_power"),
        ("warmup", {**WARMUP, "end_learning_rate": math.inf}, "end_learning_rate"),
        ("create_optimizer", {**CREATE, "num_warmup_steps": 12}, "num_warmup_steps"),
        ("create_optimizer", {**CREATE, "num_warmup_steps": 20}, "num_warmup_steps"),
        ("create_optimizer", {**CREATE, "num_warmup_steps": -1}, "num_warmup_steps"),
        ("create_optimizer", {**CREATE, "num_train_steps": 0, "num_warmup_steps": 0}, "num_train_steps"),
        ("create_optimizer", {**CREATE, "min_lr_ratio": -0.1}, "min_lr_ratio"),
        ("create_optimizer", {**CREATE, "min_lr_ratio": 1.5}, "min_lr_ratio"),
        ("create_optimizer", {**CREATE, "power": -1.0}, "power"),
        ("create_optimizer", {**CREATE, "init_lr": 0.0}, "init_lr"),
    ],
)
def test_rejected(algorithm: str, hparams: Mapping[str, Any], argument: str) -> None:
    with pytest.raises(ValueError, match=f"`{argument}`"):
        run.schedule_values(algorithm, [0], hparams)


def test_polynomial_decay_does_not_offer_cycle() -> None:
    with pytest.raises(ValueError, match="unknown hyperparameter.*cycle"):
        run.schedule_values("polynomial_decay", [0], {**POLY, "cycle": True})


# --------------------------------------------------------------------------------------------------
# cross-check: Keras' float32 PolynomialDecay
# --------------------------------------------------------------------------------------------------


def _keras_lr(schedule: Any, step: int) -> float:
    return float(np.asarray(schedule(step)))


def _within_golden_budget(got: list[float], expected: list[float]) -> bool:
    peak = max(abs(v) for v in expected)
    return all(abs(g - e) <= GOLDEN_K * EPS["float32"] * peak for g, e in zip(got, expected))


def test_polynomial_decay_matches_keras_in_float32() -> None:
    keras = pytest.importorskip("keras")

    for group in polynomial_decay_cases.GROUPS:
        for case in group.cases:
            schedule = keras.optimizers.schedules.PolynomialDecay(**case.hparams)
            keras_values = [_keras_lr(schedule, t) for t in case.steps]
            assert _within_golden_budget(keras_values, values("polynomial_decay", list(case.steps), **case.hparams)), case.name


def test_create_optimizer_matches_keras_in_float32() -> None:
    # Upstream's composition, with Keras' PolynomialDecay for the decay and WarmUp's float32 ramp.
    keras = pytest.importorskip("keras")

    for group in create_optimizer_cases.GROUPS:
        if group in create_optimizer_cases.OPTIMIZER_GROUPS:
            continue  # the optimizer's cases (tests/tf/test_conformance.py runs them through Keras)
        for case in group.cases:
            hp = {"min_lr_ratio": 0.0, "power": 1.0, **case.hparams}
            init, total, warmup = hp["init_lr"], hp["num_train_steps"], hp["num_warmup_steps"]
            decay = keras.optimizers.schedules.PolynomialDecay(init, total - warmup, init * hp["min_lr_ratio"], power=hp["power"])
            keras_values = [
                float(np.float32(init) * (np.float32(t) / np.float32(warmup))) if t < warmup else _keras_lr(decay, t - warmup)
                for t in case.steps
            ]
            assert _within_golden_budget(keras_values, values("create_optimizer", list(case.steps), **case.hparams)), case.name


@pytest.mark.parametrize("algorithm", ["polynomial_decay", "warmup", "create_optimizer"])
def test_docstring_example(algorithm: str) -> None:
    result = doctest.testmod(run.registry.module(algorithm))
    assert result.attempted > 0 and result.failed == 0

"""The LambdaLR-style schedules (torch ``LambdaLR`` factories): transformers' own test table, each edge case the
spec names, every rejected input, and a cross-check against transformers 5.24 itself.

Expected numbers are the spec's, or closed forms written out here with ``math``; none comes from
the code under test.
"""

from __future__ import annotations

import doctest
import importlib
import math
import warnings
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from optimspec.reference import registry, run
from optimspec.reference._numeric import FLOAT64

EPS = 2.0**-52

LAMBDA_SCHEDULES = (
    "constant",
    "constant_with_warmup",
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "inverse_sqrt",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
)


def lrs(name: str, steps: Sequence[int], variant: Mapping[str, str] | None = None, **hparams: Any) -> list[float]:
    """The first param group's lr at each step."""
    return run.schedule_values(name, list(steps), hparams, variant=variant)[:, 0].tolist()


def assert_close(actual: Sequence[float], expected: Sequence[float], peak: float) -> None:
    """Within 4 ε of the peak lr: the expected values are float64 evaluations in another order."""
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert abs(a - e) <= 4 * EPS * peak, f"index {i}: {a!r} != {e!r}"


# --------------------------------------------------------------------------------------------------
# transformers' test table: base lr 10, W = 2, T = 10, t = 0…9 (exact float64 results of transformers' order)
# --------------------------------------------------------------------------------------------------

COSINE_MIN_LR_ROW = [9.65745789630079, 8.681980515339463, 7.222075445642904, 5.5, 3.777924554357096, 2.3180194846605366, 1.3425421036992096, 1.0]

TABLE = {
    "constant": ("constant", {}, range(10), [10.0] * 10),
    "constant_with_warmup-w4": ("constant_with_warmup", {"num_warmup_steps": 4}, range(10), [0, 2.5, 5, 7.5, 10, 10, 10, 10, 10, 10]),
    "linear": ("linear", {"num_warmup_steps": 2, "num_training_steps": 10}, range(10), [0, 5, 10, 8.75, 7.5, 6.25, 5, 3.75, 2.5, 1.25]),
    "cosine": (
        "cosine",
        {"num_warmup_steps": 2, "num_training_steps": 10},
        range(10),
        [0, 5, 10, 9.619397662556434, 8.535533905932738, 6.913417161825449, 5.0, 3.0865828381745515, 1.4644660940672627, 0.3806023374435663],
    ),
    "cosine-past-total": (
        "cosine",
        {"num_warmup_steps": 2, "num_training_steps": 10},
        range(10, 20),
        [0.0, 0.38060233744356575, 1.4644660940672616, 3.0865828381745484, 4.999999999999999, 6.91341716182545, 8.535533905932738, 9.619397662556432, 10.0, 9.619397662556434],
    ),
    "cosine_with_restarts-nc2": (
        "cosine_with_restarts",
        {"num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 2},
        range(10),
        [0, 5, 10, 8.535533905932738, 5.0, 1.4644660940672627, 10.0, 8.535533905932738, 5.0, 1.4644660940672627],
    ),
    "polynomial-power2": (
        "polynomial",
        {"num_warmup_steps": 2, "num_training_steps": 10, "power": 2.0, "lr_end": 1e-7},
        range(10),
        [0, 5, 10, 7.656250023437501, 5.625000043750001, 3.9062500609375, 2.500000075, 1.4062500859375002, 0.62500009375, 0.15625009843750004],
    ),
    "inverse_sqrt-w2": (
        "inverse_sqrt",
        {"num_warmup_steps": 2},
        range(10),
        [0, 5, 10, 8.16496580927726, 7.071067811865475, 6.324555320336759, 5.773502691896258, 5.3452248382484875, 5.0, 4.714045207910317],
    ),
    "cosine_with_min_lr-r0.1": (
        "cosine_with_min_lr",
        {"num_warmup_steps": 2, "num_training_steps": 10, "min_lr_rate": 0.1},
        range(10),
        [0, 5, 10, *COSINE_MIN_LR_ROW[:-1]],
    ),
    "cosine_warmup_with_min_lr-r0.1": (
        "cosine_warmup_with_min_lr",
        {"num_warmup_steps": 2, "num_training_steps": 10, "min_lr_rate": 0.1},
        range(10),
        [5, 10, *COSINE_MIN_LR_ROW],
    ),
    "cosine_warmup_with_min_lr-r0.1-wr0.2": (
        "cosine_warmup_with_min_lr",
        {"num_warmup_steps": 2, "num_training_steps": 10, "min_lr_rate": 0.1, "warmup_lr_rate": 0.2},
        range(10),
        [2.0, 10, *COSINE_MIN_LR_ROW],
    ),
    "warmup_stable_decay-w2-s3-d4-r0.1": (
        "warmup_stable_decay",
        {"num_warmup_steps": 2, "num_stable_steps": 3, "num_decay_steps": 4, "warmup_type": "linear", "decay_type": "cosine", "min_lr_ratio": 0.1},
        range(13),
        [1.0, 5.5, 10, 10, 10, 10, 8.681980515339463, 5.5, 2.3180194846605366, 1.0, 1.0, 1.0, 1.0],
    ),
}


@pytest.mark.parametrize("row", list(TABLE), ids=list(TABLE))
def test_spec_table(row: str) -> None:
    # The table is transformers' float64 order, ours the correctly rounded value: a few ulp apart,
    # more past T where transformers rounds a larger cosine argument (hence 4 ε of the peak 10).
    name, hparams, steps, expected = TABLE[row]
    actual = lrs(name, steps, lr=10.0, **hparams)
    for t, a, e in zip(steps, actual, expected):
        assert math.isclose(a, e, rel_tol=4e-16, abs_tol=4 * EPS * 10.0), f"t={t}: {a!r} != {e!r}"


# --------------------------------------------------------------------------------------------------
# edge cases named by the spec (closed forms written out with math)
# --------------------------------------------------------------------------------------------------


def test_constant_with_warmup_w0_is_constant() -> None:
    assert lrs("constant_with_warmup", [0, 1, 7], lr=0.5, num_warmup_steps=0) == [0.5, 0.5, 0.5]


def test_cosine_peak_at_w_zero_at_t_and_periodic_past_t() -> None:
    w, t_total = 3, 13
    steps = [w, t_total, 2 * t_total - w, 2 * t_total - w + 5]
    expected = [1.0, 0.0, 1.0, 0.5 * (1 + math.cos(math.pi * (2 * t_total - w + 5 - w) / (t_total - w)))]
    assert_close(lrs("cosine", steps, num_warmup_steps=w, num_training_steps=t_total), expected, 1.0)


def test_cosine_at_t_is_the_formula_with_math_pi_not_pi() -> None:
    # cos(math.pi) = −1 + δ²/2 with δ = π − math.pi: the correctly rounded λ(T) is tiny, not 0.
    delta = 1.2246467991473532e-16
    (value,) = lrs("cosine", [10], num_warmup_steps=2, num_training_steps=10)
    assert math.isclose(value, delta * delta / 4, rel_tol=1e-6)


def test_cosine_w_above_t_alternates() -> None:
    assert_close(lrs("cosine", [12, 13, 14, 15], num_warmup_steps=12, num_training_steps=10), [1.0, 0.0, 1.0, 0.0], 1.0)


@pytest.mark.parametrize("name, floor", [("cosine", 0.0), ("cosine_with_min_lr", 0.25)])
def test_clamped_convention_holds_the_final_value(name: str, floor: float) -> None:
    extra = {"min_lr_rate": floor} if name == "cosine_with_min_lr" else {}
    steps = [9, 10, 11, 14, 18, 30]
    periodic = lrs(name, steps, num_warmup_steps=2, num_training_steps=10, **extra)
    clamped = lrs(name, steps, {"past_total": "clamped"}, num_warmup_steps=2, num_training_steps=10, **extra)
    assert clamped[0] == periodic[0]
    assert_close(clamped[1:], [floor] * 5, 1.0)
    assert_close(periodic[4:], [1.0, 0.5 * (1 + math.cos(math.pi * 28 / 8)) * (1 - floor) + floor], 1.0)


def test_cosine_with_min_lr_rescales_before_the_clamp() -> None:
    rate, steps = 0.2, [2, 4, 6, 8, 10]
    expected = [0.5 * (1 + math.cos(math.pi * (t - 2) / 8)) * (1 - rate) + rate for t in steps]
    assert_close(lrs("cosine_with_min_lr", steps, num_warmup_steps=2, num_training_steps=10, min_lr_rate=rate), expected, 1.0)


def test_min_lr_is_converted_with_the_default_lr() -> None:
    hp = {"lr": 1e-3, "group_lrs": [1e-3, 4e-3], "num_warmup_steps": 2, "num_training_steps": 10}
    for name in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        by_min_lr = run.schedule_values(name, [10, 9], {**hp, "min_lr": 1e-4})
        by_rate = run.schedule_values(name, [10, 9], {**hp, "min_lr_rate": 0.1})
        np.testing.assert_allclose(by_min_lr, by_rate, rtol=0, atol=4 * EPS * 4e-3)
    floor = run.schedule_values("cosine_warmup_with_min_lr", [9], {**hp, "min_lr": 1e-4})[0]
    np.testing.assert_allclose(floor, [1e-4, 4e-4], rtol=4 * EPS)


def test_cosine_warmup_with_min_lr_shift() -> None:
    w, t_total, rate = 4, 12, 0.1
    values = lrs("cosine_warmup_with_min_lr", [0, w - 1, w, t_total - 1], num_warmup_steps=w, num_training_steps=t_total, min_lr_rate=rate)
    at_w = 0.5 * (1 + math.cos(math.pi / (t_total - w))) * (1 - rate) + rate
    assert_close(values, [1 / w, 1.0, at_w, rate], 1.0)
    assert values[2] < 1.0


def test_cosine_warmup_with_min_lr_warmup_rate() -> None:
    values = lrs("cosine_warmup_with_min_lr", [0, 1, 2, 3, 4], num_warmup_steps=4, num_training_steps=12, min_lr_rate=0.0, warmup_lr_rate=0.25)
    assert_close(values[:4], [0.25, 0.5, 0.75, 1.0], 1.0)
    (w1,) = lrs("cosine_warmup_with_min_lr", [0], num_warmup_steps=1, num_training_steps=12, min_lr_rate=0.0, warmup_lr_rate=0.3)
    assert w1 == 0.3


def test_restarts_clamp_past_t_and_restart_at_one() -> None:
    values = lrs("cosine_with_restarts", [0, 10, 11, 19, 20, 29, 30, 31, 90], num_warmup_steps=0, num_training_steps=30, num_cycles=3)
    half_step = 0.5 * (1 + math.cos(math.pi * 0.1))
    assert_close(values, [1.0, 1.0, half_step, 0.5 * (1 + math.cos(math.pi * 0.9)), 1.0, 0.5 * (1 + math.cos(math.pi * 0.9)), 0.0, 0.0, 0.0], 1.0)
    assert values[6:] == [0.0, 0.0, 0.0]


def test_restarts_phase_is_transformers_float64_phase() -> None:
    # The real number 3.3·10/33 lies just below 1 (a cycle's end, λ ≈ 0); transformers' float64
    # phase is exactly 0 (a restart, λ = 1). The spec is the float64 phase.
    real_phase = Fraction(3.3) * Fraction(10, 33)
    assert real_phase < 1 and (3.3 * (10 / 33)) % 1.0 == 0.0
    assert lrs("cosine_with_restarts", [10, 20], num_warmup_steps=0, num_training_steps=33, num_cycles=3.3) == [1.0, 1.0]


def test_polynomial_power0_jumps_after_t() -> None:
    values = lrs("polynomial", [5, 10, 11], lr=2.0, num_warmup_steps=2, num_training_steps=10, lr_end=0.5, power=0.0)
    assert values == [2.0, 2.0, 0.5]


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_polynomial_decay(power: float) -> None:
    lr, end, steps = 2.0, 0.5, [2, 4, 7, 10, 11, 30]
    expected = [((lr - end) * (1 - (t - 2) / 8) ** power + end) if t <= 10 else end for t in steps]
    assert_close(lrs("polynomial", steps, lr=lr, num_warmup_steps=2, num_training_steps=10, lr_end=end, power=power), expected, lr)


def test_polynomial_w_above_t_goes_straight_to_lr_end() -> None:
    assert_close(lrs("polynomial", [4, 5, 6], lr=2.0, num_warmup_steps=5, num_training_steps=3, lr_end=0.5), [1.6, 0.5, 0.5], 2.0)


def test_polynomial_group_lr_scales_the_decay_computed_on_the_default_lr() -> None:
    rows = run.schedule_values("polynomial", [2, 10, 11], {"lr": 1e-3, "group_lrs": [1e-3, 1e-2], "num_warmup_steps": 2, "num_training_steps": 10, "lr_end": 1e-4})
    np.testing.assert_allclose(rows, [[1e-3, 1e-2], [1e-4, 1e-3], [1e-4, 1e-3]], rtol=4 * EPS)


def test_inverse_sqrt_default_timescale_is_10000_when_w_is_0() -> None:
    assert_close(lrs("inverse_sqrt", [0, 30000, 90000], num_warmup_steps=0), [1.0, 0.5, 1 / math.sqrt(10)], 1.0)


def test_inverse_sqrt_explicit_timescale() -> None:
    steps = [4, 5, 100]
    expected = [1 / math.sqrt((t + 10 - 4) / 10) for t in steps]
    assert_close(lrs("inverse_sqrt", steps, num_warmup_steps=4, timescale=10), expected, 1.0)


def _wsd_warmup(shape: str, p: float) -> float:
    return {"linear": p, "cosine": 0.5 * (1 - math.cos(math.pi * p)), "1-sqrt": 1 - math.sqrt(1 - p)}[shape]


def _wsd_decay(shape: str, p: float) -> float:
    return {"linear": 1 - p, "cosine": 0.5 * (1 + math.cos(math.pi * p)), "1-sqrt": 1 - math.sqrt(p)}[shape]


@pytest.mark.parametrize("warmup_type", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("decay_type", ["linear", "cosine", "1-sqrt"])
def test_wsd_shapes(warmup_type: str, decay_type: str) -> None:
    r = 0.05
    quarters = [0.0, 0.25, 0.5, 0.75]
    expected = (
        [_wsd_warmup(warmup_type, p) * (1 - r) + r for p in quarters]
        + [1.0, 1.0]
        + [_wsd_decay(decay_type, p) * (1 - r) + r for p in quarters]
        + [r, r]
    )
    values = lrs(
        "warmup_stable_decay", range(12), num_warmup_steps=4, num_stable_steps=2, num_decay_steps=4,
        warmup_type=warmup_type, decay_type=decay_type, min_lr_ratio=r,
    )
    assert_close(values, expected, 1.0)


def test_wsd_stable_steps_win_over_total() -> None:
    hp = {"num_warmup_steps": 2, "num_decay_steps": 4, "min_lr_ratio": 0.1}
    assert lrs("warmup_stable_decay", range(12), num_stable_steps=3, num_training_steps=100, **hp) == lrs(
        "warmup_stable_decay", range(12), num_stable_steps=3, **hp
    )


def test_wsd_negative_inferred_stable_starts_the_decay_mid_curve() -> None:
    # S = 8 − 3 − 8 = −3: at t = W the decay progress is already 3/8; it ends at T = 8.
    steps = [0, 3, 4, 7, 8, 9]
    r = 0.1
    expected = [r, *[0.5 * (1 + math.cos(math.pi * (t - 3 + 3) / 8)) * (1 - r) + r for t in (3, 4, 7)], r, r]
    values = lrs("warmup_stable_decay", steps, num_warmup_steps=3, num_training_steps=8, num_decay_steps=8, min_lr_ratio=r)
    assert_close(values, expected, 1.0)


def test_wsd_no_decay_drops_to_the_floor() -> None:
    assert lrs("warmup_stable_decay", [3, 4, 5, 6], num_warmup_steps=2, num_stable_steps=3, num_decay_steps=0, min_lr_ratio=0.2) == [1.0, 1.0, 0.2, 0.2]


def test_step_offset_one_is_one_step_late() -> None:
    hp = {"num_warmup_steps": 2, "num_training_steps": 10}
    assert lrs("cosine", [0, 3, 9], {"step_offset": "1"}, **hp) == lrs("cosine", [1, 4, 10], **hp)


# --------------------------------------------------------------------------------------------------
# rejected inputs: ValueError at construction, naming the argument
# --------------------------------------------------------------------------------------------------

COUNTS = {"num_warmup_steps": 2, "num_training_steps": 10}
WSD = {"num_warmup_steps": 2, "num_training_steps": 20, "num_decay_steps": 4}

REJECTED = {
    "constant-group-lr-negative": ("constant", {"group_lrs": [1e-3, -1e-3]}, "group_lrs"),
    "constant_with_warmup-warmup-negative": ("constant_with_warmup", {"num_warmup_steps": -1}, "num_warmup_steps"),
    "linear-warmup-negative": ("linear", {**COUNTS, "num_warmup_steps": -1}, "num_warmup_steps"),
    "cosine-warmup-negative": ("cosine", {**COUNTS, "num_warmup_steps": -1}, "num_warmup_steps"),
    "cosine-total-zero": ("cosine", {**COUNTS, "num_training_steps": 0}, "num_training_steps"),
    "cosine-cycles-negative": ("cosine", {**COUNTS, "num_cycles": -0.5}, "num_cycles"),
    "cosine_with_restarts-cycles-negative": ("cosine_with_restarts", {**COUNTS, "num_cycles": -1}, "num_cycles"),
    "cosine_with_restarts-total-negative": ("cosine_with_restarts", {**COUNTS, "num_training_steps": -3}, "num_training_steps"),
    "polynomial-warmup-equals-total": ("polynomial", {"num_warmup_steps": 10, "num_training_steps": 10}, "num_training_steps"),
    "polynomial-lr-end-equals-lr": ("polynomial", {**COUNTS, "lr": 1e-3, "lr_end": 1e-3}, "lr_end"),
    "polynomial-lr-end-above-lr": ("polynomial", {**COUNTS, "lr": 1e-3, "lr_end": 1e-2}, "lr_end"),
    "polynomial-power-negative": ("polynomial", {**COUNTS, "power": -1.0}, "power"),
    "polynomial-warmup-negative": ("polynomial", {**COUNTS, "num_warmup_steps": -1}, "num_warmup_steps"),
    "inverse_sqrt-timescale-zero": ("inverse_sqrt", {"num_warmup_steps": 2, "timescale": 0}, "timescale"),
    "inverse_sqrt-timescale-negative": ("inverse_sqrt", {"num_warmup_steps": 2, "timescale": -4}, "timescale"),
    "inverse_sqrt-warmup-negative": ("inverse_sqrt", {"num_warmup_steps": -1}, "num_warmup_steps"),
    "cosine_with_min_lr-both-floors": ("cosine_with_min_lr", {**COUNTS, "lr": 10.0, "min_lr": 1.0, "min_lr_rate": 0.1}, "min_lr"),
    "cosine_with_min_lr-no-floor": ("cosine_with_min_lr", COUNTS, "min_lr"),
    "cosine_with_min_lr-rate-negative": ("cosine_with_min_lr", {**COUNTS, "min_lr_rate": -0.1}, "min_lr_rate"),
    "cosine_with_min_lr-rate-above-one": ("cosine_with_min_lr", {**COUNTS, "min_lr_rate": 1.5}, "min_lr_rate"),
    "cosine_with_min_lr-min-lr-negative": ("cosine_with_min_lr", {**COUNTS, "min_lr": -1.0}, "min_lr"),
    "cosine_with_min_lr-min-lr-above-lr": ("cosine_with_min_lr", {**COUNTS, "lr": 10.0, "min_lr": 20.0}, "min_lr"),
    "cosine_with_min_lr-cycles-negative": ("cosine_with_min_lr", {**COUNTS, "min_lr_rate": 0.1, "num_cycles": -0.5}, "num_cycles"),
    "cosine_warmup_with_min_lr-both-floors": ("cosine_warmup_with_min_lr", {**COUNTS, "lr": 10.0, "min_lr": 1.0, "min_lr_rate": 0.1}, "min_lr"),
    "cosine_warmup_with_min_lr-no-floor": ("cosine_warmup_with_min_lr", COUNTS, "min_lr"),
    "cosine_warmup_with_min_lr-rate-above-one": ("cosine_warmup_with_min_lr", {**COUNTS, "min_lr_rate": 1.5}, "min_lr_rate"),
    "cosine_warmup_with_min_lr-min-lr-above-lr": ("cosine_warmup_with_min_lr", {**COUNTS, "lr": 1.0, "min_lr": 2.0}, "min_lr"),
    "cosine_warmup_with_min_lr-warmup-rate-negative": ("cosine_warmup_with_min_lr", {**COUNTS, "min_lr_rate": 0.1, "warmup_lr_rate": -0.2}, "warmup_lr_rate"),
    "cosine_warmup_with_min_lr-warmup-rate-above-one": ("cosine_warmup_with_min_lr", {**COUNTS, "min_lr_rate": 0.1, "warmup_lr_rate": 1.2}, "warmup_lr_rate"),
    "warmup_stable_decay-neither-total-nor-stable": ("warmup_stable_decay", {"num_warmup_steps": 2, "num_decay_steps": 4}, "num_training_steps"),
    "warmup_stable_decay-decay-missing": ("warmup_stable_decay", {"num_warmup_steps": 2, "num_training_steps": 20}, "num_decay_steps"),
    "warmup_stable_decay-warmup-type-unknown": ("warmup_stable_decay", {**WSD, "warmup_type": "exponential"}, "warmup_type"),
    "warmup_stable_decay-decay-type-unknown": ("warmup_stable_decay", {**WSD, "decay_type": "sqrt"}, "decay_type"),
    "warmup_stable_decay-stable-negative": ("warmup_stable_decay", {"num_warmup_steps": 2, "num_stable_steps": -1, "num_decay_steps": 4}, "num_stable_steps"),
    "warmup_stable_decay-decay-negative": ("warmup_stable_decay", {**WSD, "num_decay_steps": -4}, "num_decay_steps"),
    "warmup_stable_decay-ratio-negative": ("warmup_stable_decay", {**WSD, "min_lr_ratio": -0.1}, "min_lr_ratio"),
    "warmup_stable_decay-ratio-above-one": ("warmup_stable_decay", {**WSD, "min_lr_ratio": 1.5}, "min_lr_ratio"),
    "warmup_stable_decay-cycles-negative": ("warmup_stable_decay", {**WSD, "num_cycles": -0.5}, "num_cycles"),
}


@pytest.mark.parametrize("case", list(REJECTED), ids=list(REJECTED))
def test_rejected_at_construction(case: str) -> None:
    name, hparams, argument = REJECTED[case]
    with pytest.raises(ValueError, match=f"`{argument}`"):
        registry.spec(name).resolve(hparams)


def test_negative_inferred_stable_is_accepted() -> None:
    registry.spec("warmup_stable_decay").resolve({"num_warmup_steps": 3, "num_training_steps": 8, "num_decay_steps": 8})


# --------------------------------------------------------------------------------------------------
# the modules themselves: docstring examples, and the float64 context against the exact default
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAMBDA_SCHEDULES)
def test_docstring_example(name: str) -> None:
    module = importlib.import_module(f"optimspec.reference.schedules.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


FLOAT64_GRID = {
    "constant": {},
    "constant_with_warmup": {"num_warmup_steps": 3},
    "linear": {"num_warmup_steps": 3, "num_training_steps": 17},
    "cosine": {"num_warmup_steps": 3, "num_training_steps": 17, "num_cycles": 1.5},
    "cosine_with_restarts": {"num_warmup_steps": 3, "num_training_steps": 17, "num_cycles": 3},
    "polynomial": {"num_warmup_steps": 3, "num_training_steps": 17, "power": 2.5, "lr_end": 0.01},
    "inverse_sqrt": {"num_warmup_steps": 3, "timescale": 7},
    "cosine_with_min_lr": {"num_warmup_steps": 3, "num_training_steps": 17, "min_lr": 0.3},
    "cosine_warmup_with_min_lr": {"num_warmup_steps": 3, "num_training_steps": 17, "min_lr_rate": 0.3, "warmup_lr_rate": 0.1},
    "warmup_stable_decay": {"num_warmup_steps": 3, "num_training_steps": 17, "num_decay_steps": 6, "warmup_type": "1-sqrt", "decay_type": "cosine", "min_lr_ratio": 0.1},
}


@pytest.mark.parametrize("name", LAMBDA_SCHEDULES)
def test_float64_context_agrees_with_the_exact_evaluation(name: str) -> None:
    # Up to 2T the float64 rounding of the cosine argument (|x| ≤ 2π·nc·2) stays within the golden
    # schedule budget of 8 ε of the peak.
    steps = list(range(35))
    hparams = {"lr": 2.0, **FLOAT64_GRID[name]}
    exact = run.schedule_values(name, steps, hparams)
    float64 = run.schedule_values(name, steps, hparams, nx=FLOAT64)
    np.testing.assert_allclose(float64, exact, rtol=0, atol=8 * EPS * 2.0)


# --------------------------------------------------------------------------------------------------
# cross-check: transformers 5.24 (a dummy torch optimizer, stepping the real LambdaLR)
# --------------------------------------------------------------------------------------------------

FACTORIES = {
    "constant": "get_constant_schedule",
    "constant_with_warmup": "get_constant_schedule_with_warmup",
    "linear": "get_linear_schedule_with_warmup",
    "cosine": "get_cosine_schedule_with_warmup",
    "cosine_with_restarts": "get_cosine_with_hard_restarts_schedule_with_warmup",
    "polynomial": "get_polynomial_decay_schedule_with_warmup",
    "inverse_sqrt": "get_inverse_sqrt_schedule",
    "cosine_with_min_lr": "get_cosine_with_min_lr_schedule_with_warmup",
    "cosine_warmup_with_min_lr": "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "warmup_stable_decay": "get_wsd_schedule",
}


def _transformers_lrs(name: str, hparams: Mapping[str, Any], steps: Sequence[int]) -> np.ndarray:
    """Every group's lr at ``steps`` from transformers' own scheduler. Our hyperparameter names are
    the factory's argument names, so they pass through unchanged."""
    torch = pytest.importorskip("torch")
    optimization = pytest.importorskip("transformers.optimization")
    lr = hparams.get("lr", 1.0)
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": g} for g in hparams.get("group_lrs") or [lr]]
    optimizer = torch.optim.SGD(groups, lr=lr)
    kwargs = {k: v for k, v in hparams.items() if k not in ("lr", "group_lrs")}
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # WSD warns when T and S are both given
        scheduler = getattr(optimization, FACTORIES[name])(optimizer, **kwargs)
        for t in range(max(steps) + 1):
            rows[t] = scheduler.get_last_lr()
            optimizer.step()
            scheduler.step()
    return np.array([rows[t] for t in steps], dtype=np.float64)


WARMUP_TOTAL = [(0, 8), (2, 10), (5, 3), (1, 17), (10, 100)]
CYCLES = [0.0, 0.5, 1, 1.5]


def _grid(name: str, warmup: int, total: int) -> list[dict[str, Any]]:
    counts = {"num_warmup_steps": warmup, "num_training_steps": total}
    if name == "constant":
        return [{}]
    if name == "constant_with_warmup":
        return [{"num_warmup_steps": warmup}]
    if name == "linear":
        return [counts]
    if name in ("cosine", "cosine_with_restarts"):
        return [{**counts, "num_cycles": nc} for nc in CYCLES]
    if name == "polynomial":
        if warmup == total:
            return []
        return [{**counts, "power": p, "lr_end": end} for p in (0.0, 1.0, 2.0, 3.5) for end in (0.0, 1e-7, 0.3)]
    if name == "inverse_sqrt":
        return [{"num_warmup_steps": warmup, "timescale": ts} for ts in (None, 1, 7, 10_000)]
    if name == "cosine_with_min_lr":
        return [{**counts, "num_cycles": nc, **floor} for nc in CYCLES for floor in ({"min_lr_rate": 0.1}, {"min_lr": 0.03}, {"min_lr_rate": 1.0})]
    if name == "cosine_warmup_with_min_lr":
        return [
            {**counts, "num_cycles": nc, **floor, "warmup_lr_rate": wr}
            for nc in CYCLES for floor in ({"min_lr_rate": 0.1}, {"min_lr": 0.03}) for wr in (None, 0.0, 0.2)
        ]
    shapes = ("linear", "cosine", "1-sqrt")
    return [
        {"num_warmup_steps": warmup, "num_decay_steps": d, **length, "warmup_type": wt, "decay_type": dt, "min_lr_ratio": r, "num_cycles": nc}
        for d in (0, 4) for length in ({"num_training_steps": total}, {"num_stable_steps": 2})
        for wt in shapes for dt in shapes for r, nc in ((0.0, 0.5), (0.25, 1.5))
    ]


@pytest.mark.parametrize("name", LAMBDA_SCHEDULES)
def test_matches_transformers(name: str) -> None:
    checked = 0
    for warmup, total in WARMUP_TOTAL:
        steps = sorted({0, max(warmup - 1, 0), warmup, warmup + 1, total - 1, total, total + 1, 2 * total})
        for kwargs in _grid(name, warmup, total):
            for base in ({"lr": 1.0}, {"lr": 10.0, "group_lrs": [10.0, 0.3]}):
                hparams = {**base, **kwargs}
                ours = run.schedule_values(name, steps, hparams)
                theirs = _transformers_lrs(name, hparams, steps)
                peak = float(np.max(np.abs(ours)))
                np.testing.assert_allclose(theirs, ours, rtol=0, atol=4 * EPS * peak, err_msg=f"{name} {hparams} at steps {steps}")
                checked += 1
    assert checked > 0


UPSTREAM_FAILURES = {
    "polynomial-warmup-equals-total": ("polynomial", {"num_warmup_steps": 10, "num_training_steps": 10}, ZeroDivisionError),
    "polynomial-lr-end-equals-lr": ("polynomial", {"lr": 1e-3, "num_warmup_steps": 0, "num_training_steps": 10, "lr_end": 1e-3}, ValueError),
    "polynomial-power-negative": ("polynomial", {"num_warmup_steps": 0, "num_training_steps": 10, "power": -1.0}, ZeroDivisionError),
    "inverse_sqrt-timescale-zero": ("inverse_sqrt", {"num_warmup_steps": 2, "timescale": 0}, ZeroDivisionError),
    "inverse_sqrt-timescale-negative": ("inverse_sqrt", {"num_warmup_steps": 2, "timescale": -4}, (ZeroDivisionError, ValueError)),
    "cosine_with_min_lr-both-floors": ("cosine_with_min_lr", {**COUNTS, "min_lr": 0.1, "min_lr_rate": 0.1}, ValueError),
    "cosine_with_min_lr-no-floor": ("cosine_with_min_lr", COUNTS, ValueError),
    "cosine_warmup_with_min_lr-no-floor": ("cosine_warmup_with_min_lr", COUNTS, ValueError),
    "warmup_stable_decay-neither-total-nor-stable": ("warmup_stable_decay", {"num_warmup_steps": 2, "num_decay_steps": 4}, ValueError),
    "warmup_stable_decay-warmup-type-unknown": ("warmup_stable_decay", {**WSD, "warmup_type": "exponential"}, ValueError),
    "warmup_stable_decay-decay-type-unknown": ("warmup_stable_decay", {**WSD, "decay_type": "sqrt"}, ValueError),
}


@pytest.mark.parametrize("case", list(UPSTREAM_FAILURES), ids=list(UPSTREAM_FAILURES))
def test_transformers_fails_where_the_reference_rejects(case: str) -> None:
    """The compatibility policy: these inputs are rejected because transformers itself fails on
    them (at construction or once the schedule reaches the bad step)."""
    name, hparams, error = UPSTREAM_FAILURES[case]
    with pytest.raises(error):
        _transformers_lrs(name, hparams, [20])
    with pytest.raises(ValueError):
        registry.spec(name).resolve(hparams)

"""Comparison of actual against expected values under the tolerance policy of ``docs/design.md``.

Every budget has the form ``|a − e| ≤ k · ε(dtype) · S`` elementwise, where ``S`` (the *scale*)
says what magnitudes were combined:

* teacher-forced optimizer step: the sum of the magnitudes of the terms the step combines, from
  the reference run on magnitudes (``reference.run.step_scale``), and never below
  ``|prev| + |expected − prev|``;
* free-running checkpoint: the largest per-step magnitude sum along the reference trajectory so
  far, never below ``|expected| + |expected − initial|``;
* schedule value: ``S = peak`` (the largest |lr| of the case).

Half-precision (float16, bfloat16) teacher-forced params are budgeted in ulps of the result
instead (:func:`compare_ulps`): a correct implementation computes the step in float32 and rounds
once, so it lands on the reference's correctly rounded value or on a neighbour: ``|a − e| ≤
k · ulp(e)`` with ``k = 1``.

NaN and ±inf are class-exact everywhere (same positions, same signs). ``exact`` comparisons are bit
for bit, sign of zero included. The measured error is reported in units of ε·S (so it reads as "k")
for passing elements too, so budgets can be tightened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimspec.reference._dtypes import EPS


@dataclass(frozen=True)
class Comparison:
    """The verdict on one array, and what was measured."""

    passed: bool
    max_k: float  # worst |a−e| / (ε·S) over finite elements
    p99_k: float
    worst_index: tuple[int, ...] | None
    budget_k: float
    problem: str | None = None  # why it failed, in words
    nonfinite_mismatch: bool = False  # NaN/±inf where the other side has none: no budget helps

    def describe(self) -> str:
        if self.problem:
            return self.problem
        return f"max {self.max_k:.3g} ε·S (p99 {self.p99_k:.3g}), budget {self.budget_k:g}"


def teacher_forced_scale(prev: np.ndarray, expected: np.ndarray) -> np.ndarray:
    prev, expected = np.asarray(prev, float), np.asarray(expected, float)
    with np.errstate(invalid="ignore"):
        return np.abs(prev) + np.abs(expected - prev)


def magnitude_scale(magnitude: Any, fallback: np.ndarray) -> np.ndarray:
    """S from the reference's magnitude run (``reference.run.step_scale``), never below
    ``fallback`` (``teacher_forced_scale`` or ``free_running_scale``), which also stands in where the
    magnitudes are not finite."""
    fallback = np.asarray(fallback, dtype=np.float64)
    magnitude = np.broadcast_to(np.asarray(magnitude, dtype=np.float64), fallback.shape)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(magnitude), np.maximum(magnitude, fallback), fallback)


def free_running_scale(initial: np.ndarray, expected: np.ndarray) -> np.ndarray:
    initial, expected = np.asarray(initial, float), np.asarray(expected, float)
    with np.errstate(invalid="ignore"):
        return np.abs(expected) + np.abs(expected - initial)


#: (stored mantissa bits, smallest normal exponent) of each dtype: what its ulp is made of.
FORMATS = {"float64": (52, -1022), "float32": (23, -126), "float16": (10, -14), "bfloat16": (7, -126)}


def ulp(dtype: str, values: np.ndarray) -> np.ndarray:
    """The spacing of ``dtype`` numbers at ``|values|`` (the gap to the next larger magnitude),
    elementwise; the smallest subnormal at zero and below the normal range.

    >>> ulp("bfloat16", np.array([1.0, 1.5, 0.0])).tolist()
    [0.0078125, 0.0078125, 9.183549615799121e-41]
    >>> float(ulp("float16", np.array(1000.0)))
    0.5
    """
    mantissa_bits, min_exponent = FORMATS[dtype]
    values = np.asarray(values, dtype=np.float64)
    _, exponent = np.frexp(np.where(np.isfinite(values), np.abs(values), 0.0))
    # frexp: |x| = m·2^e with m in [0.5, 1), so the binade of x starts at 2^(e−1); zero gives e = 0.
    binade = np.where(values == 0.0, min_exponent, np.maximum(exponent - 1, min_exponent))
    return np.ldexp(1.0, binade - mantissa_bits)


def _class_problem(actual: np.ndarray, expected: np.ndarray) -> str | None:
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    if not np.array_equal(nan_a, nan_e):
        idx = tuple(int(i) for i in np.argwhere(nan_a != nan_e)[0])
        return f"NaN mismatch at {list(idx)}: expected {float(expected[idx])!r}, got {float(actual[idx])!r}"
    inf_a, inf_e = np.isinf(actual), np.isinf(expected)
    if not np.array_equal(inf_a, inf_e) or not np.array_equal(actual[inf_e], expected[inf_e]):
        idx = tuple(int(i) for i in np.argwhere((inf_a != inf_e) | (inf_e & (actual != expected)))[0])
        return f"infinity mismatch at {list(idx)}: expected {float(expected[idx])!r}, got {float(actual[idx])!r}"
    return None


def compare(
    actual: np.ndarray,
    expected: np.ndarray,
    scale: np.ndarray | float,
    eps: float,
    k: float,
    *,
    exact: bool = False,
) -> Comparison:
    """Compare elementwise: ``|a − e| ≤ k·eps·scale``; non-finite values class-exact."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return Comparison(False, math.inf, math.inf, None, k, f"shape {list(actual.shape)} != expected {list(expected.shape)}")
    problem = _class_problem(actual, expected)
    if problem:
        return Comparison(False, math.inf, math.inf, None, k, problem, nonfinite_mismatch=True)
    finite = np.isfinite(expected)
    if exact:
        same_bits = (actual == expected) & (np.signbit(actual) == np.signbit(expected))
        bad = finite & ~same_bits
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            return Comparison(False, math.inf, math.inf, idx, 0.0, f"not bit-identical at {list(idx)}: expected {float(expected[idx])!r}, got {float(actual[idx])!r}")
        return Comparison(True, 0.0, 0.0, None, 0.0)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), expected.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.where(finite, np.abs(actual - expected), 0.0)
    unit = eps * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        measured = np.where(error == 0.0, 0.0, error / unit)
    measured = np.where(np.isnan(measured), math.inf, measured)
    if measured.size == 0:
        return Comparison(True, 0.0, 0.0, None, k)
    worst = np.unravel_index(int(np.argmax(measured)), measured.shape)
    max_k = float(measured[worst])
    # method="lower" picks an element instead of interpolating, so infinite errors stay infinite
    p99_k = float(np.percentile(measured, 99, method="lower"))
    passed = bool(max_k <= k)
    idx = tuple(int(i) for i in worst)
    problem = None
    if not passed:
        problem = (
            f"off by {max_k:.3g} ε·S at {list(idx)} (budget {k:g}): expected {float(expected[worst])!r}, "
            f"got {float(actual[worst])!r}"
        )
    return Comparison(passed, max_k, p99_k, idx, k, problem)


def compare_ulps(actual: np.ndarray, expected: np.ndarray, dtype: str, k: float) -> Comparison:
    """Compare elementwise in ulps of the expected value: ``|a − e| ≤ k·ulp(dtype, e)``; non-finite
    values class-exact. ``max_k`` is reported in ulps.

    >>> compare_ulps(np.array([1.0078125]), np.array([1.0]), "bfloat16", 1.0).passed
    True
    >>> compare_ulps(np.array([1.015625]), np.array([1.0]), "bfloat16", 1.0).describe()
    'off by 2 ulp at [0] (budget 1): expected 1.0, got 1.015625'
    """
    expected = np.asarray(expected, dtype=np.float64)
    result = compare(actual, expected, ulp(dtype, expected), 1.0, k)
    if result.passed or result.nonfinite_mismatch or result.worst_index is None:
        return result
    worst = result.worst_index
    problem = (
        f"off by {result.max_k:.3g} ulp at {list(worst)} (budget {k:g}): expected {float(expected[worst])!r}, "
        f"got {float(np.asarray(actual, dtype=np.float64)[worst])!r}"
    )
    return Comparison(False, result.max_k, result.p99_k, worst, k, problem)


METRICS = ("scaled", "ulps")


def by_metric(metric: str, actual: np.ndarray, expected: np.ndarray, scale: np.ndarray | float, dtype: str, k: float) -> Comparison:
    """:func:`compare` in ε(dtype)·S (``"scaled"``) or :func:`compare_ulps` (``"ulps"``)."""
    if metric == "ulps":
        return compare_ulps(actual, expected, dtype, k)
    if metric != "scaled":
        raise ValueError(f"metric={metric!r} is not one of {', '.join(METRICS)}")
    return compare(actual, expected, scale, EPS[dtype], k)


def merge(comparisons: list[Comparison]) -> Comparison:
    """One verdict for several arrays: fails if any fails; reports the worst."""
    if not comparisons:
        return Comparison(True, 0.0, 0.0, None, 0.0)
    failed = [c for c in comparisons if not c.passed]
    worst = max(comparisons, key=lambda c: c.max_k)
    if failed:
        first = failed[0]
        return Comparison(False, worst.max_k, max(c.p99_k for c in comparisons), first.worst_index, first.budget_k, first.problem)
    return Comparison(True, worst.max_k, max(c.p99_k for c in comparisons), worst.worst_index, worst.budget_k)

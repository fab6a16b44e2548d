"""Meta tests: the comparison helpers catch what they must. A compare() that always passed would
make every implementation conformant; these tests fail for such a helper, and the last one shows
that the broken adapters of tests/conformance are caught only because compare() works."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from optimspec.conformance import compare, golden, runner
from optimspec.conformance.testing import build_golden_tree

EPS64 = float(np.finfo(np.float64).eps)
BROKEN_ADAPTERS = Path(__file__).resolve().parents[1] / "conformance" / "broken_adapters.py"


def ulps_above(value: float, n: int) -> float:
    for _ in range(n):
        value = math.nextafter(value, math.inf)
    return value


def check(actual: object, expected: object, k: float = 4.0, scale: float = 1.0, exact: bool = False) -> compare.Comparison:
    return compare.compare(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), scale, EPS64, k, exact=exact)


def test_exactly_at_the_budget_passes_and_one_ulp_over_fails() -> None:
    # Just above 1.0 one ulp is ε, so k = 4 allows exactly four ulps when S = 1.
    at_budget, over_budget = check([ulps_above(1.0, 4)], [1.0]), check([ulps_above(1.0, 5)], [1.0])
    assert at_budget.passed and at_budget.max_k == 4.0, at_budget.describe()
    assert not over_budget.passed, "one ulp over the budget must fail"
    assert over_budget.max_k == 5.0 and over_budget.worst_index == (0,)


def test_the_worst_element_decides() -> None:
    result = check([1.0, ulps_above(1.0, 9), 1.0], [1.0, 1.0, 1.0])
    assert not result.passed and result.worst_index == (1,) and "at [1]" in (result.problem or "")


@pytest.mark.parametrize(
    ("actual", "expected"),
    [([math.nan], [1.0]), ([1.0], [math.nan]), ([math.inf], [-math.inf]), ([-math.inf], [math.inf]), ([1e308], [math.inf]), ([math.inf], [1e308])],
    ids=["nan-for-number", "number-for-nan", "inf-sign", "-inf-sign", "finite-for-inf", "inf-for-finite"],
)
def test_non_finite_values_are_class_exact(actual: list[float], expected: list[float]) -> None:
    result = check(actual, expected, k=1e300)
    assert not result.passed, f"{actual} vs {expected} must fail even with a huge budget"
    assert result.max_k == math.inf


def test_matching_non_finite_values_pass() -> None:
    assert check([math.nan, math.inf, -math.inf, 2.0], [math.nan, math.inf, -math.inf, 2.0]).passed


def test_signed_zero_is_checked_in_exact_mode_only() -> None:
    assert not check([-0.0], [0.0], exact=True).passed, "-0.0 vs 0.0 must fail a bit-exact comparison"
    assert not check([0.0], [-0.0], exact=True).passed
    assert check([-0.0], [-0.0], exact=True).passed
    assert check([-0.0], [0.0]).passed, "within a budget the sign of zero does not matter"


def test_exact_mode_rejects_one_ulp() -> None:
    assert not check([ulps_above(0.5, 1)], [0.5], exact=True).passed


@pytest.mark.parametrize(("actual", "expected"), [(np.zeros(3), np.zeros(4)), (np.zeros((2, 2)), np.zeros(4)), (np.zeros(1), np.zeros(()))])
def test_shape_mismatch_fails_instead_of_broadcasting(actual: np.ndarray, expected: np.ndarray) -> None:
    result = compare.compare(actual, expected, 1.0, EPS64, 1e300)
    assert not result.passed and "shape" in (result.problem or "")


def test_zero_scale_allows_no_error() -> None:
    assert not check([1e-300], [0.0], scale=0.0, k=1e300).passed
    assert check([0.0], [0.0], scale=0.0).passed


# --------------------------------------------------------------------------------------------------
# the ulps metric of half-precision teacher-forced steps
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "value", "spacing"),
    [
        ("float16", 1.0, 2.0**-10), ("float16", 1.5, 2.0**-10), ("float16", 0.75, 2.0**-11), ("float16", -1000.0, 0.5),
        ("float16", 0.0, 2.0**-24), ("float16", 2.0**-20, 2.0**-24),  # zero and subnormals: the smallest subnormal
        ("bfloat16", 1.0, 2.0**-7), ("bfloat16", 3.0, 2.0**-6), ("bfloat16", 0.0, 2.0**-133),
        ("float32", 1.0, 2.0**-23), ("float64", 1.0, 2.0**-52),
    ],
)
def test_ulp_is_the_gap_to_the_next_larger_magnitude(dtype: str, value: float, spacing: float) -> None:
    assert float(compare.ulp(dtype, np.array(value))) == spacing


def test_ulp_agrees_with_numpy_spacing_for_float16() -> None:
    values = np.float16(np.linspace(-70000.0, 70000.0, 2001)[np.abs(np.linspace(-70000.0, 70000.0, 2001)) < 65504])
    expected = np.spacing(np.abs(values)).astype(np.float64)
    assert np.array_equal(compare.ulp("float16", values.astype(np.float64)), expected)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_one_ulp_passes_and_two_fail(dtype: str) -> None:
    expected = np.array([1.0, -0.75, 3.0, 0.0])
    spacing = compare.ulp(dtype, expected)
    one, two = compare.compare_ulps(expected + spacing, expected, dtype, 1.0), compare.compare_ulps(expected - 2 * spacing, expected, dtype, 1.0)
    assert one.passed and one.max_k == 1.0, one.describe()
    assert not two.passed and two.max_k == 2.0 and "2 ulp" in (two.problem or "")


def test_ulps_keep_non_finite_values_class_exact() -> None:
    result = compare.compare_ulps(np.array([math.nan, 1.0]), np.array([1.0, 1.0]), "float16", 1e30)
    assert not result.passed and result.nonfinite_mismatch


def test_by_metric_rejects_an_unknown_metric() -> None:
    with pytest.raises(ValueError, match="metric='relative'"):
        compare.by_metric("relative", np.zeros(1), np.zeros(1), 1.0, "float32", 1.0)


def test_merge_fails_if_any_fails() -> None:
    good, bad = check([1.0], [1.0]), check([2.0], [1.0])
    assert not compare.merge([good, bad, good]).passed
    assert compare.merge([good, good]).passed


# --------------------------------------------------------------------------------------------------
# the harness depends on compare(): with an always-passing one, broken adapters would go unnoticed
# --------------------------------------------------------------------------------------------------


def _broken_adapters() -> ModuleType:
    module = sys.modules.get("broken_adapters")
    if module is None:
        spec = importlib.util.spec_from_file_location("broken_adapters", BROKEN_ADAPTERS)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["broken_adapters"] = module
        spec.loader.exec_module(module)
    return module


def _always_pass(actual: object, expected: object, scale: object, eps: float, k: float, *, exact: bool = False) -> compare.Comparison:
    return compare.Comparison(True, 0.0, 0.0, None, k)


@pytest.fixture(scope="module")
def golden_files(tmp_path_factory: pytest.TempPathFactory) -> list[golden.GoldenFile]:
    return golden.load_all(build_golden_tree(tmp_path_factory.mktemp("golden"), ["adamw", "linear"]))


@pytest.mark.parametrize(
    ("adapter", "case_id"),
    [
        ("EpsAfterAdapter", "optim/adamw/conventions/f64/tiny-grads-t3"),
        ("DecayBeforeAdapter", "optim/adamw/conventions/f64/large-lr-decay-t3"),
        ("OffByOneScheduleAdapter", "sched/linear/boundaries/w2-t10"),
        ("NaNAdapter", "optim/adamw/conventions/f64/tiny-grads-t3"),
    ],
)
def test_broken_adapters_are_caught_only_because_compare_works(golden_files: list[golden.GoldenFile], monkeypatch: pytest.MonkeyPatch, adapter: str, case_id: str) -> None:
    make = getattr(_broken_adapters(), adapter)
    options = runner.Options(select=(case_id,))
    (honest,) = runner.run(make(), golden_files, options)
    assert honest.outcome == "fail", f"{adapter} must fail {case_id} with the real compare()"
    monkeypatch.setattr(compare, "compare", _always_pass)
    (fooled,) = runner.run(make(), golden_files, options)
    assert fooled.outcome == "pass", "with an always-passing compare() the runner would accept the broken adapter"

"""The numeric contexts and storage rounding the reference is built on."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from optimspec.reference._dtypes import EPS, representable, round_to
from optimspec.reference._numeric import FLOAT64, exact


def test_float64_sum_is_correctly_rounded_whatever_the_order() -> None:
    values = np.array([1e16, 1.0, -1e16, 1.0])
    assert FLOAT64.sum(values) == 2.0  # naive left-to-right summation gives 1.0 or 0.0
    assert FLOAT64.sum(values[::-1]) == 2.0


def test_float64_sum_along_an_axis_and_mean() -> None:
    x = np.array([[1e16, 1.0, -1e16], [0.1, 0.2, 0.3]])
    np.testing.assert_array_equal(FLOAT64.sum(x, axis=-1), [1.0, math.fsum([0.1, 0.2, 0.3])])
    assert FLOAT64.mean(np.array([1.0, 2.0, 4.0])) == 7.0 / 3.0


def test_float64_sum_of_non_finite_values_follows_ieee() -> None:
    assert math.isnan(FLOAT64.sum(np.array([np.inf, -np.inf, 1.0])))
    assert FLOAT64.sum(np.array([np.inf, 1.0])) == np.inf
    assert math.isnan(FLOAT64.sum(np.array([np.nan, 1.0])))
    assert FLOAT64.sum(np.array([1e308, 1e308])) == np.inf


def test_transcendentals_are_rounded_once() -> None:
    assert FLOAT64.pow(0.999, 10) == float(mpmath.power(mpmath.mpf(0.999), 10))
    assert FLOAT64.cos(math.pi) == -1.0
    assert FLOAT64.pow(2.0, -0.8) == float(mpmath.power(2, mpmath.mpf(-0.8)))


def test_maximum_propagates_nan_in_both_contexts() -> None:
    assert math.isnan(FLOAT64.maximum(np.nan, 1.0))
    oracle = exact(128)
    assert mpmath.isnan(oracle.maximum(mpmath.nan, mpmath.mpf(1)))
    out = oracle.maximum(oracle.array([1.0, float("nan")]), 2.0)
    assert out[0] == 2 and mpmath.isnan(out[1])


def test_oracle_is_exact_where_float64_rounds() -> None:
    oracle = exact(256)
    with oracle.precision():
        third = oracle.scalar(1) / oracle.scalar(3)
        assert third * 3 == 1
        assert oracle.sum(oracle.array([1e16, 1.0, -1e16])) == 1
        root = oracle.sqrt(oracle.array([2.0]))[0]
        assert abs(root * root - 2) < mpmath.mpf(2) ** -250


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        (1.0 + 2.0**-8, "bfloat16", 1.0),  # tie: round to even
        (1.0 + 3 * 2.0**-9, "bfloat16", 1.0 + 2.0**-7),
        (1.0 + 2.0**-11, "float16", 1.0),
        (0.1, "float32", float(np.float32(0.1))),
        (1e40, "float32", math.inf),
        (0.1, "float64", 0.1),
    ],
)
def test_round_to_storage_dtype(value: float, dtype: str, expected: float) -> None:
    assert round_to(dtype, np.array([value]))[0] == expected


def test_bfloat16_rounding_matches_ml_dtypes() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    values = np.random.default_rng(0).standard_normal(2000).astype(np.float32) * 100
    ours = round_to("bfloat16", values.astype(np.float64))
    theirs = values.astype(ml_dtypes.bfloat16).astype(np.float64)
    np.testing.assert_array_equal(ours, theirs)


def test_nan_survives_rounding_and_is_representable() -> None:
    for dtype in EPS:
        assert math.isnan(round_to(dtype, np.array([np.nan]))[0])
        assert representable(dtype, np.array([np.nan, 0.5, -2.0]))
    assert not representable("float32", np.array([0.1]))


def test_unknown_dtype_is_rejected() -> None:
    with pytest.raises(ValueError, match="dtype='int8' is not one of"):
        round_to("int8", np.array([1.0]))

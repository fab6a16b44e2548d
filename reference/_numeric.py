"""Numeric contexts: the reference runs its formulas through one of these.

Every reference function takes a context ``nx`` and does its arithmetic with Python operators on the
context's numbers plus the few functions below. Two contexts exist:

* :data:`FLOAT64` — NumPy float64 arrays. ``+ - * /`` and ``sqrt`` are correctly rounded IEEE
  operations; transcendentals (``pow``, ``cos``) go through mpmath and are rounded once; reductions
  use :func:`math.fsum`, so the result never depends on summation order or platform libm.
* :func:`exact` — the *oracle*: the same code on mpmath numbers with ``prec`` bits (NumPy object
  arrays of ``mpf``). It bounds the float64 reference's own rounding error; it is never a second
  copy of a formula.

Scalars that are hyperparameters stay Python floats in FLOAT64 and become exact ``mpf`` values in
the oracle (``mpf(float)`` is exact), so both contexts see identical inputs.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

Array = Any  # numpy float64 array, or numpy object array of mpf in the oracle
Scalar = Any  # float, or mpf in the oracle

_TRANSCENDENTAL_PREC = 200  # bits used for one-off transcendentals in the FLOAT64 context


def _nonfinite_sum(values: np.ndarray) -> float | None:
    """IEEE sum of a float array holding inf/nan (order-independent), or None if all finite."""
    if np.all(np.isfinite(values)):
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        return float(np.sum(values))


@dataclass(frozen=True)
class Float64Context:
    """float64 NumPy arithmetic with exactly rounded transcendentals and reductions."""

    name: str = "float64"

    def precision(self) -> contextlib.AbstractContextManager[None]:
        """Context manager to run reference code under (a no-op for float64)."""
        return contextlib.nullcontext()

    # -- conversion -------------------------------------------------------------------------------
    def array(self, values: Any) -> np.ndarray:
        return np.array(values, dtype=np.float64)

    def scalar(self, value: Any) -> float:
        return float(value)

    def to_float64(self, values: Any) -> np.ndarray:
        return np.array(values, dtype=np.float64)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, dtype=np.float64)

    # -- elementwise ------------------------------------------------------------------------------
    def sqrt(self, x: Any) -> Any:
        with np.errstate(invalid="ignore"):
            out = np.sqrt(np.asarray(x, dtype=np.float64))
        return out if np.ndim(out) else float(out)

    def maximum(self, x: Any, y: Any) -> Any:
        """Elementwise max that propagates NaN (like torch.maximum / clamp)."""
        out = np.maximum(x, y)
        return out if np.ndim(out) else float(out)

    def minimum(self, x: Any, y: Any) -> Any:
        out = np.minimum(x, y)
        return out if np.ndim(out) else float(out)

    # -- scalar transcendentals, rounded once -----------------------------------------------------
    def pow(self, base: Scalar, exponent: Scalar) -> float:
        """IEEE pow: a negative base with a non-integer exponent is NaN (mpmath would go complex)."""
        if _complex_pow(base, exponent):
            return math.nan
        with mpmath.workprec(_TRANSCENDENTAL_PREC):
            return _mpf_to_float(mpmath.power(mpmath.mpf(base), mpmath.mpf(exponent)))

    def cos(self, x: Scalar) -> float:
        with mpmath.workprec(_TRANSCENDENTAL_PREC):
            return _mpf_to_float(mpmath.cos(mpmath.mpf(x)))

    @property
    def pi(self) -> float:
        return math.pi

    # -- reductions ---------------------------------------------------------------------------------
    def sum(self, x: Any, axis: int | None = None) -> Any:
        """Correctly rounded sum (fsum); along ``axis`` it reduces each slice separately."""
        x = np.asarray(x, dtype=np.float64)
        if axis is None:
            special = _nonfinite_sum(x.ravel())
            if special is not None:
                return special
            try:
                return math.fsum(x.ravel().tolist())
            except OverflowError:  # finite terms whose exact sum overflows: IEEE gives ±inf
                with np.errstate(over="ignore"):
                    return float(np.sum(x))
        moved = np.moveaxis(x, axis, -1)
        flat = moved.reshape(-1, moved.shape[-1])
        sums = np.array([self.sum(row) for row in flat], dtype=np.float64)
        return sums.reshape(moved.shape[:-1])

    def mean(self, x: Any, axis: int | None = None) -> Any:
        """``sum / n`` with the correctly rounded sum."""
        x = np.asarray(x, dtype=np.float64)
        n = x.size if axis is None else x.shape[axis]
        return self.sum(x, axis) / float(n)


def _mpf_to_float(value: Any) -> float:
    return float(value)


def _complex_pow(base: Any, exponent: Any) -> bool:
    return bool(base < 0) and not mpmath.mpf(exponent) == mpmath.floor(mpmath.mpf(exponent))


@dataclass(frozen=True)
class ExactContext:
    """The oracle: the same formulas on mpmath numbers with ``prec`` bits of precision."""

    prec: int = 256
    name: str = "exact"

    def precision(self) -> contextlib.AbstractContextManager[None]:
        """Run mpf arithmetic (``+ - * /``) at this context's precision."""
        return mpmath.workprec(self.prec)

    def _mp(self, value: Any) -> Any:
        if isinstance(value, mpmath.mpf):
            return value
        return mpmath.mpf(float(value))

    def array(self, values: Any) -> np.ndarray:
        arr = np.asarray(values)
        if arr.dtype == object:
            return arr
        out = np.empty(arr.shape, dtype=object)
        flat = out.reshape(-1)
        for i, v in enumerate(arr.reshape(-1).tolist()):
            flat[i] = mpmath.mpf(v)
        return out

    def scalar(self, value: Any) -> Any:
        return self._mp(value)

    def to_float64(self, values: Any) -> np.ndarray:
        arr = np.asarray(values, dtype=object)
        return np.array([float(v) for v in arr.reshape(-1)], dtype=np.float64).reshape(arr.shape)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.array(np.zeros(shape))

    def _map(self, fn: Any, x: Any) -> Any:
        if isinstance(x, np.ndarray):
            out = np.empty(x.shape, dtype=object)
            out.reshape(-1)[:] = [fn(v) for v in x.reshape(-1)]
            return out
        return fn(self._mp(x))

    def sqrt(self, x: Any) -> Any:
        with mpmath.workprec(self.prec):
            return self._map(lambda v: mpmath.sqrt(v) if v >= 0 or mpmath.isnan(v) else mpmath.nan, x)

    def _pick(self, x: Any, y: Any, take_x: Any) -> Any:
        def pick(a: Any, b: Any) -> Any:
            a, b = self._mp(a), self._mp(b)
            if mpmath.isnan(a) or mpmath.isnan(b):
                return mpmath.nan
            return a if take_x(a, b) else b

        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            xa, ya = np.broadcast_arrays(np.asarray(x, dtype=object), np.asarray(y, dtype=object))
            out = np.empty(xa.shape, dtype=object)
            out.reshape(-1)[:] = [pick(a, b) for a, b in zip(xa.reshape(-1), ya.reshape(-1))]
            return out
        return pick(x, y)

    def maximum(self, x: Any, y: Any) -> Any:
        return self._pick(x, y, lambda a, b: a >= b)

    def minimum(self, x: Any, y: Any) -> Any:
        return self._pick(x, y, lambda a, b: a <= b)

    def pow(self, base: Scalar, exponent: Scalar) -> Any:
        if _complex_pow(base, exponent):
            return mpmath.nan
        with mpmath.workprec(self.prec):
            return mpmath.power(self._mp(base), self._mp(exponent))

    def cos(self, x: Scalar) -> Any:
        with mpmath.workprec(self.prec):
            return mpmath.cos(self._mp(x))

    @property
    def pi(self) -> Any:
        # math.pi, not the true pi: the oracle measures rounding error, not a change of constant.
        return mpmath.mpf(math.pi)

    def sum(self, x: Any, axis: int | None = None) -> Any:
        x = np.asarray(x, dtype=object)
        with mpmath.workprec(self.prec):
            if axis is None:
                return mpmath.fsum(x.reshape(-1).tolist()) if x.size else mpmath.mpf(0)
            moved = np.moveaxis(x, axis, -1)
            flat = moved.reshape(-1, moved.shape[-1])
            sums = np.empty(flat.shape[0], dtype=object)
            sums[:] = [mpmath.fsum(row.tolist()) for row in flat]
            return sums.reshape(moved.shape[:-1])

    def mean(self, x: Any, axis: int | None = None) -> Any:
        x = np.asarray(x, dtype=object)
        n = x.size if axis is None else x.shape[axis]
        with mpmath.workprec(self.prec):
            return self.sum(x, axis) / mpmath.mpf(n)


class _Magnitude(np.ndarray):
    """An array of magnitudes in which every term adds: ``a − b`` is ``|a| + |b|``, ``−a`` is ``|a|``,
    and ``a·b``, ``a/b`` act on magnitudes. Run through a formula, it yields the sum of the
    magnitudes of the terms the formula combines: the scale S of a rounding-error bound."""

    _ADDITIVE = {np.subtract: np.add, np.negative: np.absolute, np.positive: np.absolute}

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        plain = [np.abs(np.asarray(x, dtype=np.float64)) if isinstance(x, (np.ndarray, float, int, np.floating)) else x for x in inputs]
        ufunc = self._ADDITIVE.get(ufunc, ufunc)
        with np.errstate(all="ignore"):
            result = getattr(ufunc, method)(*plain, **kwargs)
        return np.asarray(result).view(_Magnitude) if isinstance(result, np.ndarray) or np.ndim(result) == 0 else result


@dataclass(frozen=True)
class MagnitudeContext(Float64Context):
    """Float64 arithmetic on magnitudes (see :class:`_Magnitude`). Hyperparameter scalars stay plain
    floats, so coefficients such as ``1 − β`` are computed as written; data arrays carry magnitudes."""

    name: str = "magnitude"

    def array(self, values: Any) -> np.ndarray:
        return np.abs(np.array(values, dtype=np.float64)).view(_Magnitude)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, dtype=np.float64).view(_Magnitude)

    def to_float64(self, values: Any) -> np.ndarray:
        return np.abs(np.asarray(values, dtype=np.float64))

    def sum(self, x: Any, axis: int | None = None) -> Any:
        return super().sum(np.abs(np.asarray(x, dtype=np.float64)), axis)

    def mean(self, x: Any, axis: int | None = None) -> Any:
        return super().mean(np.abs(np.asarray(x, dtype=np.float64)), axis)


FLOAT64 = Float64Context()
MAGNITUDE = MagnitudeContext()


def exact(prec: int = 256) -> ExactContext:
    """An oracle context with ``prec`` bits. Arithmetic runs under ``mpmath.workprec(prec)``."""
    return ExactContext(prec=prec)


NumericContext = Float64Context | ExactContext | MagnitudeContext

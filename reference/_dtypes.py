"""Storage dtypes: rounding float64 values to what a tensor of that dtype can hold, and each dtype's ε.

An implementation stores its params and state in some dtype after every step; the reference models
that by rounding its float64 results once per step (half dtypes through float32 first, as a float32
master copy written back with ``copy_`` does).
"""

from __future__ import annotations

import numpy as np

DTYPES = ("float64", "float32", "float16", "bfloat16")

EPS = {
    "float64": float(np.finfo(np.float64).eps),
    "float32": float(np.finfo(np.float32).eps),
    "float16": float(np.finfo(np.float16).eps),
    "bfloat16": 2.0**-7,
}


def _float32_to_bfloat16(values: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (round to nearest, ties to even), returned as float32."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = np.isnan(values)
    rounding = np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))
    rounded = ((bits + rounding) >> np.uint64(16)) << np.uint64(16)
    out = (rounded & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.float32)
    return np.where(nan, np.float32(np.nan), out).reshape(np.shape(values))  # 0-d stays 0-d


def round_to(dtype: str, values: np.ndarray) -> np.ndarray:
    """``values`` (float64) rounded to ``dtype`` and widened back to float64."""
    values = np.asarray(values, dtype=np.float64)
    if dtype == "float64":
        return values.copy()
    with np.errstate(over="ignore"):
        as32 = values.astype(np.float32)
        if dtype == "float32":
            return as32.astype(np.float64)
        if dtype == "float16":
            return as32.astype(np.float16).astype(np.float64)
        if dtype == "bfloat16":
            return _float32_to_bfloat16(as32).astype(np.float64)
    raise ValueError(f"dtype={dtype!r} is not one of {', '.join(DTYPES)}")


def float32_for_half(param_dtype: str) -> str:
    """The dtype optimizer state is kept in: float32 for float16/bfloat16 params (whose step is
    computed in float32 and rounded once), the param's own dtype otherwise.

    >>> float32_for_half("bfloat16"), float32_for_half("float64")
    ('float32', 'float64')
    """
    return "float32" if param_dtype in ("float16", "bfloat16") else param_dtype


def representable(dtype: str, values: np.ndarray) -> bool:
    """True when every value survives rounding to ``dtype`` unchanged (NaN counts as representable)."""
    values = np.asarray(values, dtype=np.float64)
    rounded = round_to(dtype, values)
    same = (rounded == values) | (np.isnan(rounded) & np.isnan(values))
    return bool(np.all(same))

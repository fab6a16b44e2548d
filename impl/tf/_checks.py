"""Construction-time argument checks shared by the optimspec.tf classes.

Every check raises ``ValueError`` whose message names the argument, its value and the allowed
range, so a bad configuration fails where it is written instead of as a NaN many steps later
(DESIGN.md, "Compatibility policy").
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence


def _out_of_range(owner: str, name: str, value: object, allowed: str) -> ValueError:
    return ValueError(f"{owner}: `{name}`={value!r} is out of range: must be {allowed}")


def real(
    owner: str,
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number in the interval, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _out_of_range(owner, name, value, "a finite real number")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):
        if high == math.inf:
            allowed = f"{'>' if low_open else '>='} {low:g}"
        else:
            allowed = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise _out_of_range(owner, name, value, allowed)
    return float(value)


def integer(owner: str, name: str, value: object, *, low: int) -> int:
    """``value`` as an int if it is an integer (or an integral float) >= ``low``, else ``ValueError``."""
    integral = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()
    )
    if isinstance(value, bool) or not integral or value < low:
        raise _out_of_range(owner, name, value, f"an integer >= {low}")
    return int(value)


def patterns(owner: str, name: str, value: object) -> tuple[str, ...]:
    """A list of valid regex strings (``None`` counts as empty) as a tuple, else ``ValueError``."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(p, str) for p in value):
        raise _out_of_range(owner, name, value, "a list of regex strings or None")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as error:
            raise _out_of_range(owner, name, value, f"valid regular expressions ({pattern!r}: {error})") from None
    return tuple(value)

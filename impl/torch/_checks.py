"""Construction-time argument checks shared by the optimspec.torch classes and factories.

Each check raises ``ValueError`` whose message names the owner, the argument, its value and the
allowed range, so a bad configuration fails where it is written instead of as a NaN, a
``ZeroDivisionError`` or a ``TypeError`` many steps later (DESIGN.md, "Compatibility policy").
The messages read like ``get_cosine_schedule_with_warmup: `num_cycles`=-1 is out of range: must
be >= 0``.
"""

from __future__ import annotations

import math
import numbers


def out_of_range(owner: str, name: str, value: object, allowed: str) -> ValueError:
    """The one error every failed check raises."""
    return ValueError(f"{owner}: `{name}`={value!r} is out of range: must be {allowed}")


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if high == math.inf and not high_open:
        # (0, inf]: "inf" itself is allowed (e.g. clip_threshold=inf turns clipping off).
        return f"{'>' if low_open else '>='} {low:g} (inf allowed)"
    if high == math.inf:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if low == -math.inf:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def real(
    owner: str,
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = True,
) -> None:
    """Require a real number (not a bool, not NaN) in the interval.

    The default ``high=inf, high_open=True`` means "finite"; pass ``high_open=False`` to admit
    ``+inf`` as a value.
    """
    allowed = _interval(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise out_of_range(owner, name, value, "a real number " + allowed)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):
        raise out_of_range(owner, name, value, allowed)


def integer(owner: str, name: str, value: object, *, low: int = 0) -> None:
    """Require an integer (an integral float such as ``100.0`` also passes) that is ``>= low``.

    The value itself is left as the caller gave it, so the schedules' float arithmetic is the
    same as transformers' for the same input.
    """
    integral = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()
    )
    if isinstance(value, bool) or not integral or value < low:
        raise out_of_range(owner, name, value, f"an integer >= {low}")


def pair(owner: str, name: str, value: object) -> None:
    """Require a 2-sequence (``betas``, the Adafactor ``eps`` pair)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise out_of_range(owner, name, value, "a pair of two numbers")


def boolean(owner: str, name: str, value: object) -> None:
    """Require ``True`` or ``False`` (a flag given as ``1`` or ``"yes"`` is a mistake, not a flag)."""
    if not isinstance(value, bool):
        raise out_of_range(owner, name, value, "True or False")

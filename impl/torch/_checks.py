"""Construction-time argument checks shared by the optimspec.torch classes and factories.

Each check raises ``ValueError`` whose message names the owner, the argument, its value and the
allowed range, so a bad configuration fails where it is written instead of as a NaN, a
``ZeroDivisionError`` or a ``TypeError`` many steps later (DESIGN.md, "Compatibility policy").
The domains and the message are the reference's own (``optimspec.reference._spec``), so the
implementation and the spec reject the same inputs in the same words, e.g.
``get_cosine_schedule_with_warmup: `num_cycles`=-1 is out of range: must be a finite number >= 0``.
"""

from __future__ import annotations

import math

from optimspec.reference._spec import Boolean, Integer, Real, out_of_range, require

__all__ = ["boolean", "integer", "out_of_range", "pair", "real"]


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
    ``+inf`` as a value (``clip_threshold=inf`` turns clipping off).
    """
    allow_inf = high == math.inf and not high_open
    require(owner, name, value, Real(low, high, low_open, high_open and not allow_inf, allow_inf=allow_inf))


def integer(owner: str, name: str, value: object, *, low: int = 0) -> None:
    """Require an integer (an integral float such as ``100.0`` also passes) that is ``>= low``.

    The value itself is left as the caller gave it, so the schedules' float arithmetic is the
    same as transformers' for the same input.
    """
    require(owner, name, value, Integer(low, integral_floats=True))


def pair(owner: str, name: str, value: object) -> None:
    """Require a 2-sequence (``betas``, the Adafactor ``eps`` pair); items are checked separately."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise out_of_range(owner, name, value, "a pair of two numbers")


def boolean(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    """Require ``True`` or ``False`` (a flag given as ``1`` or ``"yes"`` is a mistake, not a flag);
    ``optional`` also admits ``None`` (a flag left for the implementation to choose)."""
    if not (optional and value is None):
        require(owner, name, value, Boolean())

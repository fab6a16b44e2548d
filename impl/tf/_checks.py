"""Construction-time argument checks shared by the optimspec.tf classes.

Every check raises ``ValueError`` whose message names the argument, its value and the allowed
range, so a bad configuration fails where it is written instead of as a NaN many steps later
(the compatibility policy of ``docs/design.md``). The domains and the message are the reference's own
(``optimspec.reference._spec``), so the implementation and the spec reject alike.
"""

from __future__ import annotations

import math
import re

from optimspec.reference._spec import Boolean, Integer, Names, Real, out_of_range, require


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
    return float(require(owner, name, value, Real(low, high, low_open, high_open)))


def boolean(owner: str, name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False`` (``"no"`` or ``0`` is a mistake, not a flag), else ``ValueError``."""
    return bool(require(owner, name, value, Boolean()))


def integer(owner: str, name: str, value: object, *, low: int) -> int:
    """``value`` as an int if it is an integer (or an integral float) >= ``low``, else ``ValueError``."""
    return int(require(owner, name, value, Integer(low, integral_floats=True)))


def patterns(owner: str, name: str, value: object) -> tuple[str, ...]:
    """A list of valid regex strings (``None`` counts as empty) as a tuple, else ``ValueError``."""
    require(owner, name, value, Names())
    for pattern in value or ():
        try:
            re.compile(pattern)
        except re.error as error:
            raise out_of_range(owner, name, value, f"valid regular expressions ({pattern!r}: {error})") from None
    return tuple(value or ())

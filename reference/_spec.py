"""Declarations every reference module makes as data: hyperparameters with domains and defaults,
state fields, step indexing, and the named conventions (variants) peers follow instead.

The harness, the golden generator and the docs read these records; nothing here computes a formula.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["optimizer", "schedule", "accumulator"]

# --------------------------------------------------------------------------------------------------
# Domains: what values a hyperparameter may take, and how to say so in an error message.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Real:
    """A finite real number in an interval; ``optional`` also admits ``None``; ``allow_inf`` also
    admits +inf (a value that switches something off, such as clipping)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    allow_inf: bool = False

    def contains(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        try:
            value = float(value)  # an int too large for a float is out of every real domain
        except OverflowError:
            return False
        if not math.isfinite(value):
            return self.allow_inf and value == math.inf
        low_ok = value > self.low if self.low_open else value >= self.low
        high_ok = value < self.high if self.high_open else value <= self.high
        return low_ok and high_ok

    def describe(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            text = "a finite real number"
        elif self.high == math.inf:
            text = f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        elif self.low == -math.inf:
            text = f"a finite number {'<' if self.high_open else '<='} {self.high:g}"
        else:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            text = f"in {left}{self.low:g}, {self.high:g}{right}"
        return text + (" or inf" if self.allow_inf else "") + (" or None" if self.optional else "")


@dataclass(frozen=True)
class Integer:
    """An int in ``[low, high]``; ``optional`` also admits ``None``; ``integral_floats`` also admits
    floats such as ``100.0`` (transformers' factories accept them)."""

    low: int = 0
    high: float = math.inf
    optional: bool = False
    integral_floats: bool = False

    def contains(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        integral = isinstance(value, numbers.Integral) or (
            self.integral_floats and math.isfinite(value) and float(value).is_integer()
        )
        return integral and self.low <= value <= self.high

    def describe(self) -> str:
        text = f"an integer >= {self.low}" if self.high == math.inf else f"an integer in [{self.low}, {int(self.high)}]"
        return text + (" or None" if self.optional else "")


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def contains(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Boolean:
    def contains(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class PairOf:
    """A 2-sequence whose items lie in their own domains (betas, the Adafactor eps pair)."""

    first: Real
    second: Real

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, (tuple, list))
            and len(value) == 2
            and self.first.contains(value[0])
            and self.second.contains(value[1])
        )

    def describe(self) -> str:
        return f"a pair (first {self.first.describe()}, second {self.second.describe()})"


@dataclass(frozen=True)
class Names:
    """A list of name patterns, or None."""

    def contains(self, value: Any) -> bool:
        return value is None or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))

    def describe(self) -> str:
        return "a list of strings or None"


@dataclass(frozen=True)
class RealList:
    """A non-empty list of finite reals in a domain (per-group learning rates), or None."""

    item: Real

    def contains(self, value: Any) -> bool:
        return value is None or (
            isinstance(value, (list, tuple)) and len(value) > 0 and all(self.item.contains(v) for v in value)
        )

    def describe(self) -> str:
        return f"None or a non-empty list, each item {self.item.describe()}"


Domain = Real | Integer | OneOf | Boolean | PairOf | Names | RealList


@dataclass(frozen=True)
class HParam:
    """One hyperparameter: its name, default (``REQUIRED`` when there is none), domain and meaning."""

    name: str
    default: Any
    domain: Domain
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


def out_of_range(owner: str, name: str, value: Any, allowed: str) -> ValueError:
    """The error every rejected argument raises, in the reference and in the implementations."""
    return ValueError(f"{owner}: `{name}`={value!r} is out of range: must be {allowed}")


def require(owner: str, name: str, value: Any, domain: Domain) -> Any:
    """``value`` unchanged when ``domain`` admits it; otherwise :func:`out_of_range`."""
    if not domain.contains(value):
        raise out_of_range(owner, name, value, domain.describe())
    return value


# --------------------------------------------------------------------------------------------------
# Conventions: the named axes on which peers differ. The spec's own value comes first.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Convention:
    """A named axis of behaviour. ``values[0]`` is what the spec (transformers) does."""

    axis: str
    values: tuple[str, ...]
    doc: str
    followed_by: Mapping[str, str] = field(default_factory=dict)  # peer -> value, for the docs

    @property
    def spec_value(self) -> str:
        return self.values[0]

    @property
    def alternatives(self) -> tuple[str, ...]:
        return self.values[1:]


@dataclass(frozen=True)
class AlgorithmSpec:
    """Everything about one algorithm that is data rather than formula."""

    name: str
    kind: Kind
    summary: str
    hparams: tuple[HParam, ...]
    conventions: tuple[Convention, ...] = ()
    state_fields: tuple[str, ...] = ()
    step_indexing: str = ""
    source: str = ""
    # The upstream releases and pull requests that shaped this algorithm, oldest first.
    history: tuple[str, ...] = ()
    # Where optimspec deliberately departs from transformers (a rejected argument, a fixed crash),
    # and the surprising upstream behaviour it keeps on purpose.
    decisions: tuple[str, ...] = ()
    # Cross-argument checks: each returns an error message, or None when the values are fine.
    checks: tuple[Callable[[Mapping[str, Any]], str | None], ...] = ()

    def hparam(self, name: str) -> HParam:
        for hp in self.hparams:
            if hp.name == name:
                return hp
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {hp.name: hp.default for hp in self.hparams if not hp.required}

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``, validated. Raises ValueError naming the argument."""
        names = {hp.name for hp in self.hparams}
        unknown = sorted(set(given) - names)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown hyperparameter(s) {', '.join(unknown)}; "
                f"expected some of: {', '.join(sorted(names))}"
            )
        values = self.defaults()
        values.update(given)
        for hp in self.hparams:
            if hp.name not in values:
                raise ValueError(f"{self.name}: `{hp.name}` is required ({hp.domain.describe()})")
            require(self.name, hp.name, values[hp.name], hp.domain)
        for check in self.checks:
            message = check(values)
            if message is not None:
                raise ValueError(f"{self.name}: {message}")
        return values

    def variant(self, chosen: Mapping[str, str] | None = None) -> dict[str, str]:
        """The spec's convention values, with ``chosen`` axes replaced (validated)."""
        values = {c.axis: c.spec_value for c in self.conventions}
        for axis, value in (chosen or {}).items():
            convention = next((c for c in self.conventions if c.axis == axis), None)
            if convention is None:
                raise ValueError(
                    f"{self.name}: unknown convention axis {axis!r}; known: {', '.join(values) or 'none'}"
                )
            if value not in convention.values:
                raise ValueError(
                    f"{self.name}: convention {axis}={value!r} is not one of {', '.join(convention.values)}"
                )
            values[axis] = value
        return values


def check(condition: Callable[[Mapping[str, Any]], bool], message: str) -> Callable[[Mapping[str, Any]], str | None]:
    """A cross-argument check: ``message`` (formatted with the values) when ``condition`` fails."""

    def run(values: Mapping[str, Any]) -> str | None:
        return None if condition(values) else message.format(**values)

    return run

"""Pieces shared by the metric-driven schedules ``reduce_lr_on_plateau`` and ``greedy``: the
"is this metric better than the best so far?" test, bounds given either as one number or as one
number per param group, and the reduce-with-a-floor step they both take.

Both upstream classes compute in Python floats (float64), and their decisions (better or not, change
the lr or not) depend on that exact float order, so these helpers keep it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._numeric import NumericContext, Scalar
from .._spec import OneOf, Real

MODES = OneOf(("min", "max"))
THRESHOLD_MODES = OneOf(("rel", "abs"))


@dataclass(frozen=True)
class RealOrPerGroup:
    """A finite real in ``item`` (the same for every group), or a non-empty list of them, one per
    param group (torch's ``min_lr: float | list[float]``)."""

    item: Real

    def contains(self, value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return len(value) > 0 and all(self.item.contains(v) for v in value)
        return value is not None and self.item.contains(value)

    def describe(self) -> str:
        return f"{self.item.describe()}, or a list of those with one item per param group"


def base_lrs(hp: Mapping[str, Any]) -> list[Any]:
    """Each param group's lr before the first step (``group_lrs``, default one group at ``lr``)."""
    return list(hp["group_lrs"] or [hp["lr"]])


def per_group(value: Any, groups: int) -> list[Any]:
    """A bound given as one number or as a list, expanded to one item per group."""
    return list(value) if isinstance(value, (list, tuple)) else [value] * groups


def matches_group_count(name: str) -> Callable[[Mapping[str, Any]], str | None]:
    """A cross-argument check: a list-valued ``name`` has one item per param group (upstream raises
    ``ValueError("expected N min_lrs, got M")`` at construction)."""

    def run(values: Mapping[str, Any]) -> str | None:
        value, groups = values[name], len(base_lrs(values))
        if isinstance(value, (list, tuple)) and len(value) != groups:
            return f"`{name}` lists {len(value)} values but there are {groups} param groups (`group_lrs`)"
        return None

    return run


def worst(mode: str, nx: NumericContext) -> Scalar:
    """The initial ``best``: +inf when minimizing, −inf when maximizing."""
    return nx.scalar(math.inf if mode == "min" else -math.inf)


def is_better(current: Scalar, best: Scalar, hp: Mapping[str, Any], nx: NumericContext) -> bool:
    """``current`` improves on ``best`` by more than the threshold (a NaN metric never does).

    rel: ``best·(1 − thr)`` (min) or ``best·(1 + thr)`` (max), the bracket rounded first;
    abs: ``best − thr`` or ``best + thr``.
    """
    threshold, one = nx.scalar(hp["threshold"]), nx.scalar(1.0)
    relative = hp["threshold_mode"] == "rel"
    if hp["mode"] == "min":
        return bool(current < (best * (one - threshold) if relative else best - threshold))
    return bool(current > (best * (one + threshold) if relative else best + threshold))


def reduced(old: Scalar, factor: Scalar, floor: Scalar, eps: Scalar) -> Scalar:
    """``max(old·factor, floor)``, kept only if it lowers the lr by more than ``eps``."""
    new = max(old * factor, floor)  # Python's max, as upstream: the product wins ties
    return new if old - new > eps else old

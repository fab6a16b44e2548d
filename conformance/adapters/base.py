"""The adapter interface: how the harness drives an implementation. NumPy in, NumPy out.

An adapter converts golden inputs to its framework's tensors, runs the implementation, and converts
results back to float64 NumPy arrays. State crosses the boundary in the reference's field names
(``exp_avg``, ``exp_avg_sq``, ``step``, ...); ``AlgorithmSupport.state_names`` documents the mapping.

* ``make_optimizer`` returns an :class:`OptimizerStepper` (stateful: it holds params and state);
* ``make_schedule`` returns a :class:`ScheduleRunner`;
* ``make_accumulator`` returns an :class:`AccumulatorRunner`.

Any of them raises :class:`Unsupported` for a setting the implementation cannot express; the case is
then ``unsupported``, not failed.

Third-party adapters plug in through the ``optimspec.adapters`` entry-point group or
``--adapter package.module:Factory`` (a zero-argument callable returning an adapter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

Tensors = dict[str, np.ndarray]
StateDict = dict[str, dict[str, Any]]  # tensor name -> {reference field: array | number}


class Unsupported(Exception):
    """The implementation cannot represent this algorithm, setting or dtype (not a failure)."""


@dataclass(frozen=True)
class AlgorithmSupport:
    """What an adapter does for one algorithm.

    ``variant``: the convention values the implementation embodies (axes it leaves out follow the
    spec). Cases built to separate an axis on which it declares another value are
    ``not_applicable`` to the spec verdict; they still run, and the measured behaviour is reported.
    """

    variant: Mapping[str, str] = field(default_factory=dict)
    dtypes: Sequence[str] | None = None  # None: the adapter-wide dtypes
    state_names: Mapping[str, str] = field(default_factory=dict)  # reference field -> native name
    # Reference state fields the implementation does not keep (for some tensors or settings, or at
    # all): where export_state() leaves one out, the case reports it as not compared (`unchecked`)
    # instead of failing. Every other field the reference keeps must be exported.
    unexported_state: Sequence[str] = ()
    notes: str = ""


@dataclass(frozen=True)
class Capabilities:
    algorithms: Mapping[str, AlgorithmSupport]
    dtypes: Sequence[str] = ("float64", "float32")
    can_load_state: bool = False  # teacher-forced checks need it
    can_export_state: bool = False  # state comparison needs it
    validates_hparams: bool = False  # runs the `invalid/` cases
    schedule_dtype: str = "float64"  # the dtype its schedules compute in


@runtime_checkable
class OptimizerStepper(Protocol):
    def init(self, params: Tensors) -> None:
        """Start from these params (already rounded to the case dtype) and fresh state. Every array
        an adapter is given is its own copy: it may keep it and update it in place."""

    def step(self, grads: Mapping[str, np.ndarray | None]) -> Tensors:
        """One optimizer step; returns every param after it."""

    def load_state(self, params: Tensors, state: StateDict) -> None:
        """Replace params and state (teacher forcing). Optional: raise Unsupported."""

    def export_state(self) -> StateDict:
        """The current state in reference field names: every field the reference keeps for each
        tensor (counters as integers), none it does not, except those declared in
        ``AlgorithmSupport.unexported_state``. A tensor not yet updated may have no entry (state
        created lazily). Optional: raise Unsupported."""


@runtime_checkable
class ScheduleRunner(Protocol):
    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        """Learning rates: one row per input (a step, in increasing order, or a metric / a grads
        dict for stateful schedules), one column per param group."""


@runtime_checkable
class AccumulatorRunner(Protocol):
    def call(self, grads: Sequence[np.ndarray | None]) -> None: ...

    def reset(self) -> None: ...

    def read(self) -> tuple[int, list[np.ndarray | None] | None]:
        """(step, per-slot sums or None before the first call)."""


@runtime_checkable
class Adapter(Protocol):
    name: str

    def info(self) -> dict[str, Any]:
        """name, framework and versions, device: recorded in every report."""

    def capabilities(self) -> Capabilities: ...

    def make_optimizer(
        self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str
    ) -> OptimizerStepper: ...

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> ScheduleRunner: ...

    def make_accumulator(self, algorithm: str, dtype: str) -> AccumulatorRunner: ...


def group_of(name: str, param_groups: Sequence[Mapping[str, Any]] | None) -> int:
    """Index of the param group holding tensor ``name`` (0 when there are no groups)."""
    if not param_groups:
        return 0
    for index, group in enumerate(param_groups):
        if name in group["params"]:
            return index
    raise ValueError(f"tensor {name!r} is in no param group")


def group_hparams(hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Each group's hyperparameters: the case's, overlaid with the group's own."""
    if not param_groups:
        return [dict(hparams)]
    return [{**hparams, **g.get("hparams", {})} for g in param_groups]

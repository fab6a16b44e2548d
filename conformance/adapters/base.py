"""The adapter interface: how the harness drives an implementation. NumPy in, NumPy out.

The full contract, with a walkthrough, is docs/adapters.md; in short:

* An adapter has a ``name``, ``info()`` (name, framework, versions, device: recorded in every
  report), ``capabilities()`` (:class:`Capabilities`), and makes, afresh for every case, an
  :class:`OptimizerStepper` (``make_optimizer``), a :class:`ScheduleRunner` (``make_schedule``) or
  an :class:`AccumulatorRunner` (``make_accumulator``). It may name its own known-divergence TOML
  in a ``divergence_file`` attribute (a path or an ``importlib.resources`` file).
* ``hparams`` holds only what the case gives, in the spec's names (pairs as tuples, special floats
  decoded); an absent one means the spec's default (:func:`with_defaults` fills them in).
* ``param_groups`` is None (one group) or ``[{"params": [tensor names], "hparams": {overrides}},
  ...]`` in the implementation's group order; :func:`group_hparams`, :func:`group_of`.
* Tensors cross as float64 arrays holding values exact in the case dtype; state crosses in the
  reference's field names (``step`` an int; a field the tensor does not use is None or an empty
  ``(0,)`` array, :func:`unused`); a tensor at ``step`` 0 has fresh state.
* Everything an adapter is given is its own copy (it may mutate it); what it returns belongs to the
  harness (it must not mutate it later).
* :class:`Unsupported` (from ``make_*`` preferably, or any stepper method): the implementation
  cannot express this algorithm, dtype or setting; the case is ``unsupported``, neither passed nor
  failed. Never for a numerical difference. Any other exception is the case's ``error``;
  ``ValueError`` at construction is how out-of-domain hyperparameters are rejected.

Third-party adapters plug in through the ``optimspec.adapters`` entry-point group or
``--adapter package.module:Factory`` (a zero-argument callable returning an adapter);
``optimspec new-adapter`` writes one to start from, and ``torch_helpers`` makes a torch one short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

Tensors = dict[str, np.ndarray]
StateDict = dict[str, dict[str, Any]]  # tensor name -> {reference field: array | number}


class Unsupported(Exception):
    """The implementation cannot represent this algorithm, setting or dtype: the case is
    ``unsupported`` (not a failure, not a pass). Not for numbers that differ: those must fail."""


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
    """What the harness may run. ``algorithms``: the rest is ``unsupported``; ``dtypes``: the case
    dtypes of optimizer cases (per algorithm: ``AlgorithmSupport.dtypes``); ``can_load_state``
    turns on teacher-forced checks (the main verdict; without it only free-running checks run, with
    a warning); ``can_export_state`` turns on state comparison; ``validates_hparams`` runs the
    ``invalid/`` cases (each ``make_*`` must raise ValueError; otherwise they are
    ``not_applicable``); ``schedule_dtype``: the dtype schedules compute in, whose ε sets their
    budgets."""

    algorithms: Mapping[str, AlgorithmSupport]
    dtypes: Sequence[str] = ("float64", "float32")
    can_load_state: bool = False
    can_export_state: bool = False
    validates_hparams: bool = False
    schedule_dtype: str = "float64"


@runtime_checkable
class OptimizerStepper(Protocol):
    def init(self, params: Tensors) -> None:
        """Start from these params (already rounded to the case dtype) and fresh state. Every array
        an adapter is given is its own copy: it may keep it and update it in place."""

    def step(self, grads: Mapping[str, np.ndarray | None]) -> Tensors:
        """One optimizer step (a None gradient: leave that tensor and its step alone); returns
        every param after it, float64-convertible, in the golden shapes."""

    def load_state(self, params: Tensors, state: StateDict) -> None:
        """Replace params and state (teacher forcing): ``state[name]`` holds the reference's
        fields; a tensor at step 0 has fresh state. Needs ``can_load_state``."""

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

    def capabilities(self) -> Capabilities:
        """What it implements and which checks it supports (called once per run)."""

    def make_optimizer(
        self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str
    ) -> OptimizerStepper:
        """A fresh stepper for one case: ``hparams`` only as the case gives them, ``param_groups``
        None or ``[{"params": [names], "hparams": {overrides}}]``, ``dtype`` the case's."""

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> ScheduleRunner:
        """A fresh schedule for one case (rows: the lr after t scheduler steps, per param group)."""

    def make_accumulator(self, algorithm: str, dtype: str) -> AccumulatorRunner:
        """A fresh gradient accumulator for one case."""


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


def with_defaults(algorithm: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The reference's defaults overlaid with ``hparams`` (not validated: validating is the peer's
    job). Every peer adapter uses it, so an omitted hyperparameter means the spec's default, not the
    peer's (torch AdamW's eps 1e-8 and weight_decay 1e-2 differ from transformers' 1e-6 and 0)."""
    from optimspec.reference import registry

    try:
        defaults = registry.spec(algorithm).defaults()
    except ValueError:  # a reference module not written yet
        defaults = {}
    return {**defaults, **hparams}


def refuse_master_weights(hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None) -> None:
    """Raise :class:`Unsupported` when a case sets ``master_weights=True`` in any param group: a
    float32 master copy of each half param, an option optimspec adds beyond transformers that
    peers do not have (every peer adapter calls it; :class:`~.torch_helpers.TorchStepper` does)."""
    if any(hp.get("master_weights") for hp in group_hparams(hparams, param_groups)):
        raise Unsupported("master_weights=True (a float32 master copy of each half param, optimspec's option): no such option")


def unused(value: Any) -> bool:
    """A reference state field the tensor does not use: None, or the empty (0,) array the reference
    stores for it (Adafactor's row/column statistics of a vector, ``exp_avg`` without beta1)."""
    return value is None or (not isinstance(value, (int, float)) and np.shape(value) == (0,))

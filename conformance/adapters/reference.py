"""The ``reference`` adapter: the NumPy reference driven through the adapter interface (the
harness's self-test; it must pass every case)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optimspec.reference import registry
from optimspec.reference import run as ref
from optimspec.reference._dtypes import DTYPES

from .base import AlgorithmSupport, Capabilities, StateDict, Tensors


class _Stepper:
    def __init__(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> None:
        self.algorithm, self.hparams, self.groups, self.dtype = algorithm, dict(hparams), param_groups, dtype
        self.params: Tensors = {}
        self.state: dict[str, Any] = {}

    def init(self, params: Tensors) -> None:
        self.params = {n: np.array(p, dtype=np.float64) for n, p in params.items()}
        self.state = ref.init_state(self.algorithm, self.params, self.hparams, self.groups, self.dtype)

    def step(self, grads: Mapping[str, np.ndarray | None]) -> Tensors:
        self.params, self.state = ref.optimizer_step(
            self.algorithm, self.params, grads, self.state, self.hparams, groups=self.groups, dtype=self.dtype
        )
        return dict(self.params)

    def load_state(self, params: Tensors, state: StateDict) -> None:
        record = registry.module(self.algorithm).State
        self.params = {n: np.array(p, dtype=np.float64) for n, p in params.items()}
        self.state = {n: record(**fields) for n, fields in state.items()}

    def export_state(self) -> StateDict:
        return {n: dict(zip(type(s)._fields, s)) for n, s in self.state.items()}


class _Schedule:
    def __init__(self, algorithm: str, hparams: Mapping[str, Any]) -> None:
        self.algorithm, self.hparams = algorithm, dict(hparams)

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        return ref.schedule_values(self.algorithm, inputs, self.hparams)


class _Accumulator:
    """Replays the event history through the reference on every read (cases are short)."""

    def __init__(self, algorithm: str, dtype: str) -> None:
        self.module, self.dtype = registry.module(algorithm), dtype
        self.events: list[dict[str, Any]] = []

    def call(self, grads: Sequence[np.ndarray | None]) -> None:
        outcome = self.module.replay([*self.events, {"call": list(grads)}], self.dtype)[-1]
        if outcome["error"]:
            raise ValueError(f"Expected {len(self._slots())} gradients, but got {len(grads)}")
        self.events.append({"call": list(grads)})

    def _slots(self) -> list[Any]:
        outcomes = self.module.replay(self.events, self.dtype) if self.events else []
        return outcomes[-1]["gradients"] if outcomes and outcomes[-1]["gradients"] is not None else []

    def reset(self) -> None:
        self.events.append({"reset": True})

    def read(self) -> tuple[int, list[np.ndarray | None] | None]:
        if not self.events:
            return 0, None
        last = self.module.replay(self.events, self.dtype)[-1]
        return last["step"], last["gradients"]


class ReferenceAdapter:
    name = "reference"

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "framework": "numpy", "versions": {"numpy": np.__version__, "optimspec": _version()}, "device": "cpu"}

    def capabilities(self) -> Capabilities:
        return Capabilities(
            algorithms={name: AlgorithmSupport() for name in registry.names()},
            dtypes=DTYPES,
            can_load_state=True,
            can_export_state=True,
            validates_hparams=True,
        )

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> _Stepper:
        ref.group_hparams(algorithm, hparams, param_groups, [n for g in (param_groups or []) for n in g["params"]])
        registry.spec(algorithm).resolve(hparams)
        return _Stepper(algorithm, hparams, param_groups, dtype)

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> _Schedule:
        registry.spec(algorithm).resolve(hparams)
        return _Schedule(algorithm, hparams)

    def make_accumulator(self, algorithm: str, dtype: str) -> _Accumulator:
        return _Accumulator(algorithm, dtype)


def _version() -> str:
    from importlib.metadata import version

    return version("optimspec")

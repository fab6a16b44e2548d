"""Golden cases decoded: a :class:`Case` (one case with its group and file), its hyperparameters as
the reference takes them, its tensors, state, checkpoints and schedule inputs as NumPy values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import golden


@dataclass(frozen=True)
class Case:
    """One golden case with its group and file context, tensors decoded."""

    file: golden.GoldenFile
    group: Mapping[str, Any]
    raw: Mapping[str, Any]
    invalid: bool = False

    @property
    def id(self) -> str:
        return self.raw["id"]

    @property
    def algorithm(self) -> str:
        return self.file.algorithm

    @property
    def kind(self) -> str:
        """The file's kind, or the group's where it says (create_optimizer's optimizer cases)."""
        return self.group.get("kind", self.file.kind)

    @property
    def dtype(self) -> str:
        return "any" if self.invalid else self.group["dtype"]

    def hparams(self) -> dict[str, Any]:
        return decode_hparams(self.raw["hparams"])

    def param_groups(self) -> list[dict[str, Any]] | None:
        groups = self.raw.get("param_groups")
        if not groups:
            return None
        return [{"params": list(g["params"]), "hparams": decode_hparams(g["hparams"])} for g in groups]


def _decode_value(value: Any) -> Any:
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return golden.decode_number(value)
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    return value


def decode_hparams(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as the reference takes them (pairs back to tuples, special floats decoded).

    >>> decode_hparams({"betas": [0.9, 0.999], "lr": "inf"})
    {'betas': (0.9, 0.999), 'lr': inf}
    """
    out = {}
    for name, value in hparams.items():
        value = _decode_value(value)
        if name in ("betas", "eps") and isinstance(value, list):
            value = tuple(value)
        out[name] = value
    return out


def decode_tensors(obj: Mapping[str, Any]) -> dict[str, np.ndarray | None]:
    return {n: (None if t is None else golden.decode_tensor(t)) for n, t in obj.items()}


def decode_state(obj: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, fields in obj.items():
        out[name] = {}
        for key, value in fields.items():
            if golden.is_tensor(value):
                out[name][key] = golden.decode_tensor(value)
            elif isinstance(value, int) or value is None:
                out[name][key] = value
            else:
                out[name][key] = golden.decode_number(value)
    return out


def checkpoints(case: Case) -> dict[int, dict[str, Any]]:
    """An optimizer case's checkpoints by step: ``{"step", "params", "state"}`` (state in the
    reference's field names)."""
    return {
        c["step"]: {"step": c["step"], "params": decode_tensors(c["params"]), "state": decode_state(c["state"])}
        for c in case.raw["checkpoints"]
    }


def grads(case: Case) -> list[dict[str, np.ndarray | None]]:
    """An optimizer case's gradients, one dict per step (None: no gradient for that tensor)."""
    return [decode_tensors(g) for g in case.raw["grads"]]


def schedule_inputs(case: Case) -> list[Any]:
    """A schedule case's inputs: its steps, or the metrics / gradient dicts of a stateful schedule."""
    if "steps" in case.raw:
        return list(case.raw["steps"])
    return decode_inputs(case.raw["inputs"])


def decode_inputs(obj: Any) -> Any:
    if golden.is_tensor(obj):
        return golden.decode_tensor(obj)
    if isinstance(obj, Mapping):
        return {k: decode_inputs(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_inputs(v) for v in obj]
    if isinstance(obj, str):
        return golden.decode_number(obj)
    return obj


def iter_cases(files: Sequence[golden.GoldenFile]) -> Iterator[Case]:
    for file in files:
        for group, raw in file.cases():
            yield Case(file, group, raw)
        for raw in file.data["invalid"]:
            yield Case(file, {}, raw, invalid=True)

"""A generic adapter for any ``torch.optim.Optimizer`` class, with no adapter code to write.

``optimspec check --torch-optimizer mypkg.MyAdamW [--map SPEC=NATIVE ...] [--algorithm adamw]``
checks ``mypkg.MyAdamW`` against the spec's ``adamw`` (or another optimizer of the catalogue).
From Python: ``TorchOptimizerAdapter("mypkg.MyAdamW", {"eps": "epsilon"})``, which an entry point
can return too.

Hyperparameters: every one the spec defines is filled with the case's value or the spec's
default and passed under its own name when the constructor takes that keyword, or under the name
``--map`` gives (``--map eps=epsilon``; a pair may be split over two keywords:
``--map betas=beta1,beta2``). A hyperparameter the constructor does not take is left out when it
has the spec's default value, and makes the case ``unsupported`` otherwise.

State: found by stepping the class once on two probe tensors (a matrix and a vector) at the
spec's defaults. A reference state field is read from the per-param state key of the same name,
or the one ``--map`` gives (``--map exp_avg=m``); the step counter may be a float or int32 0-d
tensor or a Python int, per param or per param group (``group["step"]``). When the state the
reference keeps for the probe tensors is all found, the adapter loads and exports state
(teacher-forced checks and state comparison); otherwise it runs free-running checks of the params
only, and ``capabilities().algorithms[...].notes`` says which fields were missing. State tensors
must have the reference's shapes; anything else needs a written adapter (``optimspec new-adapter
torch NAME``).

Example::

    >>> adapter = TorchOptimizerAdapter("torch.optim.AdamW")
    >>> adapter.name, adapter.capabilities().can_load_state
    ('torch.optim.AdamW', True)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import AdapterError
from .base import AlgorithmSupport, Capabilities, Unsupported, unused
from .torch_helpers import TORCH_DTYPES, StateField, StateMap, TorchStepper, torch_versions, with_defaults

PROBE_SHAPES = {"probe_matrix": (2, 3), "probe_vector": (3,)}


def resolve_class(target: str) -> Any:
    """``package.module.Class`` (or ``package.module:Class``) → the class; AdapterError otherwise."""
    module_name, _, attribute = target.replace(":", ".").rpartition(".")
    if not module_name:
        raise AdapterError(f"--torch-optimizer {target!r} must look like package.module.Class")
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except ImportError as exc:
        raise AdapterError(f"--torch-optimizer {target!r}: cannot import {module_name}: {exc}") from None
    except AttributeError:
        raise AdapterError(f"--torch-optimizer {target!r}: {module_name} has no attribute {attribute!r}") from None
    import torch

    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise AdapterError(f"--torch-optimizer {target!r} is not a torch.optim.Optimizer subclass")
    return cls


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """``["eps=epsilon", "betas=beta1,beta2"]`` → ``{"eps": "epsilon", "betas": "beta1,beta2"}``."""
    mapping = {}
    for item in items:
        spec, sep, native = item.partition("=")
        if not sep or not spec.strip() or not native.strip():
            raise AdapterError(f"--map {item!r} must look like SPEC=NATIVE (a spec hyperparameter or state field = the class's name for it)")
        mapping[spec.strip()] = native.strip()
    return mapping


class TorchOptimizerAdapter:
    """Any ``torch.optim.Optimizer`` class as the spec's ``algorithm`` (see the module docstring)."""

    def __init__(self, target: str | type, mapping: Mapping[str, str] | None = None, algorithm: str = "adamw", variant: Mapping[str, str] | None = None) -> None:
        from optimspec.reference import registry

        self.cls = resolve_class(target) if isinstance(target, str) else target
        self.name = target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
        if algorithm not in registry.names() or registry.spec(algorithm).kind != "optimizer":
            optimizers = [n for n in registry.names() if registry.spec(n).kind == "optimizer"]
            raise AdapterError(f"--algorithm {algorithm!r} is not an optimizer of the spec; one of {', '.join(optimizers)}")
        self.algorithm, self.variant = algorithm, dict(variant or {})
        self.spec = registry.spec(algorithm)
        self.mapping = dict(mapping or {})
        known = {h.name for h in self.spec.hparams} | set(self.spec.state_fields)
        unknown = sorted(set(self.mapping) - known)
        if unknown:
            raise AdapterError(f"--map names {unknown} are neither hyperparameters nor state fields of {algorithm}: {', '.join(sorted(known))}")
        self.parameters = inspect.signature(self.cls.__init__).parameters
        self.state_map, self.missing = self._probe_state()

    # -- hyperparameters ---------------------------------------------------------------------------

    def _native_names(self, name: str) -> list[str] | None:
        if name in self.mapping:
            return [n.strip() for n in self.mapping[name].split(",")]
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self.parameters.values())
        return [name] if name in self.parameters or takes_any else None

    def translate(self, hp: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor's keyword arguments for the spec hyperparameters ``hp`` (defaults filled)."""
        defaults = self.spec.defaults()
        kwargs: dict[str, Any] = {}
        for name, value in hp.items():
            natives = self._native_names(name)
            if natives is None:
                if value != defaults.get(name):
                    raise Unsupported(f"{self.cls.__name__} takes no argument for {name}={value!r} (map one with --map {name}=NATIVE)")
                continue
            if len(natives) == 1:
                kwargs[natives[0]] = tuple(value) if isinstance(value, list) else value
            elif isinstance(value, (tuple, list)) and len(value) == len(natives):
                kwargs.update(zip(natives, value))
            else:
                raise Unsupported(f"{name}={value!r} cannot be split over {', '.join(natives)}")
        return kwargs

    # -- state -------------------------------------------------------------------------------------

    def _probe_state(self) -> tuple[StateMap, list[str]]:
        """Step the class once on the probe tensors and map the state it keeps; the reference state
        fields it lacks."""
        import torch

        from optimspec.reference import run as ref

        params = {n: np.linspace(-1.0, 1.0, int(np.prod(s))).reshape(s) for n, s in PROBE_SHAPES.items()}
        tensors = {n: torch.tensor(p, requires_grad=True) for n, p in params.items()}
        try:
            optimizer = self.cls(list(tensors.values()), **self.translate(with_defaults(self.algorithm, {})))
            for n, t in tensors.items():
                t.grad = torch.full_like(t, 0.5)
            optimizer.step()
        except Exception as exc:  # a class that cannot run at the spec's defaults
            raise AdapterError(f"{self.name} failed a probe step at the spec's default hyperparameters: {type(exc).__name__}: {exc}") from None
        needed = {f for state in ref.init_state(self.algorithm, params, self.spec.defaults(), None, "float64").values() for f, v in zip(type(state)._fields, state) if not unused(v)} | {"step"}
        native_state = {k: v for t in tensors.values() for k, v in optimizer.state[t].items()}
        group = optimizer.param_groups[0]
        fields, group_step, group_step_kind, found = [], None, "step_int", set()
        for field in self.spec.state_fields:
            native = self.mapping.get(field, field)
            if field == "step":
                where = native_state if native in native_state else group if native in group else None
                if where is None:
                    continue
                kind = _step_kind(where[native])
                if where is group:
                    group_step, group_step_kind = native, kind
                else:
                    fields.append(StateField(field, native, kind))
            elif native in native_state:
                fields.append(StateField(field, native, "tensor" if isinstance(native_state[native], torch.Tensor) else "float"))
            else:
                continue
            found.add(field)
        return StateMap(tuple(fields), group_step, group_step_kind), sorted(needed - found)

    # -- the adapter interface ---------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        module = self.cls.__module__.partition(".")[0]
        versions = torch_versions()
        try:
            versions[module] = importlib.import_module(module).__version__
        except AttributeError:
            pass
        return {"name": self.name, "framework": f"torch ({self.cls.__module__}.{self.cls.__qualname__})", "versions": versions, "device": "cpu"}

    def capabilities(self) -> Capabilities:
        stateful = not self.missing
        notes = f"{self.name} as {self.algorithm}" + ("" if stateful else f"; state fields not found: {', '.join(self.missing)} (map them with --map FIELD=NATIVE)")
        support = AlgorithmSupport(variant=self.variant, state_names=self.state_map.names(), notes=notes)
        return Capabilities(algorithms={self.algorithm: support}, dtypes=TORCH_DTYPES, can_load_state=stateful, can_export_state=stateful)

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> TorchStepper:
        if algorithm != self.algorithm:
            raise Unsupported(f"{self.name} is checked as {self.algorithm}, not {algorithm}")
        return TorchStepper(algorithm, self.cls, self.translate, self.state_map, hparams, param_groups, dtype)

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        raise Unsupported(f"{self.name} is an optimizer")

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported(f"{self.name} is an optimizer")


def _step_kind(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return "step_int32" if value.dtype == torch.int32 else "step_tensor"
    return "step_int"

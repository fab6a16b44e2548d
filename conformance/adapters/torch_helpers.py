"""Public helpers that make a torch adapter a page long (every torch-based adapter here uses them:
torch.optim, transformers, timm, pytorch_optimizer, optimi, optimspec.torch, the generic
``--torch-optimizer`` adapter and the ``optimspec new-adapter torch`` template).

* :class:`TorchStepper`: drives any ``torch.optim.Optimizer`` through the adapter interface. Each
  param group's hyperparameters are translated up front (so :class:`Unsupported` is raised by
  ``make_optimizer``, before anything runs); tensors live as float64 NumPy outside and as torch
  tensors of the case dtype inside; state crosses in the reference's field names through a
  :class:`StateMap`.
* :class:`StateMap` / :class:`StateField`: how one algorithm's reference state fields map onto a
  peer's ``optimizer.state`` entries (names, shapes, the step counter's type, the state dtype).
* :class:`LambdaScheduleRunner` / :class:`MetricScheduleRunner`: drive a torch ``LRScheduler`` (or
  anything with ``step()`` and the optimizer's group lrs) to the requested steps / over metrics;
  :func:`dummy_optimizer` is the optimizer they schedule.
* conversions: :func:`to_torch`, :func:`to_numpy`, :func:`torch_dtype`, :func:`scalar_step`;
  :func:`torch_versions` for ``info()``; :func:`with_defaults` and :func:`unused` (from
  :mod:`.base`, re-exported so a torch adapter imports from one place).

torch is imported lazily, inside functions: importing this module costs nothing.

Example (a complete AdamW adapter is ``optimspec new-adapter torch NAME``)::

    >>> from optimspec.conformance.adapters.torch_helpers import StateField, StateMap
    >>> StateMap((StateField("step", "step", "step_tensor"), StateField("exp_avg", "m"))).names()
    {'step': 'step', 'exp_avg': 'm'}
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import StateDict, Tensors, Unsupported, group_hparams, refuse_master_weights, unused, with_defaults

__all__ = [
    "ADAFACTOR_STATE", "TORCH_DTYPES", "LambdaScheduleRunner", "MetricScheduleRunner", "StateField", "StateMap", "TorchStepper",
    "STEP_KINDS", "dummy_optimizer", "native_step", "scalar_step", "to_numpy", "to_torch", "torch_dtype", "torch_versions", "unused", "with_defaults",
]

TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16")


def torch_dtype(name: str) -> Any:
    import torch

    try:
        return {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise Unsupported(f"dtype {name} has no torch equivalent") from None


def to_torch(values: Any, dtype: str) -> Any:
    """A float64 NumPy array (already representable in ``dtype``) as a torch tensor of ``dtype``."""
    import torch

    array = np.asarray(values, dtype=np.float64)
    if dtype in ("float16", "bfloat16"):
        # Through float32: exact for values the golden file already rounded to the half dtype.
        return torch.from_numpy(array.astype(np.float32).copy()).to(torch_dtype(dtype))
    return torch.from_numpy(array.astype(np.float64 if dtype == "float64" else np.float32).copy())


def to_numpy(tensor: Any) -> np.ndarray:
    """Any torch tensor (or Python number) as a float64 NumPy array."""
    import torch

    if isinstance(tensor, torch.Tensor):
        return tensor.detach().to("cpu", torch.float64).numpy().copy()
    return np.asarray(tensor, dtype=np.float64)


def scalar_step(value: Any) -> int:
    """A step counter (int, float or 0-d tensor) as an int."""
    return int(round(float(np.asarray(to_numpy(value)))))


# --------------------------------------------------------------------------------------------------
# state mapping
# --------------------------------------------------------------------------------------------------


STEP_KINDS = ("step_tensor", "step_int", "step_int32")


def native_step(kind: str, value: int) -> Any:
    """A step counter as a peer stores it: ``kind`` is one of :data:`STEP_KINDS`."""
    import torch

    if kind == "step_tensor":
        from torch.optim.optimizer import _get_scalar_dtype

        return torch.tensor(float(value), dtype=_get_scalar_dtype())
    if kind == "step_int32":
        return torch.tensor(int(value), dtype=torch.int32)
    if kind == "step_int":
        return int(value)
    raise ValueError(f"kind={kind!r} is not a step kind ({', '.join(STEP_KINDS)})")


@dataclass(frozen=True)
class StateField:
    """One reference state field and where it lives in the peer's per-param state.

    ``native``: the peer's key. ``kind``: "step_tensor" (a float 0-d tensor, torch.optim style),
    "step_int" (a Python int, transformers style), "step_int32" (an int32 0-d tensor, optimi
    style), "tensor" (same shape as the reference field
    unless ``to_native`` / ``from_native`` reshape it), "float" (a Python float). ``state_dtype``:
    "param" (the param dtype) or "float32_for_half" (float32 when the param is half: transformers
    Adafactor up-casts).
    """

    reference: str
    native: str
    kind: str = "tensor"
    to_native: Callable[[np.ndarray, tuple[int, ...]], np.ndarray] | None = None  # (ref value, param shape)
    from_native: Callable[[np.ndarray, tuple[int, ...]], np.ndarray] | None = None
    state_dtype: str = "param"


@dataclass(frozen=True)
class StateMap:
    fields: Sequence[StateField] = field(default_factory=tuple)
    group_step: str | None = None  # the param-group key holding the step, for peers that count per group
    group_step_kind: str = "step_int"  # its type, one of the step kinds of StateField

    def names(self) -> dict[str, str]:
        return {f.reference: f.native for f in self.fields}

    def load(self, param: Any, fields: Mapping[str, Any], dtype: str) -> dict[str, Any]:
        """The peer's state dict for one param from reference fields (None fields are skipped)."""
        native: dict[str, Any] = {}
        shape = tuple(param.shape)
        for f in self.fields:
            value = fields.get(f.reference)
            if unused(value):
                continue
            if f.kind in STEP_KINDS:
                native[f.native] = native_step(f.kind, value)
            elif f.kind == "float":
                native[f.native] = float(value)
            else:
                array = np.asarray(value, dtype=np.float64)
                if f.to_native is not None:
                    array = f.to_native(array, shape)
                state_dtype = "float32" if f.state_dtype == "float32_for_half" and dtype in ("float16", "bfloat16") else dtype
                native[f.native] = to_torch(array, state_dtype).to(param.device)
        return native

    def export(self, param: Any, native: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        shape = tuple(param.shape)
        for f in self.fields:
            if f.native not in native:
                continue
            value = native[f.native]
            if f.kind in STEP_KINDS:
                out[f.reference] = scalar_step(value)
            elif f.kind == "float":
                out[f.reference] = float(to_numpy(value))
            else:
                array = to_numpy(value)
                if f.from_native is not None:
                    array = f.from_native(array, shape)
                out[f.reference] = array
        return out


# --------------------------------------------------------------------------------------------------
# the generic stepper
# --------------------------------------------------------------------------------------------------

# transformers' Adafactor state layout, which optimspec.torch and timm's Adafactor keep too:
# state follows the (float32-upcast) gradient for half params.
ADAFACTOR_STATE = StateMap(
    (
        StateField("step", "step", "step_int"),
        StateField("exp_avg", "exp_avg", state_dtype="float32_for_half"),
        StateField("exp_avg_sq_row", "exp_avg_sq_row", state_dtype="float32_for_half"),
        StateField("exp_avg_sq_col", "exp_avg_sq_col", state_dtype="float32_for_half"),
        StateField("exp_avg_sq", "exp_avg_sq", state_dtype="float32_for_half"),
        StateField("RMS", "RMS", "float"),
    )
)


class TorchStepper:
    """Wraps a ``torch.optim.Optimizer`` subclass ``cls`` over translated param groups.

    ``translate(group_hparams) -> constructor kwargs`` is applied to every group's hyperparameters
    (the reference's defaults filled in, unless ``spec_defaults=False``: then only what the case
    gives, so the implementation's own defaults are what runs) at construction; it raises
    :class:`Unsupported` for settings the peer cannot express. Each group's kwargs go through the peer's own constructor
    once (on a dummy tensor) and the group dict it produces is used: some constructors transform
    their arguments (timm's Adafactor turns ``lr=None`` into ``relative_step`` and ``betas`` into
    ``beta1``), and a group dict must hold the transformed keys. A case with ``master_weights=True``
    is :class:`Unsupported` unless the peer has that option (``master_weights=True`` here:
    ``translate`` then passes it on). Params and gradients live on ``device`` (a torch device name).
    """

    def __init__(
        self,
        algorithm: str,
        cls: Any,
        translate: Callable[[Mapping[str, Any]], dict[str, Any]],
        state_map: StateMap,
        hparams: Mapping[str, Any],
        param_groups: Sequence[Mapping[str, Any]] | None,
        dtype: str,
        extra: Mapping[str, Any] | None = None,
        *,
        spec_defaults: bool = True,
        master_weights: bool = False,
        device: str = "cpu",
    ) -> None:
        if not master_weights:
            refuse_master_weights(hparams, param_groups)
        self.cls, self.state_map, self.dtype, self.device = cls, state_map, dtype, device
        self.groups = param_groups
        self.extra = dict(extra or {})  # constructor-only kwargs (torch's foreach / fused flags)
        given = group_hparams(hparams, param_groups)
        self.native_groups = [translate(with_defaults(algorithm, hp) if spec_defaults else hp) for hp in given]
        torch_dtype(dtype)  # Unsupported for an unknown dtype
        self.group_dicts = [self._group_dict(kw) for kw in self.native_groups]
        self.tensors: dict[str, Any] = {}
        self.optimizer: Any = None

    def _group_dict(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # advice about the settings (optimi's "high weight decay"), not errors
            probe = self.cls([torch.zeros(1, dtype=torch.float64, requires_grad=True)], **kwargs, **self.extra)
        return {k: v for k, v in probe.param_groups[0].items() if k != "params"}

    # -- construction ------------------------------------------------------------------------------

    def _build(self, params: Tensors) -> None:
        self.tensors = {n: to_torch(p, self.dtype).to(self.device).requires_grad_(True) for n, p in params.items()}
        self.optimizer = self.new_optimizer()

    def new_optimizer(self) -> Any:
        """A fresh optimizer (no state) over the current tensors, with the case's param groups."""
        names = [list(g["params"]) for g in self.groups] if self.groups else [list(self.tensors)]
        groups = [{"params": [self.tensors[n] for n in group], **native} for group, native in zip(names, self.group_dicts)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.cls(groups, **self.native_groups[0], **self.extra)

    def init(self, params: Tensors) -> None:
        self._build(params)

    def load_state(self, params: Tensors, state: StateDict) -> None:
        self._build(params)
        for name, tensor in self.tensors.items():
            fields = state.get(name)
            if not fields:
                continue
            if fields.get("step", 1) == 0:
                continue  # a fresh state: let the optimizer initialize it lazily, as it would
            self.optimizer.state[tensor] = self.state_map.load(tensor, fields, self.dtype)
        if self.state_map.group_step:
            self._load_group_steps(state)

    def _load_group_steps(self, state: StateDict) -> None:
        """Peers that count steps per param group (pytorch_optimizer): every tensor of a group must
        be at the same step."""
        for group in self.optimizer.param_groups:
            names = [n for n, t in self.tensors.items() if any(t is p for p in group["params"])]
            steps = {int(state[n]["step"]) for n in names if state.get(n, {}).get("step") is not None}
            if len(steps) > 1:
                raise Unsupported(f"the peer keeps one step per param group; the state has per-tensor steps {sorted(steps)}")
            if steps:
                group[self.state_map.group_step] = native_step(self.state_map.group_step_kind, steps.pop())

    # -- running -----------------------------------------------------------------------------------

    def step(self, grads: Mapping[str, np.ndarray | None]) -> Tensors:
        import torch

        for name, tensor in self.tensors.items():
            grad = grads.get(name)
            tensor.grad = None if grad is None else to_torch(grad, self.dtype).to(self.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.optimizer.step()
        with torch.no_grad():
            return {n: to_numpy(t) for n, t in self.tensors.items()}

    def export_state(self) -> StateDict:
        out: StateDict = {}
        for name, tensor in self.tensors.items():
            native = self.optimizer.state.get(tensor)
            out[name] = self.state_map.export(tensor, native) if native else {}
            if self.state_map.group_step:
                group = next(g for g in self.optimizer.param_groups if any(tensor is p for p in g["params"]))
                if self.state_map.group_step in group:
                    out[name]["step"] = scalar_step(group[self.state_map.group_step])
        return out


# --------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------


def dummy_optimizer(lr: float, group_lrs: Sequence[float] | None) -> Any:
    """An SGD over one scalar per param group: ``defaults["lr"] = lr``, group i at ``group_lrs[i]``.

    HF schedules read ``optimizer.defaults["lr"]`` (polynomial, the min-lr cosines) and scale each
    group's own lr; this reproduces both.
    """
    import torch

    lrs = list(group_lrs) if group_lrs else [lr]
    groups = [{"params": [torch.zeros(1, dtype=torch.float64, requires_grad=True)], "lr": float(g)} for g in lrs]
    return torch.optim.SGD(groups, lr=float(lr))


class LambdaScheduleRunner:
    """Step a torch ``LRScheduler`` to each requested step and read every group's lr.

    ``build()`` returns ``(optimizer, scheduler)``; the scheduler starts at step 0 (``last_epoch = 0``
    after construction, as LambdaLR does). Steps must be non-decreasing; a smaller one rebuilds.

    A plain ``LambdaLR`` is closed-form (group lr = base_lr · λ(last_epoch), nothing carried from
    step to step), so gaps longer than ``max_walk`` are jumped: ``last_epoch = t − 1``, then one
    ``step()`` gives bit for bit the lr that walking would (golden steps reach 990 000). Any other
    scheduler is always walked one ``step()`` at a time.
    """

    def __init__(self, build: Callable[[], tuple[Any, Any]], max_walk: int = 1000) -> None:
        self.build = build
        self.max_walk = max_walk

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        from torch.optim.lr_scheduler import LambdaLR

        rows = []
        optimizer, scheduler = self.build()
        current = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for step in inputs:
                step = int(step)
                if step < current:
                    optimizer, scheduler = self.build()
                    current = 0
                if step - current > self.max_walk and type(scheduler) is LambdaLR:
                    scheduler.last_epoch = step - 1
                    current = step - 1
                while current < step:
                    optimizer.step()
                    scheduler.step()
                    current += 1
                rows.append([float(g["lr"]) for g in optimizer.param_groups])
        return np.array(rows, dtype=np.float64)


class MetricScheduleRunner:
    """Feed metrics to a plateau-style scheduler (``scheduler.step(metric)``) and read the group
    lrs after each call."""

    def __init__(self, build: Callable[[], tuple[Any, Any]]) -> None:
        self.build = build

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        optimizer, scheduler = self.build()
        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for metric in inputs:
                scheduler.step(float(metric))
                rows.append([float(g["lr"]) for g in optimizer.param_groups])
        return np.array(rows, dtype=np.float64)


def torch_versions() -> dict[str, str]:
    import torch

    return {"torch": torch.__version__, "numpy": np.__version__}

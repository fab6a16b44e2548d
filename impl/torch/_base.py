"""Torch plumbing shared by :class:`~optimspec.torch.AdamW` and :class:`~optimspec.torch.Adafactor`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import torch
from torch.optim import Optimizer

from ._distributed import MASTER_PARAM, guard_checkpoint_state_init

HALF_DTYPES = (torch.float16, torch.bfloat16)
KERNEL_DTYPES = (torch.float32, torch.float64)
PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the math runs in: float32 for half params, the param's own dtype otherwise."""
    return torch.float32 if dtype in HALF_DTYPES else dtype


def keeps_master(p: torch.Tensor, group: Mapping[str, Any]) -> bool:
    """Whether ``p`` keeps a persistent float32 copy in its state: a float16/bfloat16 param of a
    group with ``master_weights=True`` (float32 and float64 params are their own full-precision
    copy)."""
    return group["master_weights"] and p.dtype in HALF_DTYPES


def ensure_master(state: dict[str, Any], p: torch.Tensor, group: Mapping[str, Any]) -> None:
    """Before a step: give ``p`` its master copy (the param's value, in float32) where
    :func:`keeps_master` and its state holds none yet (its first step, a checkpoint saved without
    copies, or ``master_weights`` turned on between steps), and drop a copy the group no longer
    keeps, so the state always holds what ``load_state_dict`` expects."""
    if not keeps_master(p, group):
        state.pop(MASTER_PARAM, None)
    elif MASTER_PARAM not in state:
        state[MASTER_PARAM] = p.detach().float()


def work_tensor(p: torch.Tensor, master: torch.Tensor | None) -> torch.Tensor:
    """The tensor a step updates: a half param's master copy (``master_weights=True``) or a float32
    copy made for this step; any other param itself."""
    if master is not None:
        return master
    return p.float() if p.dtype in HALF_DTYPES else p


def float32_work(
    params: list[torch.Tensor], grads: list[torch.Tensor], masters: list[torch.Tensor | None]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The tensors a step computes on: each param's :func:`work_tensor` (``masters``: its master
    copy or None), half gradients as float32 copies, other gradients as they are."""
    work = [work_tensor(p, master) for p, master in zip(params, masters)]
    return work, [g.float() if g.dtype in HALF_DTYPES else g for g in grads]


def kernel_takes(param: torch.Tensor, *others: torch.Tensor) -> bool:
    """Whether the fused CPU kernels can update ``param`` with ``others`` (its gradient and state)
    through their data pointers: plain (not a subclass such as a DTensor) contiguous CPU tensors of
    one float32/float64 dtype. Called per tensor per step, so it reads as few attributes as it can."""
    dtype = param.dtype
    if dtype not in KERNEL_DTYPES:
        return False
    for tensor in (param, *others):
        if tensor.dtype is not dtype or type(tensor) not in PLAIN_TENSORS or not tensor.is_cpu or not tensor.is_contiguous():
            return False
    return True


def write_back(params: list[torch.Tensor], work: list[torch.Tensor]) -> None:
    """Round the float32 working copies of half params (master copies or copies made for the step)
    back into the params (once per step)."""
    for p, w in zip(params, work):
        if w is not p:
            p.copy_(w)


@dataclass(frozen=True)
class Slot:
    """What one per-param state entry must be once the param has been stepped: a ``tensor`` of
    ``shape`` and ``dtype``, a step ``counter`` (an int >= 0), a ``scalar`` (a finite number
    >= 0, or a 0-d real tensor), or a ``statistic`` (as a scalar, but NaN or +inf too). An
    ``optional`` entry may be missing (the step creates it)."""

    kind: str
    shape: tuple[int, ...] = ()
    dtype: torch.dtype | None = None
    optional: bool = False

    @classmethod
    def tensor(cls, shape: torch.Size | tuple[int, ...], dtype: torch.dtype) -> Slot:
        return cls("tensor", tuple(shape), dtype)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit this slot, or None."""
        if self.kind == "counter":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            return None if ok else f"must be an integer >= 0 (a step count), got {value!r}"
        if self.kind in ("scalar", "statistic"):
            number = value.item() if torch.is_tensor(value) and value.dim() == 0 and not value.is_complex() else value
            ok = isinstance(number, (int, float)) and not isinstance(number, bool)
            if self.kind == "scalar":
                ok = ok and math.isfinite(number) and number >= 0
                return None if ok else f"must be a finite number >= 0, got {value!r}"
            # a statistic of the params (Adafactor's RMS) is NaN or inf once they are
            ok = ok and not number < 0
            return None if ok else f"must be a number >= 0 (or NaN), got {value!r}"
        if not torch.is_tensor(value):
            return f"must be a tensor of shape {list(self.shape)} and dtype {self.dtype}, got {type(value).__name__}"
        if tuple(value.shape) != self.shape or value.dtype != self.dtype:
            return f"must be a tensor of shape {list(self.shape)} and dtype {self.dtype}, got shape {list(value.shape)} and dtype {value.dtype}"
        return None


COUNTER = Slot("counter")
SCALAR = Slot("scalar")
STATISTIC = Slot("statistic")


def master_slots(p: torch.Tensor, group: Mapping[str, Any]) -> dict[str, Slot]:
    """The master copy's slot (float32, the param's shape; optional: :func:`ensure_master` makes a
    missing one from the param) where :func:`keeps_master`, else none."""
    return {MASTER_PARAM: Slot("tensor", tuple(p.shape), torch.float32, optional=True)} if keeps_master(p, group) else {}


class SpecOptimizer(Optimizer):
    """An ``Optimizer`` that validates every param group at construction, keeps fp32 state for half
    params (with ``master_weights=True`` also a float32 copy of each, ``state["master_param"]``),
    and validates what ``load_state_dict`` loads.

    Subclasses implement :meth:`_check_group`, which raises ``ValueError`` naming the argument, and
    :meth:`_state_slots`, which declares the state a stepped param holds. ``_LEGACY_GROUP_KEYS``:
    optimspec's own group keys, which a checkpoint written by transformers (or an earlier optimspec)
    lacks; a loaded group keeps this optimizer's value for them. The zero-gradient step that
    ``torch.distributed.checkpoint`` takes to create state changes nothing else
    (:func:`~._distributed.guard_checkpoint_state_init`).
    """

    _LEGACY_GROUP_KEYS = frozenset({"impl", "master_weights"})
    _TORCH_GROUP_KEYS = frozenset({"differentiable"})  # added to ``defaults`` by torch's __setstate__

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        guard_checkpoint_state_init(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        guard_checkpoint_state_init(self)

    def _check_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _state_slots(self, p: torch.Tensor, group: Mapping[str, Any]) -> dict[str, Slot]:
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # Validate the group as it will be (defaults filled in) before torch stores it.
        self._check_group({**self.defaults, **param_group})
        super().add_param_group(param_group)
        for index, p in enumerate(self.param_groups[-1]["params"]):
            if p.is_complex():
                self.param_groups.pop()
                raise ValueError(f"{type(self).__name__}: {self._param_name(len(self.param_groups), index)} is complex ({p.dtype}); only real floating-point params are supported")

    @staticmethod
    def _param_name(group_index: int, index: int) -> str:
        return f"param {index} of param group {group_index}"

    def _params_with_grad(self, group: dict[str, Any]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(param, grad)`` for each param of the group that has a gradient; sparse ones raise
        RuntimeError, complex ones ValueError naming the param."""
        for index, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients "
                    "(use dense gradients, e.g. nn.Embedding(sparse=False), or torch.optim.SparseAdam)."
                )
            if p.grad.is_complex():
                group_index = next(i for i, g in enumerate(self.param_groups) if g is group)
                raise ValueError(f"{type(self).__name__}: the gradient of {self._param_name(group_index, index)} is complex ({p.grad.dtype}); only real gradients are supported")
            yield p, p.grad

    def _run_closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load as torch does, after validating everything (``ValueError`` naming the key, and
        nothing loaded): each saved group's hyperparameters pass the constructor's checks (its lr,
        which a schedule may have rewritten, must be a finite number >= 0), and each
        param's state holds exactly the declared entries (:meth:`_state_slots`: shapes, dtypes,
        integer steps, a master copy only where the group has ``master_weights=True``; one the state
        lacks, as in a checkpoint of transformers', starts from the param at the next step). Also
        keeps the float32 state of half-precision params in float32 (torch casts every floating
        state tensor to its param's dtype on load, which would round the fp32 moments and master
        copy of a bf16/fp16 param and break a bit-identical resume)."""
        self._check_state_dict(state_dict)
        saved_groups = [
            {**{key: current[key] for key in self._LEGACY_GROUP_KEYS if key in current}, **saved}
            for current, saved in zip(self.param_groups, state_dict["param_groups"])
        ]
        super().load_state_dict({**state_dict, "param_groups": saved_groups})
        saved_ids = chain.from_iterable(group["params"] for group in state_dict["param_groups"])
        params = chain.from_iterable(group["params"] for group in self.param_groups)
        for param_id, p in zip(saved_ids, params):
            if p.dtype not in HALF_DTYPES or param_id not in state_dict["state"]:
                continue
            for key, value in state_dict["state"][param_id].items():
                if torch.is_tensor(value):
                    self.state[p][key] = value.to(device=p.device)

    def _check_state_dict(self, state_dict: Any) -> None:
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(map(str, state_dict)) if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise ValueError(f"{owner}: expected a dict with the keys 'state' and 'param_groups', got {keys}")
        saved_groups, state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, list) or len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{owner}: 'param_groups' must be a list of {len(self.param_groups)} groups like the optimizer's")
        if not isinstance(state, Mapping):
            raise ValueError(f"{owner}: 'state' must be a dict from param id to that param's state")
        holders: dict[Any, tuple[torch.Tensor, dict[str, Any]]] = {}
        for index, (saved, current) in enumerate(zip(saved_groups, self.param_groups)):
            where = f"{owner}: param_groups[{index}]"
            if not isinstance(saved, Mapping) or not isinstance(saved.get("params"), list) or len(saved["params"]) != len(current["params"]):
                raise ValueError(f"{where}: must hold 'params', a list of {len(current['params'])} param ids like the optimizer's group")
            missing = sorted(set(self.defaults) - set(saved) - self._LEGACY_GROUP_KEYS - self._TORCH_GROUP_KEYS)
            if missing:
                raise ValueError(f"{where}: missing key {missing[0]!r}")
            group = {**self.defaults, **{k: v for k, v in saved.items() if k != "params"}}
            # A schedule may have written any lr >= 0 (even a 0-d tensor, AdafactorSchedule's) over
            # the constructed one: the saved lr is checked alone, the rest with the constructed lr.
            if saved.get("lr") is not None and SCALAR.problem(saved["lr"]):
                raise ValueError(f"{where}: 'lr' {SCALAR.problem(saved['lr'])}")
            group["lr"] = self.defaults["lr"]
            try:
                self._check_group(group)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            holders.update({pid: (p, group) for pid, p in zip(saved["params"], current["params"])})
        for pid, entries in state.items():
            if pid not in holders:
                raise ValueError(f"{owner}: state[{pid!r}] belongs to no param of 'param_groups'")
            if not isinstance(entries, Mapping):
                raise ValueError(f"{owner}: state[{pid!r}] must be a dict of state entries")
            if entries:
                self._check_param_state(f"{owner}: state[{pid!r}]", entries, self._state_slots(*holders[pid]))

    @staticmethod
    def _check_param_state(where: str, entries: Mapping[str, Any], slots: Mapping[str, Slot]) -> None:
        missing = sorted(key for key, slot in slots.items() if key not in entries and not slot.optional)
        if missing:
            raise ValueError(f"{where}: missing key {missing[0]!r}")
        extra = sorted(map(str, set(entries) - set(slots)))
        if extra:
            raise ValueError(f"{where}: unexpected key {extra[0]!r} (expected {', '.join(slots)})")
        for key, slot in slots.items():
            problem = slot.problem(entries[key]) if key in entries else None
            if problem:
                raise ValueError(f"{where}[{key!r}] {problem}")

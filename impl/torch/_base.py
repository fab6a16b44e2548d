"""Torch plumbing shared by :class:`~optimspec.torch.AdamW` and :class:`~optimspec.torch.Adafactor`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import torch
from torch.optim import Optimizer

from ._distributed import guard_checkpoint_state_init

HALF_DTYPES = (torch.float16, torch.bfloat16)
KERNEL_DTYPES = (torch.float32, torch.float64)
PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the math runs in: float32 for half params, the param's own dtype otherwise."""
    return torch.float32 if dtype in HALF_DTYPES else dtype


def float32_work(params: list[torch.Tensor], grads: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The tensors a step computes on: half params and gradients as float32 copies, others as they are."""
    work = [p.float() if p.dtype in HALF_DTYPES else p for p in params]
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
    """Round the float32 working copies of half params back into the params (once per step)."""
    for p, w in zip(params, work):
        if w is not p:
            p.copy_(w)


class SpecOptimizer(Optimizer):
    """An ``Optimizer`` that validates every param group at construction and keeps fp32 state for half params.

    Subclasses implement :meth:`_check_group`, which raises ``ValueError`` naming the argument.
    The zero-gradient step that ``torch.distributed.checkpoint`` takes to create state changes
    nothing else (:func:`~._distributed.guard_checkpoint_state_init`).
    """

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        guard_checkpoint_state_init(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        guard_checkpoint_state_init(self)

    def _check_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # Validate the group as it will be (defaults filled in) before torch stores it.
        self._check_group({**self.defaults, **param_group})
        super().add_param_group(param_group)

    def _params_with_grad(self, group: dict[str, Any]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(param, grad)`` for each param of the group that has a gradient; sparse ones raise."""
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients "
                    "(use dense gradients, e.g. nn.Embedding(sparse=False), or torch.optim.SparseAdam)."
                )
            yield p, p.grad

    def _run_closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load as torch does, but keep the float32 state of half-precision params in float32.

        torch casts every floating state tensor to its param's dtype on load, which would round
        the fp32 moments of a bf16/fp16 param and break a bit-identical resume. Settings a saved
        group lacks (a transformers state dict has no ``impl``) keep this optimizer's values.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) == len(self.param_groups):  # else torch's own check rejects it
            saved_groups = [{**current, **saved} for current, saved in zip(self.param_groups, saved_groups)]
        super().load_state_dict({**state_dict, "param_groups": saved_groups})
        saved_ids = chain.from_iterable(group["params"] for group in state_dict["param_groups"])
        params = chain.from_iterable(group["params"] for group in self.param_groups)
        for param_id, p in zip(saved_ids, params):
            if p.dtype not in HALF_DTYPES or param_id not in state_dict["state"]:
                continue
            for key, value in state_dict["state"][param_id].items():
                if torch.is_tensor(value):
                    self.state[p][key] = value.to(device=p.device)

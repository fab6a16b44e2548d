"""Torch plumbing shared by :class:`~optimspec.torch.AdamW` and :class:`~optimspec.torch.Adafactor`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import torch
from torch.optim import Optimizer

from ._distributed import guard_checkpoint_state_init

HALF_DTYPES = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the math runs in: float32 for half params, the param's own dtype otherwise."""
    return torch.float32 if dtype in HALF_DTYPES else dtype


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
        the fp32 moments of a bf16/fp16 param and break a bit-identical resume.
        """
        super().load_state_dict(state_dict)
        saved_ids = chain.from_iterable(group["params"] for group in state_dict["param_groups"])
        params = chain.from_iterable(group["params"] for group in self.param_groups)
        for param_id, p in zip(saved_ids, params):
            if p.dtype not in HALF_DTYPES or param_id not in state_dict["state"]:
                continue
            for key, value in state_dict["state"][param_id].items():
                if torch.is_tensor(value):
                    self.state[p][key] = value.to(device=p.device)

"""transformers' legacy ``AdamW`` (v4.16–v4.49; removed upstream in v4.50), as a supported class."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from . import _checks
from ._base import COUNTER, HALF_DTYPES, Slot, SpecOptimizer, compute_dtype


class AdamW(SpecOptimizer):
    r"""Adam with decoupled weight decay, exactly as transformers' legacy ``AdamW``.

    Per parameter, with its own 1-based step counter ``t``::

        m ← m·β1 + (1 − β1)·g
        v ← v·β2 + (1 − β2)·g·g
        d ← sqrt(v) + eps                                  (eps on the UNcorrected sqrt(v))
        s ← (lr·sqrt(1 − β2**t)) / (1 − β1**t)  if correct_bias else lr     (Python floats)
        p ← p + (−s)·(m / d)
        p ← p + (−lr·weight_decay)·p   if weight_decay > 0  (AFTER the update, with the plain lr)

    This differs from ``torch.optim.AdamW`` (decay before the update; eps after bias correction)
    and has other defaults (``eps=1e-6``, ``weight_decay=0.0``). ``correct_bias=False`` is the
    original BERT behaviour (``s = lr``).

    dtypes: float32 and float64 params compute in their own dtype (float64 agrees with the NumPy
    reference to rounding). For float16/bfloat16 params the moments are kept in float32 and the
    step is computed in float32 from the upcast param and gradient; the param is rounded to its
    dtype once per step. (transformers ran the whole update in the half dtype, where ``g·g``
    underflows.) There are no persistent fp32 master weights: an update smaller than half an ulp
    of the param is lost, as with Adafactor.

    Arguments are checked at construction (``ValueError`` naming the argument): ``lr >= 0``,
    ``0 <= betas[i] < 1``, ``eps >= 0``, ``weight_decay >= 0`` (transformers silently ignored a
    negative decay), ``correct_bias`` a bool. ``eps=0`` is allowed, and then a coordinate whose
    gradient has always been 0 gives 0/0 = NaN, as upstream. NaN/inf gradients propagate into the
    params. Sparse gradients raise ``RuntimeError``.

    Args:
        params: parameters or param-group dicts.
        lr: learning rate.
        betas: ``(β1, β2)``.
        eps: added to ``sqrt(v)`` before the division.
        weight_decay: decoupled decay rate, applied after the Adam step, scaled by ``lr``.
        correct_bias: fold the bias corrections into the step size.
        no_deprecation_warning: accepted for compatibility; this class is supported and never warns.
        foreach: use the multi-tensor ``torch._foreach_*`` path. ``None`` picks it when every param
            of a group is on CUDA. Both paths run the same operations in the same order.

    Example:
        >>> import torch
        >>> from optimspec.torch import AdamW
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -0.5], dtype=torch.float64))
        >>> opt = AdamW([w], lr=1e-3)
        >>> w.grad = torch.tensor([1e-5, 0.3], dtype=torch.float64)
        >>> opt.step()
        >>> [round(x, 8) for x in w.tolist()]
        [0.99975975, -0.50099989]
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        correct_bias: bool = True,
        no_deprecation_warning: bool = False,
        *,
        foreach: bool | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "correct_bias": correct_bias,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        owner = type(self).__name__
        _checks.real(owner, "lr", group["lr"], low=0.0)
        _checks.pair(owner, "betas", group["betas"])
        for i, beta in enumerate(group["betas"]):
            _checks.real(owner, f"betas[{i}]", beta, low=0.0, high=1.0)
        _checks.real(owner, "eps", group["eps"], low=0.0)
        _checks.real(owner, "weight_decay", group["weight_decay"], low=0.0)
        _checks.boolean(owner, "correct_bias", group["correct_bias"])
        _checks.boolean(owner, "foreach", group["foreach"], optional=True)

    _LEGACY_GROUP_KEYS = frozenset({"foreach"})  # transformers' AdamW saved no "foreach"

    def _state_slots(self, p: torch.Tensor, group: Mapping[str, Any]) -> dict[str, Slot]:
        moment = Slot.tensor(p.shape, compute_dtype(p.dtype))
        return {"step": COUNTER, "exp_avg": moment, "exp_avg_sq": moment}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # Groups saved by transformers' AdamW have no "foreach" key.
        for group in self.param_groups:
            group.setdefault("foreach", None)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one update of every param that has a gradient; returns the closure's loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        params, grads, exp_avgs, exp_avg_sqs, step_sizes = [], [], [], [], []
        lr, (beta1, beta2) = group["lr"], group["betas"]
        for p, grad in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                dtype = compute_dtype(p.dtype)
                state["exp_avg"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
            state["step"] += 1
            step_size = lr
            if group["correct_bias"]:
                step_size = lr * math.sqrt(1.0 - beta2 ** state["step"]) / (1.0 - beta1 ** state["step"])
            params.append(p)
            grads.append(grad.to(state["exp_avg"].dtype))
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            step_sizes.append(step_size)
        if not params:
            return
        # Half params are updated through an fp32 copy, rounded back once at the end.
        work = [p.float() if p.dtype in HALF_DTYPES else p for p in params]
        use_foreach = group["foreach"]
        if use_foreach is None:
            use_foreach = all(p.is_cuda for p in params)
        update = _foreach_update if use_foreach else _single_tensor_update
        # Decay is skipped unless weight_decay > 0, as upstream (not when lr * weight_decay is 0).
        decay = -lr * group["weight_decay"] if group["weight_decay"] > 0.0 else None
        update(work, grads, exp_avgs, exp_avg_sqs, step_sizes, beta1, beta2, group["eps"], decay)
        for p, w in zip(params, work):
            if w is not p:
                p.copy_(w)


def _single_tensor_update(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    step_sizes: list[float],
    beta1: float,
    beta2: float,
    eps: float,
    decay: float | None,
) -> None:
    for p, g, m, v, step_size in zip(params, grads, exp_avgs, exp_avg_sqs, step_sizes):
        m.mul_(beta1).add_(g, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        denom = v.sqrt().add_(eps)
        p.addcdiv_(m, denom, value=-step_size)
        if decay is not None:
            p.add_(p, alpha=decay)


def _foreach_update(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    step_sizes: list[float],
    beta1: float,
    beta2: float,
    eps: float,
    decay: float | None,
) -> None:
    torch._foreach_mul_(exp_avgs, beta1)
    torch._foreach_add_(exp_avgs, grads, alpha=1.0 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denoms, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denoms, [-s for s in step_sizes])
    if decay is not None:
        torch._foreach_add_(params, params, alpha=decay)

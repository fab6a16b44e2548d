"""transformers' ``Adafactor`` and its ``AdafactorSchedule`` lr read-back proxy."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from . import _checks, _kernels
from ._base import COUNTER, HALF_DTYPES, MASTER_PARAM, STATISTIC, Slot, SpecOptimizer, compute_dtype, ensure_master, kernel_takes, master_slots, work_tensor, write_back
from ._distributed import placed_like, zeros_reduced

#: The selectable implementation paths, the default first.
IMPLS = ("fused", "per_tensor")


def _rms(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.norm(2) / (tensor.numel() ** 0.5)


def _approx_sq_grad(exp_avg_sq_row: torch.Tensor, exp_avg_sq_col: torch.Tensor) -> torch.Tensor:
    """The factored estimate of 1/sqrt(v): rsqrt(R / mean(R)) ⊗ rsqrt(C).

    Only the row statistic is normalized (by its own mean); each factor gets its own rsqrt.
    """
    row_factor = (exp_avg_sq_row / exp_avg_sq_row.mean(dim=-1, keepdim=True)).rsqrt_().unsqueeze(-1)
    col_factor = exp_avg_sq_col.unsqueeze(-2).rsqrt()
    return torch.mul(row_factor, col_factor)


def _init_state(state: dict[str, Any], grad: torch.Tensor, beta1: float | None) -> None:
    """Zero state in the (upcast) gradient's dtype: the row/column statistics of the last two dims
    for tensors with ndim >= 2, a full second moment otherwise."""
    state["step"] = 0
    if beta1 is not None:
        state["exp_avg"] = torch.zeros_like(grad)
    if grad.dim() >= 2:
        state["exp_avg_sq_row"] = zeros_reduced(grad, -1)
        state["exp_avg_sq_col"] = zeros_reduced(grad, -2)
    else:
        state["exp_avg_sq"] = torch.zeros_like(grad)
    state["RMS"] = 0


class Adafactor(SpecOptimizer):
    r"""Adafactor as in transformers (same math from v4.16 through v5.24), with checked arguments.

    Per parameter ``P`` with gradient ``g``, at its 1-based step ``t``, in this order::

        RMS ← rms(P)                                   (before this update)
        ρ   ← min(1e-6·t if warmup_init else 1e-2, 1/sqrt(t))  if relative_step else lr
        α   ← max(eps[1], RMS)·ρ  if scale_parameter else ρ
        β̂2 ← 1 − t**decay_rate
        U   ← g·g + eps[0]
        factored (ndim ≥ 2, over the last two dims; leading dims are batch dims):
            R ← R·β̂2 + (1 − β̂2)·mean(U, −1);  C ← C·β̂2 + (1 − β̂2)·mean(U, −2)
            u ← rsqrt(R / mean(R, −1)) ⊗ rsqrt(C) · g
        otherwise:  V ← V·β̂2 + (1 − β̂2)·U;  u ← rsqrt(V)·g
        u ← u / max(1, rms(u) / clip_threshold)
        u ← α·u
        if beta1 is not None:  M ← M·β1 + (1 − β1)·u;  u ← M     (EMA of the scaled update)
        if weight_decay != 0:  P ← P + (−weight_decay·α)·P
        P ← P − u

    With the defaults (``relative_step``, ``scale_parameter``) the lr is internal; for an external
    schedule pass ``lr`` with ``relative_step=False, scale_parameter=False`` (the Trainer's
    setting), and use :class:`AdafactorSchedule` only to *read* the internal lr.

    Paths (``impl``, per param group):

    * ``"fused"`` (default): a C kernel compiled for this CPU on first use
      (:mod:`optimspec.torch._kernels`) runs the step in three passes over memory (statistics; the
      sum of u²; the update, which also sums P² when α does not need it first), one IEEE rounding
      per elementwise operation in the order above, means and norms summed in float64 (per fixed
      block, so the result does not depend on the number of threads). ``RMS`` is kept as a Python
      float. Tensors the kernel does not take (CUDA, non-contiguous, empty, subclasses such as
      DTensors; half params go through it one by one, as their master copies or float32 copies),
      and all tensors where no C compiler is available, take the per-tensor path.
    * ``"per_tensor"``: transformers' own loop of torch ops, bit-identical to transformers'
      Adafactor for float32 and float64 params (the fused path differs by rounding).

    dtypes: float32/float64 params compute in their own dtype (so float64 agrees with the NumPy
    reference to rounding).
    float16/bfloat16 params keep their state in float32, are updated through a float32 copy and
    rounded to their dtype once per step; that state stays float32 through
    ``state_dict``/``load_state_dict``, so a resumed run continues bit-identically. By default the
    float32 copy lives for one step only (no master weights, as upstream): an update smaller than
    half an ulp of the param is lost. ``master_weights=True`` keeps it: each half param gets a
    float32 copy in its state (``state["master_param"]``, 4 bytes per element, saved by
    ``state_dict``; made from the param at its first step, or at the first step after loading a
    checkpoint that has none), every step updates the copy (RMS and decay included) and rounds the
    param from it, so sub-ulp updates accumulate. float32 and float64 params keep no copy (they are
    their own); the flag changes nothing for them.

    Arguments are checked at construction (``ValueError`` naming the argument). Kept from
    transformers: a manual ``lr`` with ``relative_step=True``; ``warmup_init`` without
    ``relative_step``. Added: ``relative_step=False`` needs an ``lr`` (transformers fails at the
    first step), ``lr >= 0``, ``eps[i] >= 0``, ``clip_threshold > 0`` (``inf`` turns clipping off),
    ``decay_rate <= 0`` (a positive rate makes β̂2 negative), ``0 <= beta1 < 1``,
    ``weight_decay >= 0``, and the flags ``scale_parameter``, ``relative_step``, ``warmup_init``
    must be bools (transformers reads ``1`` as true), and so must ``master_weights``. NaN/inf gradients propagate. Sparse gradients
    raise ``RuntimeError``.

    Args:
        params: parameters or param-group dicts.
        lr: the external learning rate (``relative_step=False``), or None for the relative step.
        eps: ``(eps1, eps2)``: eps1 is added to ``g·g``, eps2 floors the parameter scale.
        clip_threshold: d, the update is divided by ``max(1, rms(u) / d)`` (``inf``: no clipping).
        decay_rate: the exponent of ``β̂2 = 1 − t**decay_rate`` (<= 0).
        beta1: the EMA factor of the scaled update, or None for no first moment.
        weight_decay: decay rate, scaled by α and applied to the pre-update param.
        scale_parameter: multiply ρ by ``max(eps2, rms(P))``.
        relative_step: ρ = ``min(1e-2, 1/sqrt(t))`` (or the warmup form) instead of ``lr``.
        warmup_init: ρ starts at ``1e-6·t`` (needs ``relative_step``).
        impl: the implementation path, ``"fused"`` or ``"per_tensor"``.
        master_weights: keep a float32 copy of each float16/bfloat16 param, step it and round the
            param from it (per group).

    Raises:
        ValueError: an out-of-domain argument or combination (above), naming it.
        RuntimeError: ``step()`` on a sparse gradient.

    Example:
        >>> import torch
        >>> from optimspec.torch import Adafactor
        >>> w = torch.nn.Parameter(torch.full((2, 3), 0.5, dtype=torch.float64))
        >>> opt = Adafactor([w])                # relative step: first α = 0.01 · max(1e-3, rms(w))
        >>> w.grad = torch.ones(2, 3, dtype=torch.float64)
        >>> opt.step()
        >>> w[0, 0].item()
        0.495
    """

    IMPLS = IMPLS

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float | None = None,
        eps: tuple[float, float] = (1e-30, 1e-3),
        clip_threshold: float = 1.0,
        decay_rate: float = -0.8,
        beta1: float | None = None,
        weight_decay: float = 0.0,
        scale_parameter: bool = True,
        relative_step: bool = True,
        warmup_init: bool = False,
        *,
        impl: str = "fused",
        master_weights: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "eps": eps,
            "clip_threshold": clip_threshold,
            "decay_rate": decay_rate,
            "beta1": beta1,
            "weight_decay": weight_decay,
            "scale_parameter": scale_parameter,
            "relative_step": relative_step,
            "warmup_init": warmup_init,
            "impl": impl,
            "master_weights": master_weights,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        owner = type(self).__name__
        for flag in ("scale_parameter", "relative_step", "warmup_init", "master_weights"):
            _checks.boolean(owner, flag, group[flag])
        if group["lr"] is not None and group["relative_step"]:
            raise ValueError(f"{owner}: Cannot combine manual `lr` and `relative_step=True` options")
        if group["warmup_init"] and not group["relative_step"]:
            raise ValueError(f"{owner}: `warmup_init=True` requires `relative_step=True`")
        if group["lr"] is None and not group["relative_step"]:
            raise ValueError(f"{owner}: `relative_step=False` requires a manual `lr` (got lr=None)")
        if group["lr"] is not None:
            _checks.real(owner, "lr", group["lr"], low=0.0)
        _checks.pair(owner, "eps", group["eps"])
        for i, eps in enumerate(group["eps"]):
            _checks.real(owner, f"eps[{i}]", eps, low=0.0)
        _checks.real(owner, "clip_threshold", group["clip_threshold"], low=0.0, low_open=True, high_open=False)
        _checks.real(owner, "decay_rate", group["decay_rate"], high=0.0, high_open=False)
        if group["beta1"] is not None:
            _checks.real(owner, "beta1", group["beta1"], low=0.0, high=1.0)
        _checks.real(owner, "weight_decay", group["weight_decay"], low=0.0)
        _checks.one_of(owner, "impl", group["impl"], IMPLS)

    def _state_slots(self, p: torch.Tensor, group: Mapping[str, Any]) -> dict[str, Slot]:
        """As ``_init_state`` creates them, in the (upcast) gradient's dtype, and the master copy."""
        dtype, shape = compute_dtype(p.dtype), tuple(p.shape)
        slots = {"step": COUNTER, "RMS": STATISTIC, **({"exp_avg": Slot.tensor(shape, dtype)} if group["beta1"] is not None else {}), **master_slots(p, group)}
        if p.dim() >= 2:
            return {**slots, "exp_avg_sq_row": Slot.tensor(shape[:-1], dtype), "exp_avg_sq_col": Slot.tensor(shape[:-2] + shape[-1:], dtype)}
        return {**slots, "exp_avg_sq": Slot.tensor(shape, dtype)}

    @staticmethod
    def _get_lr(param_group: dict[str, Any], param_state: dict[str, Any]) -> float | torch.Tensor:
        """α for a param from its last ``step`` and ``RMS`` (a 0-d tensor when scaled by RMS).

        The name is transformers': its ``AdafactorSchedule`` calls it, and so works with this class.
        """
        rel_step_size = _relative_step_size(param_group, param_state["step"])
        param_scale = 1.0
        if param_group["scale_parameter"]:
            # Python max keeps upstream's types: eps[1] (a float) unless RMS (a tensor) is larger.
            param_scale = max(param_group["eps"][1], param_state["RMS"])
        return param_scale * rel_step_size

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one update of every param that has a gradient; returns the closure's loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        fused = group["impl"] == "fused" and not torch.compiler.is_compiling()  # dynamo cannot trace ctypes
        library = _kernels.library() if fused else None
        params, works, grads, states = [], [], [], []  # what the fused kernel takes, in order
        for p, grad in self._params_with_grad(group):
            if grad.dtype in HALF_DTYPES:
                grad = grad.float()
            state = self.state[p]
            if not state:
                _init_state(state, grad, group["beta1"])
            ensure_master(state, p, group)
            state["step"] += 1
            # Half params: a float32 work tensor (the master copy or a copy for this step); the
            # param is rounded back from it once per step.
            work = work_tensor(p, state.get(MASTER_PARAM))
            if library is None or not _kernel_takes(work, grad, state):
                _per_tensor_update(work, grad, state, group)
                write_back([p], [work])
            elif work is not p:  # a half param, stepped on its own: its float32 copies live for this tensor only
                _fused_update(library, [p], [work], [grad], [state], group)
            else:
                params.append(p)
                works.append(work)
                grads.append(grad)
                states.append(state)
        if params:
            _fused_update(library, params, works, grads, states, group)


def _kernel_takes(work: torch.Tensor, grad: torch.Tensor, state: dict[str, Any]) -> bool:
    """Whether the fused kernel can update this param in place (an empty one keeps transformers'
    NaN ``RMS`` through the per-tensor path)."""
    if work.numel() == 0:
        return False
    if work.dim() >= 2:
        tensors = [state["exp_avg_sq_row"], state["exp_avg_sq_col"]]
    else:
        tensors = [state["exp_avg_sq"]]
    if "exp_avg" in state:
        tensors.append(state["exp_avg"])
    return kernel_takes(work, grad, *tensors)


def _relative_step_size(group: dict[str, Any], step: int) -> float:
    """ρ of the formula: the group's lr, or the relative step at ``step``."""
    if not group["relative_step"]:
        return group["lr"]
    min_step = 1e-6 * step if group["warmup_init"] else 1e-2
    return min(min_step, 1.0 / math.sqrt(step))


def _per_tensor_update(work: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
    """transformers' update of one param (its float32 copy for half params), torch op for torch op."""
    state["RMS"] = _rms(work)
    lr = Adafactor._get_lr(group, state)
    # `**` rather than math.pow: the same C pow on these finite inputs, and torch.compile can
    # keep the int step dynamic through it instead of recompiling at every step.
    beta2t = 1.0 - state["step"] ** group["decay_rate"]
    update = grad**2 + group["eps"][0]
    if grad.dim() >= 2:
        row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
        row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1.0 - beta2t)
        col.mul_(beta2t).add_(update.mean(dim=-2), alpha=1.0 - beta2t)
        update = placed_like(_approx_sq_grad(row, col).mul_(grad), grad)
    else:
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq.mul_(beta2t).add_(update, alpha=1.0 - beta2t)
        update = exp_avg_sq.rsqrt().mul_(grad)
    update.div_((_rms(update) / group["clip_threshold"]).clamp_(min=1.0))
    update.mul_(lr)
    if group["beta1"] is not None:
        exp_avg = state["exp_avg"]
        exp_avg.mul_(group["beta1"]).add_(update, alpha=1 - group["beta1"])
        update = exp_avg
    if group["weight_decay"] != 0:
        work.add_(work, alpha=-group["weight_decay"] * lr)
    work.sub_(update)


def _fused_update(
    library: Any,
    params: list[torch.Tensor],
    works: list[torch.Tensor],
    grads: list[torch.Tensor],
    states: list[dict[str, Any]],
    group: dict[str, Any],
) -> None:
    """optimspec's fused CPU kernel (``kernels.c``): every eligible param of the group in one call.

    It computes the step of :func:`_per_tensor_update` in three passes over memory (statistics, the
    sum of u², the update; two for vectors), one rounding per elementwise operation in the
    reference's order, reductions accumulated in float64. ``RMS`` is kept as a Python float.
    """
    beta1 = group["beta1"]
    hparams = _kernels.AdafactorHparams(
        eps1=group["eps"][0], eps2=group["eps"][1], clip_threshold=group["clip_threshold"],
        beta1=beta1 or 0.0, weight_decay=group["weight_decay"],
        scale_parameter=group["scale_parameter"], has_beta1=beta1 is not None,
    )
    scalars: dict[int, tuple[float, float]] = {}  # step -> (ρ, β̂2), computed once per step count
    for dtype in {work.dtype for work in works}:
        index = [i for i, work in enumerate(works) if work.dtype == dtype]
        tensors = (_kernels.AdafactorTensor * len(index))()
        for x, i in zip(tensors, index):
            work, state = works[i], states[i]
            step = state["step"]
            if step not in scalars:
                scalars[step] = (_relative_step_size(group, step), 1.0 - step ** group["decay_rate"])
            x.rho, x.beta2t = scalars[step]
            x.numel, x.param, x.grad = work.numel(), work.data_ptr(), grads[i].data_ptr()
            x.factored = work.dim() >= 2
            if x.factored:
                x.rows, x.cols = work.shape[-2], work.shape[-1]
                x.batch = x.numel // (x.rows * x.cols)
                x.row, x.col = state["exp_avg_sq_row"].data_ptr(), state["exp_avg_sq_col"].data_ptr()
            else:
                x.sq = state["exp_avg_sq"].data_ptr()
            if beta1 is not None:
                x.exp_avg = state["exp_avg"].data_ptr()
        run = getattr(library, f"adafactor_{_kernels.suffix_of(dtype)}")
        if run(len(index), tensors, ctypes.byref(hparams)) != 0:
            raise MemoryError("Adafactor: the fused kernel could not allocate its scratch memory")
        for x, i in zip(tensors, index):
            states[i]["RMS"] = x.rms
    write_back(params, works)


class AdafactorSchedule(LambdaLR):
    """A read-back proxy: reports the lr Adafactor computes internally, for logging (e.g. the Trainer).

    Construction sets every group's ``lr`` to ``initial_lr`` (0.0 by default), as transformers
    does; that is harmless with ``relative_step=True`` (Adafactor ignores ``group["lr"]``) but
    **zeroes a manual lr** with ``relative_step=False``, so use a regular schedule there. Each
    ``step()`` then sets group i's lr to α of its *first* param (from that param's last step and
    RMS), as a Python float.

    Deliberate differences:

    - a group whose first param has no gradient or no state yet reports ``initial_lr``.
      transformers drops such groups from its list (shifting later groups' values, which torch
      2.13 rejects) or raises ``KeyError``;
    - the values are Python floats (transformers: a 0-d tensor when ``scale_parameter``, same
      value), so every group's lr stays a float: ``torch.distributed.checkpoint`` needs the saved
      lr of the same type as a fresh optimizer's, and torch writes a tensor lr into the group
      with ``fill_``, which a ``DTensor`` (FSDP2) lacks.

    Args:
        optimizer: an :class:`Adafactor` (or transformers') whose lr to read back.
        initial_lr: the lr reported (and written into every group) before the first step (>= 0).

    Raises:
        ValueError: ``initial_lr`` is negative or not a real number.

    Example:
        >>> import torch
        >>> from optimspec.torch import Adafactor, AdafactorSchedule
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = Adafactor([w])
        >>> sched = AdafactorSchedule(opt)
        >>> sched.get_last_lr()
        [0.0]
        >>> w.grad = torch.ones(3)
        >>> opt.step(); sched.step()
        >>> round(float(sched.get_last_lr()[0]), 6)   # 0.01 · rms(w) = 0.01
        0.01
    """

    def __init__(self, optimizer: Optimizer, initial_lr: float = 0.0) -> None:
        _checks.real(type(self).__name__, "initial_lr", initial_lr, low=0.0)
        # base_lrs = [initial_lr] * groups, without leaving "initial_lr" in the groups afterwards.
        for group in optimizer.param_groups:
            group["initial_lr"] = initial_lr
        super().__init__(optimizer, lambda _: initial_lr)
        for group in optimizer.param_groups:
            del group["initial_lr"]

    def get_lr(self) -> list[float | torch.Tensor]:
        optimizer = self.optimizer
        lrs = []
        for group, base_lr in zip(optimizer.param_groups, self.base_lrs):
            first = group["params"][0]
            state = optimizer.state.get(first)
            has_stepped = first.grad is not None and bool(state)
            lrs.append(float(optimizer._get_lr(group, state)) if has_stepped else base_lr)
        return lrs


def get_adafactor_schedule(optimizer: Optimizer, initial_lr: float = 0.0) -> AdafactorSchedule:
    """``AdafactorSchedule(optimizer, initial_lr)``: the read-back proxy of Adafactor's internal lr.

    Args:
        optimizer: an :class:`Adafactor`.
        initial_lr: the lr reported before the first step (>= 0).

    Returns:
        An :class:`AdafactorSchedule`.

    Raises:
        ValueError: ``initial_lr`` is negative or not a real number.

    Example:
        >>> import torch
        >>> from optimspec.torch import Adafactor, get_adafactor_schedule
        >>> sched = get_adafactor_schedule(Adafactor([torch.nn.Parameter(torch.ones(3))]))
        >>> sched.get_last_lr()
        [0.0]
    """
    return AdafactorSchedule(optimizer, initial_lr)

"""transformers' legacy ``AdamW`` (v4.16–v4.49; removed upstream in v4.50), as a supported class.

Three implementation paths compute the same step (``AdamW(..., impl=...)``):

* ``"fused"`` (default): the whole step in one pass over memory (:func:`_fused_update`):
  optimspec's compiled kernel on the CPU, torch's fused AdamW kernel on CUDA; the foreach path
  where neither applies.
* ``"foreach"``: the multi-tensor ``torch._foreach_*`` ops, in the per-tensor path's order.
* ``"per_tensor"``: transformers' own for-loop, operation for operation: bit-identical to
  transformers' AdamW for float32 and float64 params.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from . import _checks, _kernels
from ._base import COUNTER, HALF_DTYPES, KERNEL_DTYPES, PLAIN_TENSORS, MASTER_PARAM, Slot, SpecOptimizer, compute_dtype, ensure_master, float32_work, kernel_takes, master_slots, write_back

#: The selectable implementation paths, the default first.
IMPLS = ("fused", "foreach", "per_tensor")


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

    dtypes: float32 and float64 params compute in their own dtype. For float16/bfloat16 params the
    moments are kept in float32 and the step is computed in float32 from an upcast copy of the
    param and gradient; the param is rounded to its dtype once per step. (transformers ran the
    whole update in the half dtype, where ``g·g`` underflows.) By default there is no persistent
    float32 copy of the param: an update smaller than half an ulp of the param is lost, as in
    transformers. ``master_weights=True`` keeps one: each half param gets a float32 copy in its
    state (``state["master_param"]``, 4 bytes per element, saved by ``state_dict``; made from the
    param at its first step, or at the first step after loading a checkpoint that has none), every
    step updates the copy and rounds the param from it, so sub-ulp updates accumulate. float32 and
    float64 params keep no copy (they are their own); the flag changes nothing for them.

    Paths (``impl``, per param group):

    * ``"fused"`` (default): the step above in one pass over memory, in a C kernel compiled for
      this CPU on first use (:mod:`optimspec.torch._kernels`), one IEEE rounding per operation in
      the order above; in float64 that is the spec's reference value bit for bit. CUDA tensors go
      through torch's own fused AdamW kernel, driven to compute this step up to rounding. Tensors
      neither takes (non-contiguous, subclasses such as DTensors), and CPU tensors where no C
      compiler is available, take the foreach path. Half params go through them one by one, as
      their master copies or float32 copies.
    * ``"foreach"``: torch's multi-tensor ``_foreach_*`` ops, in the order above.
    * ``"per_tensor"``: transformers' own loop of torch ops.

    ``"foreach"`` and ``"per_tensor"`` are bit-identical to each other and, for float32 and float64
    params, to transformers' AdamW (torch fuses some multiply-adds, so they differ from
    ``"fused"`` by rounding: a few units in the last place per step).

    Arguments are checked at construction (``ValueError`` naming the argument): ``lr >= 0``,
    ``0 <= betas[i] < 1``, ``eps >= 0``, ``weight_decay >= 0`` (transformers silently ignored a
    negative decay), ``correct_bias`` and ``master_weights`` bools, ``impl`` one of :data:`IMPLS`. ``eps=0`` is allowed,
    and then a coordinate whose gradient has always been 0 gives 0/0 = NaN, as upstream. NaN/inf
    gradients propagate into the params. Sparse gradients raise ``RuntimeError``.

    Args:
        params: parameters or param-group dicts.
        lr: learning rate.
        betas: ``(β1, β2)``.
        eps: added to ``sqrt(v)`` before the division.
        weight_decay: decoupled decay rate, applied after the Adam step, scaled by ``lr``.
        correct_bias: fold the bias corrections into the step size.
        no_deprecation_warning: accepted for compatibility; this class is supported and never warns.
        impl: the implementation path, ``"fused"``, ``"foreach"`` or ``"per_tensor"`` (per group).
        master_weights: keep a float32 copy of each float16/bfloat16 param, step it and round the
            param from it (per group).

    Raises:
        ValueError: an out-of-domain argument (above), here or in ``add_param_group``, naming it.
        RuntimeError: ``step()`` on a sparse gradient.

    Example:
        >>> import torch
        >>> from optimspec.torch import AdamW
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -0.5], dtype=torch.float64))
        >>> opt = AdamW([w], lr=1e-3)
        >>> w.grad = torch.tensor([1e-5, 0.3], dtype=torch.float64)
        >>> opt.step()
        >>> [round(x, 8) for x in w.tolist()]
        [0.99975975, -0.50099989]

        A bfloat16 weight moves by updates below half its ulp only with master weights:

        >>> b = torch.nn.Parameter(torch.ones(1, dtype=torch.bfloat16))
        >>> opt = AdamW([b], lr=1e-4, master_weights=True)
        >>> for _ in range(50):
        ...     b.grad = torch.ones(1, dtype=torch.bfloat16)
        ...     opt.step()
        >>> round(opt.state[b]["master_param"].item(), 4), b.item()  # 50 updates of 1e-4; ulp(1.0) = 2⁻⁷
        (0.995, 0.99609375)
    """

    IMPLS = IMPLS

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
        impl: str = "fused",
        master_weights: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "correct_bias": correct_bias,
            "impl": impl,
            "master_weights": master_weights,
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
        _checks.one_of(owner, "impl", group["impl"], IMPLS)
        _checks.boolean(owner, "master_weights", group["master_weights"])

    def _state_slots(self, p: torch.Tensor, group: Mapping[str, Any]) -> dict[str, Slot]:
        moment = Slot.tensor(p.shape, compute_dtype(p.dtype))
        return {"step": COUNTER, "exp_avg": moment, "exp_avg_sq": moment, **master_slots(p, group)}

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one update of every param that has a gradient; returns the closure's loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        batch = _Batch()
        for p, grad in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                dtype = compute_dtype(p.dtype)
                state["exp_avg"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
            ensure_master(state, p, group)
            state["step"] += 1
            batch.params.append(p)
            batch.grads.append(grad)
            batch.exp_avgs.append(state["exp_avg"])
            batch.exp_avg_sqs.append(state["exp_avg_sq"])
            batch.steps.append(state["step"])
            batch.masters.append(state.get(MASTER_PARAM))
        if batch.params:
            _UPDATES[group["impl"]](batch, _Hyper.of(group))


@dataclass(frozen=True)
class _Hyper:
    """A group's hyperparameters, read once per step."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    correct_bias: bool

    @classmethod
    def of(cls, group: dict[str, Any]) -> _Hyper:
        beta1, beta2 = group["betas"]
        return cls(group["lr"], beta1, beta2, group["eps"], group["weight_decay"], group["correct_bias"])

    def step_size(self, step: int) -> float:
        """``s`` of the formula, in transformers' float64 order."""
        if not self.correct_bias:
            return self.lr
        return self.lr * math.sqrt(1.0 - self.beta2**step) / (1.0 - self.beta1**step)

    @property
    def decay(self) -> float | None:
        """The decay factor ``−lr·weight_decay``; ``None`` unless ``weight_decay > 0`` (as upstream)."""
        return -self.lr * self.weight_decay if self.weight_decay > 0.0 else None


class _Batch:
    """The params of one group that step now, with their gradients, moments, step counters and
    master copies (None for a param without one)."""

    __slots__ = ("params", "grads", "exp_avgs", "exp_avg_sqs", "steps", "masters")

    def __init__(self) -> None:
        self.params: list[torch.Tensor] = []
        self.grads: list[torch.Tensor] = []
        self.exp_avgs: list[torch.Tensor] = []
        self.exp_avg_sqs: list[torch.Tensor] = []
        self.steps: list[int] = []
        self.masters: list[torch.Tensor | None] = []

    def step_sizes(self, h: _Hyper) -> list[float]:
        """Each tensor's ``s``. (No cache keyed by the step: under ``torch.compile`` that would
        guard on the step's value and recompile every step.)"""
        return [h.step_size(t) for t in self.steps]


def _per_tensor_update(batch: _Batch, h: _Hyper) -> None:
    """transformers' loop, one param at a time."""
    decay = h.decay
    for p, g, m, v, step, master in zip(batch.params, batch.grads, batch.exp_avgs, batch.exp_avg_sqs, batch.steps, batch.masters):
        (work,), (g,) = float32_work([p], [g], [master])
        m.mul_(h.beta1).add_(g, alpha=1.0 - h.beta1)
        v.mul_(h.beta2).addcmul_(g, g, value=1.0 - h.beta2)
        denom = v.sqrt().add_(h.eps)
        work.addcdiv_(m, denom, value=-h.step_size(step))
        if decay is not None:
            work.add_(work, alpha=decay)
        write_back([p], [work])


def _foreach_update(batch: _Batch, h: _Hyper) -> None:
    """The per-tensor operations, each applied to every param at once (half params: their master
    copies, or float32 copies of all of them for the step)."""
    work, grads = float32_work(batch.params, batch.grads, batch.masters)
    _foreach_math(work, grads, batch.exp_avgs, batch.exp_avg_sqs, batch.step_sizes(h), h)
    write_back(batch.params, work)


def _foreach_math(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    step_sizes: list[float],
    h: _Hyper,
) -> None:
    torch._foreach_mul_(exp_avgs, h.beta1)
    torch._foreach_add_(exp_avgs, grads, alpha=1.0 - h.beta1)
    torch._foreach_mul_(exp_avg_sqs, h.beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - h.beta2)
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denoms, h.eps)
    torch._foreach_addcdiv_(params, exp_avgs, denoms, [-s for s in step_sizes])
    if h.decay is not None:
        torch._foreach_add_(params, params, alpha=h.decay)


def _fused_update(batch: _Batch, h: _Hyper) -> None:
    """The whole step in one pass over memory, by the fastest kernel that takes each tensor.

    Plain contiguous CPU tensors (:func:`~optimspec.torch._base.kernel_takes`) go through
    optimspec's fused CPU kernel (``kernels.c``), which runs the operations of
    :func:`_per_tensor_update` in the same order, one rounding each, in one call per dtype. Plain
    dense tensors on a CUDA device go through torch's own fused AdamW kernel, driven to compute this
    step (:func:`_torch_fused_math`). The rest, every tensor under ``torch.compile``, and the CPU
    tensors where the kernels cannot be built take the foreach path. A half param is stepped on its
    own (its master copy or a float32 copy of it, and a float32 copy of its gradient; the param is
    rounded at once), so no temporary outgrows one tensor.
    """
    if torch.compiler.is_compiling():  # dynamo cannot trace a ctypes call
        _foreach_update(batch, h)
        return
    kernels = _Kernels(_kernels.library(), h, batch.steps)
    for p, g, m, v, step, master in zip(batch.params, batch.grads, batch.exp_avgs, batch.exp_avg_sqs, batch.steps, batch.masters):
        if p.dtype in HALF_DTYPES:
            (work,), (g32,) = float32_work([p], [g], [master])
            single = _Kernels(kernels.library, h, (step,))
            single.add(work, g32, m, v, step)
            single.run()
            write_back([p], [work])
        else:
            kernels.add(p, g, m, v, step)
    kernels.run()


class _Kernels:
    """Tensors dealt to optimspec's CPU kernel (per dtype), torch's fused kernel or the foreach
    ops, then stepped by each in one call. Built per step: dealing is the per-tensor overhead."""

    __slots__ = ("library", "h", "step_sizes", "routable", "ours", "torch_fused", "rest")

    def __init__(self, library: Any, h: _Hyper, steps: Iterable[int]) -> None:
        self.library, self.h = library, h
        self.step_sizes = {step: h.step_size(step) for step in set(steps)}  # one per distinct step
        self.routable = _torch_fused_routable(h)
        self.ours: dict[torch.dtype, tuple[list[Any], ...]] = {}
        self.torch_fused: tuple[list[Any], ...] = ([], [], [], [], [])
        self.rest: tuple[list[Any], ...] = ([], [], [], [], [])

    def add(self, p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int) -> None:
        if self.library is not None and kernel_takes(p, g, m, v):
            columns = self.ours.get(p.dtype)
            if columns is None:
                columns = self.ours[p.dtype] = ([], [], [], [], [])
            scalar = self.step_sizes[step]
        elif self.routable and _torch_fused_takes(p, g, m, v):
            columns, scalar = self.torch_fused, step  # torch's kernel takes the step, not s
        else:
            columns, scalar = self.rest, self.step_sizes[step]
        columns[0].append(p)
        columns[1].append(g)
        columns[2].append(m)
        columns[3].append(v)
        columns[4].append(scalar)

    def run(self) -> None:
        for dtype, columns in self.ours.items():
            _run_kernel(self.library, dtype, *columns, self.h)
        if self.torch_fused[0]:
            _torch_fused_math(*self.torch_fused, self.h)
        if self.rest[0]:
            _foreach_math(*self.rest, self.h)


#: The devices whose tensors go through torch's fused AdamW kernel (CPU tensors have optimspec's own).
TORCH_FUSED_DEVICES = ("cuda",)


def _torch_fused_routable(h: _Hyper) -> bool:
    """Whether torch's kernel can express this step: its decay factor ``1 − lr_t·wd_t`` must be the
    spec's ``1 − lr·weight_decay`` with ``lr_t > 0`` (see :func:`_torch_fused_math`), which fails
    only for ``lr·weight_decay >= 1`` (a decay that zeroes or flips the params)."""
    return h.lr * h.weight_decay < 1.0


def _torch_fused_takes(param: torch.Tensor, *others: torch.Tensor) -> bool:
    """Plain dense float32/float64 tensors of one dtype on one of :data:`TORCH_FUSED_DEVICES`."""
    device, dtype = param.device, param.dtype
    return (
        device.type in TORCH_FUSED_DEVICES
        and dtype in KERNEL_DTYPES
        and all(t.device == device and t.dtype is dtype and type(t) in PLAIN_TENSORS and t.layout is torch.strided for t in (param, *others))
    )


def _torch_fused_math(
    params: list[torch.Tensor], grads: list[torch.Tensor], exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor], steps: list[int], h: _Hyper,
) -> None:
    """Step with torch's fused AdamW kernel (``torch._fused_adamw_``), one call per device, dtype
    and step count.

    That kernel computes, given the step ``t`` (a float tensor per param, as torch.optim passes it),
    ``p ← p·(1 − lr_t·wd_t) − lr_t/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε_t)``. Driven with
    ``ε_t = ε/√(1−β2ᵗ)``, ``lr_t = (1 − lr·wd)·s·(1−β1ᵗ)/√(1−β2ᵗ)`` and ``wd_t = lr·wd/lr_t``
    (``wd_t = 0`` where ``lr_t = 0``, which then leaves the params as the spec does), that is the
    spec's ``p ← (p − s·m/(√v + ε))·(1 − lr·wd)`` up to rounding, with ``s`` the spec's step size
    (``lr`` when ``correct_bias=False``): it is judged by the goldens' teacher-forced budgets, not
    bit for bit. Needs :func:`_torch_fused_routable`.
    """
    batches: dict[tuple[torch.device, torch.dtype, int], tuple[list[torch.Tensor], ...]] = {}
    for p, g, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        for column, tensor in zip(batches.setdefault((p.device, p.dtype, step), ([], [], [], [])), (p, g, m, v)):
            column.append(tensor)
    decay = h.lr * h.weight_decay if h.weight_decay > 0.0 else 0.0
    for (device, _, step), (ps, gs, ms, vs) in batches.items():
        correction1, root_correction2 = 1.0 - h.beta1**step, math.sqrt(1.0 - h.beta2**step)
        lr = (1.0 - decay) * h.step_size(step) * correction1 / root_correction2
        counters = torch.full((len(ps),), float(step), device=device).unbind()  # the kernel reads t, as torch.optim passes it
        torch._fused_adamw_(
            ps, gs, ms, vs, [], counters, lr=lr, beta1=h.beta1, beta2=h.beta2,
            weight_decay=decay / lr if lr > 0.0 else 0.0, eps=h.eps / root_correction2, amsgrad=False, maximize=False,
        )


def _run_kernel(
    library: Any, dtype: torch.dtype, params: list[torch.Tensor], grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor], exp_avg_sqs: list[torch.Tensor], step_sizes: list[float], h: _Hyper,
) -> None:
    n, decay = len(params), h.decay
    getattr(library, f"adamw_{_kernels.suffix_of(dtype)}")(
        n, _kernels.pointers(params), _kernels.pointers(grads), _kernels.pointers(exp_avgs), _kernels.pointers(exp_avg_sqs),
        (ctypes.c_int64 * n)(*[p.numel() for p in params]), (ctypes.c_double * n)(*step_sizes),
        h.beta1, h.beta2, h.eps, decay or 0.0, decay is not None,
    )


_UPDATES: dict[str, Callable[[_Batch, _Hyper], None]] = {
    "fused": _fused_update,
    "foreach": _foreach_update,
    "per_tensor": _per_tensor_update,
}

"""Learning-rate schedules of the transformers API (v5.24), as torch ``LambdaLR`` schedulers.

Every factory returns ``LambdaLR(optimizer, λ, last_epoch)``: each param group's lr is
``base_lr * λ(t)`` with ``t = scheduler.last_epoch`` (0 right after construction), so in the
usual ``opt.step(); sched.step()`` loop the n-th update uses λ(n−1). Notation: ``W`` =
``num_warmup_steps``, ``T`` = ``num_training_steps``, ``nc`` = ``num_cycles`` and
``ramp(t) = float(t) / float(max(1, W))``.

Each λ evaluates its float64 expression in exactly transformers' order, so the learning rates are
bit-identical to transformers 5.24 wherever transformers returns a finite value; the few
configurations where transformers crashes late or produces NaN (polynomial with ``W == T``,
``timescale=0``, negative step counts, …) raise ``ValueError`` here, at construction, naming the
argument. So do a negative (or missing) param-group lr and ``num_training_steps`` < 1, which
transformers accepts. Surprising but defined behaviour is kept on purpose: the cosine schedules rise again past
``T`` (the progress is not clamped), and the warmup of ``cosine_warmup_with_min_lr`` is shifted by
one step.

Schedules hold no hyperparameters in their ``state_dict`` (the λ are ``functools.partial`` of
module functions, as upstream): resume by building the same schedule and loading its state.

>>> import torch
>>> from optimspec.torch import AdamW, get_linear_schedule_with_warmup
>>> opt = AdamW([torch.nn.Parameter(torch.zeros(2))], lr=10.0)
>>> sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=10)
>>> lrs = []
>>> for _ in range(5):
...     lrs.append(sched.get_last_lr()[0])
...     opt.step()
...     sched.step()
>>> lrs
[0.0, 5.0, 10.0, 8.75, 7.5]
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from enum import Enum
from functools import partial
from typing import Any

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from . import _checks
from .greedy import GreedyLR

WSD_SHAPES = ("linear", "cosine", "1-sqrt")


# --------------------------------------------------------------------------------------------------
# The λ functions. Their float order is transformers'; do not "simplify" an expression.
# --------------------------------------------------------------------------------------------------


def _ramp(step: int, num_warmup_steps: int) -> float:
    return float(step) / float(max(1, num_warmup_steps))


def _progress(step: int, num_warmup_steps: int, num_training_steps: int) -> float:
    return float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))


def _cosine(progress: float, num_cycles: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))


def _floor_at(factor: float, min_lr_rate: float) -> float:
    """Rescale ``factor`` from [0, 1] to [min_lr_rate, 1] (before the clamp at 0, as upstream)."""
    return factor * (1 - min_lr_rate) + min_lr_rate


def _constant_lambda(_: int) -> int:
    return 1


def _constant_with_warmup_lambda(step: int, *, num_warmup_steps: int) -> float:
    return _ramp(step, num_warmup_steps) if step < num_warmup_steps else 1.0


# The two most used schedules take their step-independent subexpressions precomputed (the same
# floats upstream computes at every step, so the same bits) and no helper calls: a scheduler step
# is then faster than transformers'.


def _linear_lambda(step: int, *, num_warmup_steps: int, num_training_steps: int, warmup_div: float, decay_div: float) -> float:
    """``warmup_div = float(max(1, W))``, ``decay_div = float(max(1, T − W))``."""
    if step < num_warmup_steps:
        return float(step) / warmup_div
    factor = float(num_training_steps - step) / decay_div
    return factor if factor > 0.0 else 0.0  # upstream's max(0.0, factor), NaN included, without the call


def _linear_partial(num_warmup_steps: int, num_training_steps: int) -> Callable[[int], float]:
    return partial(
        _linear_lambda,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        warmup_div=float(max(1, num_warmup_steps)),
        decay_div=float(max(1, num_training_steps - num_warmup_steps)),
    )


def _cosine_lambda(
    step: int, *, num_warmup_steps: int, warmup_div: float, decay_div: float, omega: float, keep: float, min_lr_rate: float
) -> float:
    """``omega = π·float(nc)·2`` (upstream's left-to-right product before ``· progress``) and
    ``keep = 1 − min_lr_rate``; plain cosine is this with min_lr_rate=0.0 (so is upstream's,
    through a shadowed definition)."""
    if step < num_warmup_steps:
        return float(step) / warmup_div
    factor = 0.5 * (1.0 + math.cos(omega * (float(step - num_warmup_steps) / decay_div))) * keep + min_lr_rate
    return factor if factor > 0 else 0  # upstream's max(0, factor): the int 0 below zero, as there


def _cosine_partial(
    num_warmup_steps: int, num_training_steps: int, num_cycles: float, min_lr_rate: float = 0.0
) -> Callable[[int], float]:
    return partial(
        _cosine_lambda,
        num_warmup_steps=num_warmup_steps,
        warmup_div=float(max(1, num_warmup_steps)),
        decay_div=float(max(1, num_training_steps - num_warmup_steps)),
        omega=math.pi * float(num_cycles) * 2.0,
        keep=1 - min_lr_rate,
        min_lr_rate=min_lr_rate,
    )


def _hard_restarts_lambda(step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float) -> float:
    if step < num_warmup_steps:
        return _ramp(step, num_warmup_steps)
    progress = _progress(step, num_warmup_steps, num_training_steps)
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))


def _polynomial_lambda(
    step: int, *, num_warmup_steps: int, num_training_steps: int, lr_end: float, power: float, lr_init: float
) -> float:
    if step < num_warmup_steps:
        return _ramp(step, num_warmup_steps)
    if step > num_training_steps:
        return lr_end / lr_init
    pct_remaining = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
    # Divided by lr_init because LambdaLR multiplies by the group lr again.
    return ((lr_init - lr_end) * pct_remaining**power + lr_end) / lr_init


def _inverse_sqrt_lambda(step: int, *, num_warmup_steps: int, timescale: int) -> float:
    if step < num_warmup_steps:
        return _ramp(step, num_warmup_steps)
    shift = timescale - num_warmup_steps
    return 1.0 / math.sqrt((step + shift) / timescale)


def _cosine_warmup_lr_rate_lambda(
    step: int,
    *,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float,
    min_lr_rate: float,
    warmup_lr_rate: float | None,
) -> float:
    # This variant does all its arithmetic on floats and is shifted one step ahead.
    t, warmup, total = float(step), float(num_warmup_steps), float(num_training_steps)
    if t < warmup:
        if warmup_lr_rate is None:
            return (t + 1.0) / max(1.0, warmup)
        rate = float(warmup_lr_rate)
        return rate + (1.0 - rate) * t / max(1, warmup - 1)
    progress = (t - warmup + 1.0) / max(1.0, total - warmup)
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    return max(0, _floor_at(factor, min_lr_rate))


def _wsd_warmup_shape(warmup_type: str, progress: float) -> float:
    if warmup_type == "linear":
        return progress
    if warmup_type == "cosine":
        return 0.5 * (1.0 - math.cos(math.pi * progress))
    return 1.0 - math.sqrt(1.0 - progress)  # "1-sqrt"


def _wsd_decay_shape(decay_type: str, progress: float, num_cycles: float) -> float:
    if decay_type == "linear":
        return 1.0 - progress
    if decay_type == "cosine":
        return _cosine(progress, num_cycles)
    return 1.0 - math.sqrt(progress)  # "1-sqrt"


def _wsd_lambda(
    step: int,
    *,
    num_warmup_steps: int,
    num_stable_steps: int,
    num_decay_steps: int,
    warmup_type: str,
    decay_type: str,
    min_lr_ratio: float,
    num_cycles: float,
) -> float:
    if step < num_warmup_steps:
        factor = _wsd_warmup_shape(warmup_type, _ramp(step, num_warmup_steps))
        return max(0.0, _floor_at(factor, min_lr_ratio))
    if step < num_warmup_steps + num_stable_steps:
        return 1.0
    if step < num_warmup_steps + num_stable_steps + num_decay_steps:
        progress = float(step - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
        return max(0.0, _floor_at(_wsd_decay_shape(decay_type, progress, num_cycles), min_lr_ratio))
    return min_lr_ratio


# --------------------------------------------------------------------------------------------------
# Shared argument checks.
# --------------------------------------------------------------------------------------------------


def _check_steps(owner: str, **counts: int | None) -> None:
    """Every given step count is an integer >= 0, ``num_training_steps`` >= 1 (``None`` means "not
    given"). T = 0 is a schedule that never runs; upstream would build it and return 0 or NaN."""
    for name, value in counts.items():
        if value is not None:
            _checks.integer(owner, name, value, low=1 if name == "num_training_steps" else 0)


def _base_lr(group: dict[str, Any]) -> Any:
    """The lr LambdaLR will scale: the group's ``initial_lr`` if it has one (LambdaLR only sets it
    when absent), else its ``lr``; a one-element tensor lr (torch allows them) as a float."""
    value = group.get("initial_lr", group["lr"])
    if isinstance(value, Tensor) and value.numel() == 1:
        return value.item()
    return value


def _lambda_lr(owner: str, optimizer: Optimizer, lr_lambda: Callable[[int], float], last_epoch: int) -> LambdaLR:
    """``LambdaLR(optimizer, lr_lambda, last_epoch)`` after checking that every group's base lr is a
    real number >= 0 (λ scales it, and a negative or missing (``None``) lr makes no schedule) and
    that ``last_epoch`` is -1 (a fresh schedule) or, resuming, an integer >= 0 with every group's
    ``initial_lr`` in place (torch would raise a KeyError about ``initial_lr``)."""
    _checks.integer(owner, "last_epoch", last_epoch, low=-1)
    if isinstance(optimizer, Optimizer):  # else LambdaLR raises its TypeError
        for i, group in enumerate(optimizer.param_groups):
            _checks.real(owner, f"optimizer.param_groups[{i}]['lr']", _base_lr(group), low=0.0)
            if last_epoch != -1 and "initial_lr" not in group:
                raise ValueError(
                    f"{owner}: `last_epoch`={last_epoch!r} resumes a schedule, which needs the optimizer's param groups to hold "
                    f"'initial_lr' (param group {i} has none): load the optimizer's state_dict saved with the schedule first, or pass last_epoch=-1"
                )
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def _check_num_cycles(owner: str, num_cycles: float) -> None:
    _checks.real(owner, "num_cycles", num_cycles, low=0.0)


def _min_lr_rate(owner: str, optimizer: Optimizer, min_lr: float | None, min_lr_rate: float | None) -> float:
    """``min_lr_rate``, or ``min_lr / optimizer.defaults["lr"]``; exactly one must be given."""
    if min_lr is not None and min_lr_rate is not None:
        raise ValueError(f"{owner}: Only one of min_lr or min_lr_rate should be set")
    if min_lr is None and min_lr_rate is None:
        raise ValueError(
            f"{owner}: One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"
        )
    if min_lr_rate is not None:
        _checks.real(owner, "min_lr_rate", min_lr_rate, low=0.0, high=1.0, high_open=False)
        return min_lr_rate
    lr_init = optimizer.defaults["lr"]
    _checks.real(owner, "optimizer.defaults['lr']", lr_init, low=0.0, low_open=True)
    _checks.real(owner, "min_lr", min_lr, low=0.0, high=lr_init, high_open=False)
    return min_lr / lr_init


# --------------------------------------------------------------------------------------------------
# The factories (transformers' names, signatures and defaults).
# --------------------------------------------------------------------------------------------------


def get_constant_schedule(optimizer: Optimizer, last_epoch: int = -1) -> LambdaLR:
    """Constant learning rate: λ(t) = 1 at every step.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a param group's lr is negative or missing.

    Example:
        >>> import torch
        >>> from optimspec.torch import get_constant_schedule
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        >>> get_constant_schedule(opt).get_last_lr()
        [0.1]
    """
    return _lambda_lr("get_constant_schedule", optimizer, _constant_lambda, last_epoch)


def get_constant_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then constant.

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``T = num_training_steps`` and the
    linear warmup ramp ``ramp(t) = float(t) / float(max(1, W))``: λ(t) = ramp(t) for t < W, else 1.0.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W, the number of warmup steps (an integer >= 0; 0 means no warmup).
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a step count is not an integer >= 0 (``num_training_steps`` >= 1), or a
            param group's lr is negative or missing; the message names the argument.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_constant_schedule_with_warmup
        >>> sched = get_constant_schedule_with_warmup(opt, num_warmup_steps=4)
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    _check_steps("get_constant_schedule_with_warmup", num_warmup_steps=num_warmup_steps)
    lr_lambda = partial(_constant_with_warmup_lambda, num_warmup_steps=num_warmup_steps)
    return _lambda_lr("get_constant_schedule_with_warmup", optimizer, lr_lambda, last_epoch)


def get_linear_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> LambdaLR:
    """Linear warmup to the base lr, then a linear decay to 0 at ``T``.

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``T = num_training_steps`` and the
    linear warmup ramp ``ramp(t) = float(t) / float(max(1, W))``: λ(t) = ramp(t) for t < W, else
    ``max(0.0, float(T − t) / float(max(1, T − W)))``, so λ(W) = 1 and λ = 0 for every t >= T.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W, the number of warmup steps (an integer >= 0).
        num_training_steps: T, the total number of steps (an integer >= 1).
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a step count is not an integer >= 0 (``num_training_steps`` >= 1), or a
            param group's lr is negative or missing; the message names the argument.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_linear_schedule_with_warmup
        >>> sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=5)
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.6667, 0.3333, 0.0]
    """
    _check_steps(
        "get_linear_schedule_with_warmup", num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps
    )
    lr_lambda = _linear_partial(num_warmup_steps, num_training_steps)
    return _lambda_lr("get_linear_schedule_with_warmup", optimizer, lr_lambda, last_epoch)


def get_cosine_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, num_cycles: float = 0.5, last_epoch: int = -1
) -> LambdaLR:
    """Linear warmup, then a cosine from the base lr down to 0 (``num_cycles=0.5``: half a wave).

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``T = num_training_steps`` and the
    linear warmup ramp ``ramp(t) = float(t) / float(max(1, W))``, the progress ``p = float(t − W) / float(max(1, T − W))`` and ``nc = num_cycles``:
    λ(t) = ramp(t) for t < W, else ``max(0, 0.5·(1 + cos(π·nc·2·p)))``. ``p`` is not clamped, so
    past ``T`` the lr rises again (back at the peak at ``t = 2T − W``), as in transformers.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W, the number of warmup steps (an integer >= 0).
        num_training_steps: T, the number of steps of the warmup plus the decay (an integer >= 1).
        num_cycles: nc, the number of cosine waves over ``T − W`` steps (a real >= 0).
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a step count is not an integer >= 0 (``num_training_steps`` >= 1), or a
            param group's lr is negative or missing; the message names the argument.
            Also ``num_cycles`` < 0.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_cosine_schedule_with_warmup
        >>> sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=6)
        >>> lrs = []
        >>> for _ in range(8):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 0.0, 0.1464]
    """
    owner = "get_cosine_schedule_with_warmup"
    _check_steps(owner, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    _check_num_cycles(owner, num_cycles)
    lr_lambda = _cosine_partial(num_warmup_steps, num_training_steps, num_cycles)
    return _lambda_lr("get_cosine_schedule_with_warmup", optimizer, lr_lambda, last_epoch)


def get_cosine_with_hard_restarts_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, num_cycles: int = 1, last_epoch: int = -1
) -> LambdaLR:
    """Linear warmup, then ``num_cycles`` cosine decays that each restart at the base lr; 0 from ``T`` on.

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``T = num_training_steps`` and the
    linear warmup ramp ``ramp(t) = float(t) / float(max(1, W))``, ``p = float(t − W) / float(max(1, T − W))`` and ``nc = num_cycles``: λ(t) = ramp(t)
    for t < W; 0 once ``p >= 1``; else ``max(0.0, 0.5·(1 + cos(π·((nc·p) mod 1))))``.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W, the number of warmup steps (an integer >= 0).
        num_training_steps: T, the total number of steps (an integer >= 1).
        num_cycles: nc, the number of decays between W and T (a real >= 0; default the int 1).
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a step count is not an integer >= 0 (``num_training_steps`` >= 1), or a
            param group's lr is negative or missing; the message names the argument.
            Also ``num_cycles`` < 0.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_cosine_with_hard_restarts_schedule_with_warmup
        >>> sched = get_cosine_with_hard_restarts_schedule_with_warmup(opt, 2, 6, num_cycles=2)
        >>> lrs = []
        >>> for _ in range(8):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
    owner = "get_cosine_with_hard_restarts_schedule_with_warmup"
    _check_steps(owner, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    _check_num_cycles(owner, num_cycles)
    lr_lambda = partial(
        _hard_restarts_lambda,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        num_cycles=num_cycles,
    )
    return _lambda_lr("get_cosine_with_hard_restarts_schedule_with_warmup", optimizer, lr_lambda, last_epoch)


def get_polynomial_decay_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    lr_end: float = 1e-7,
    power: float = 1.0,
    last_epoch: int = -1,
) -> LambdaLR:
    """Linear warmup, then a polynomial decay from ``lr_init = optimizer.defaults["lr"]`` to ``lr_end``.

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``T = num_training_steps`` and the
    linear warmup ramp ``ramp(t) = float(t) / float(max(1, W))``: λ(t) = ramp(t) for t < W; for W <= t <= T
    ``λ = ((lr_init − lr_end)·(1 − (t − W)/(T − W))**power + lr_end) / lr_init``; for t > T
    ``λ = lr_end / lr_init``. A group whose lr differs from the default ends at ``lr_end`` scaled
    by its own lr / lr_init, as upstream.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W, the number of warmup steps (an integer >= 0).
        num_training_steps: T, the step at which ``lr_end`` is reached (an integer >= 1, != W).
        lr_end: the final lr (a real >= 0, below ``optimizer.defaults["lr"]``).
        power: the exponent of the decay (a real >= 0; 1.0 is linear).
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a step count is not an integer >= 0 (``num_training_steps`` >= 1), or a
            param group's lr is negative or missing; the message names the argument.
            Also ``T == W`` (transformers divides 0 by 0 at t = W), ``power`` < 0,
            ``lr_end`` < 0, and ``lr_end`` >= the optimizer's lr (upstream's own error).

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_polynomial_decay_schedule_with_warmup
        >>> sched = get_polynomial_decay_schedule_with_warmup(opt, 2, 5, lr_end=0.1, power=2.0)
        >>> lrs = []
        >>> for _ in range(7):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.5, 0.2, 0.1, 0.1]
    """
    owner = "get_polynomial_decay_schedule_with_warmup"
    _check_steps(owner, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    if num_training_steps == num_warmup_steps:
        raise _checks.out_of_range(
            owner, "num_training_steps", num_training_steps, f"different from num_warmup_steps={num_warmup_steps!r}"
        )
    _checks.real(owner, "lr_end", lr_end, low=0.0)
    # power < 0 would raise ZeroDivisionError at t = T (0.0 ** negative).
    _checks.real(owner, "power", power, low=0.0)
    lr_init = optimizer.defaults["lr"]
    _checks.real(owner, "optimizer.defaults['lr']", lr_init, low=0.0)
    if not lr_init > lr_end:
        raise ValueError(f"{owner}: lr_end ({lr_end}) must be smaller than initial lr ({lr_init})")
    lr_lambda = partial(
        _polynomial_lambda,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        lr_end=lr_end,
        power=power,
        lr_init=lr_init,
    )
    return _lambda_lr("get_polynomial_decay_schedule_with_warmup", optimizer, lr_lambda, last_epoch)


def get_inverse_sqrt_schedule(
    optimizer: Optimizer, num_warmup_steps: int, timescale: int | None = None, last_epoch: int = -1
) -> LambdaLR:
    """Linear warmup, then an inverse-square-root decay with no end.

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``T = num_training_steps`` and the
    linear warmup ramp ``ramp(t) = float(t) / float(max(1, W))`` and ``τ = timescale``: λ(t) = ramp(t) for t < W, else
    ``1.0 / sqrt((t + τ − W) / τ)`` (1.0 at t = W). ``timescale=None`` means ``W or 10_000``.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W, the number of warmup steps (an integer >= 0).
        timescale: τ (an integer >= 1), or None for ``num_warmup_steps or 10_000``.
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a step count is not an integer >= 0 (``num_training_steps`` >= 1), or a
            param group's lr is negative or missing; the message names the argument.
            Also an explicit ``timescale`` < 1 (transformers divides by zero at 0).

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_inverse_sqrt_schedule
        >>> sched = get_inverse_sqrt_schedule(opt, num_warmup_steps=2)
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.8165, 0.7071, 0.6325]
    """
    owner = "get_inverse_sqrt_schedule"
    _check_steps(owner, num_warmup_steps=num_warmup_steps)
    if timescale is None:
        timescale = num_warmup_steps or 10_000
    else:
        _checks.integer(owner, "timescale", timescale, low=1)
    lr_lambda = partial(_inverse_sqrt_lambda, num_warmup_steps=num_warmup_steps, timescale=timescale)
    return _lambda_lr("get_inverse_sqrt_schedule", optimizer, lr_lambda, last_epoch)


def get_reduce_on_plateau_schedule(optimizer: Optimizer, **kwargs: Any) -> ReduceLROnPlateau:
    """``torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)``, its arguments checked.

    Step it with the metric, ``sched.step(val_loss)``: after more than ``patience`` steps without
    an improvement (by ``threshold``), every group's lr becomes ``max(lr·factor, min_lr)``, then
    ``cooldown`` steps are ignored.

    Args:
        optimizer: the optimizer whose group lrs are cut.
        **kwargs: ``ReduceLROnPlateau``'s arguments: ``mode="min"``, ``factor=0.1``,
            ``patience=10``, ``threshold=1e-4``, ``threshold_mode="rel"``, ``cooldown=0``,
            ``min_lr=0`` (one value or one per group), ``eps=1e-8``.

    Returns:
        A torch ``ReduceLROnPlateau``.

    Raises:
        ValueError: torch's (``factor >= 1``, an unknown ``mode``/``threshold_mode``, a ``min_lr``
            list of the wrong length) and, naming the argument, ``factor < 0`` and a negative
            ``patience``, ``cooldown``, ``threshold``, ``eps`` or ``min_lr`` (which torch takes
            and then misbehaves with).
        TypeError: an unknown keyword (torch's).

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_reduce_on_plateau_schedule
        >>> sched = get_reduce_on_plateau_schedule(opt, factor=0.5, patience=1)
        >>> for loss in [1.0, 1.0, 1.0, 0.5, 0.6, 0.7]:
        ...     sched.step(loss)
        >>> sched.get_last_lr()
        [0.25]
    """
    owner = "get_reduce_on_plateau_schedule"
    if "factor" in kwargs:
        _checks.real(owner, "factor", kwargs["factor"], low=0.0, high=1.0)
    for name in ("patience", "cooldown"):
        if name in kwargs:
            _checks.integer(owner, name, kwargs[name])
    for name in ("threshold", "eps"):
        if name in kwargs:
            _checks.real(owner, name, kwargs[name], low=0.0)
    min_lr = kwargs.get("min_lr", 0)
    for i, value in enumerate(min_lr if isinstance(min_lr, (list, tuple)) else [min_lr]):
        _checks.real(owner, f"min_lr[{i}]" if isinstance(min_lr, (list, tuple)) else "min_lr", value, low=0.0)
    return ReduceLROnPlateau(optimizer, **kwargs)


def get_cosine_with_min_lr_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
) -> LambdaLR:
    """Linear warmup, then a cosine down to a floor ``r`` (``min_lr_rate``, or ``min_lr / optimizer.defaults["lr"]``).

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``T = num_training_steps`` and the
    linear warmup ramp ``ramp(t) = float(t) / float(max(1, W))``, p and the cosine factor ``f = 0.5·(1 + cos(π·nc·2·p))`` as in
    :func:`get_cosine_schedule_with_warmup`: λ(t) = ramp(t) for t < W, else ``max(0, f·(1 − r) + r)``,
    so λ(T) = r. Like the plain cosine it rises again past ``T``.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W, the number of warmup steps (an integer >= 0).
        num_training_steps: T, the step at which the floor is reached (an integer >= 1).
        num_cycles: nc (a real >= 0).
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).
        min_lr: the floor as an lr, converted with the optimizer's default lr (in [0, that lr]).
        min_lr_rate: the floor as a fraction of each group's base lr (in [0, 1]).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a step count is not an integer >= 0 (``num_training_steps`` >= 1), or a
            param group's lr is negative or missing; the message names the argument.
            Also both or neither of ``min_lr`` / ``min_lr_rate`` (transformers' errors),
            ``num_cycles`` < 0, and a floor out of range.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_cosine_with_min_lr_schedule_with_warmup
        >>> sched = get_cosine_with_min_lr_schedule_with_warmup(opt, 2, 6, min_lr_rate=0.1)
        >>> lrs = []
        >>> for _ in range(8):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.8682, 0.55, 0.2318, 0.1, 0.2318]
    """
    owner = "get_cosine_with_min_lr_schedule_with_warmup"
    _check_steps(owner, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    _check_num_cycles(owner, num_cycles)
    lr_lambda = _cosine_partial(num_warmup_steps, num_training_steps, num_cycles, _min_lr_rate(owner, optimizer, min_lr, min_lr_rate))
    return _lambda_lr("get_cosine_with_min_lr_schedule_with_warmup", optimizer, lr_lambda, last_epoch)


def get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
    warmup_lr_rate: float | None = None,
) -> LambdaLR:
    """``"cosine_warmup_with_min_lr"``: the cosine with a floor, shifted one step ahead (DeepSpeed style).

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``T = num_training_steps`` and the
    linear warmup ramp ``the floor r as in get_cosine_with_min_lr_schedule_with_warmup``, all in
    floats: for t < W, ``λ = (t + 1) / max(1, W)`` or, with ``wr = warmup_lr_rate``,
    ``λ = wr + (1 − wr)·t / max(1, W − 1)``; after the warmup ``p = (t − W + 1) / max(1, T − W)``
    and ``λ = max(0, f·(1 − r) + r)``. So the first update already has lr > 0 and the floor is
    reached at t = T − 1.

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W, the number of warmup steps (an integer >= 0).
        num_training_steps: T (an integer >= 1).
        num_cycles: nc (a real >= 0).
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).
        min_lr: the floor as an lr, converted with the optimizer's default lr.
        min_lr_rate: the floor as a fraction of each group's base lr (in [0, 1]).
        warmup_lr_rate: where the warmup starts, as a fraction of the base lr (in [0, 1]), or None.

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: a step count is not an integer >= 0 (``num_training_steps`` >= 1), or a
            param group's lr is negative or missing; the message names the argument.
            Also both or neither of ``min_lr`` / ``min_lr_rate``, ``num_cycles`` < 0,
            and a rate out of range.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_cosine_with_min_lr_schedule_with_warmup_lr_rate
        >>> sched = get_cosine_with_min_lr_schedule_with_warmup_lr_rate(opt, 2, 6, min_lr_rate=0.1)
        >>> lrs = []
        >>> for _ in range(8):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.5, 1.0, 0.8682, 0.55, 0.2318, 0.1, 0.2318, 0.55]
    """
    owner = "get_cosine_with_min_lr_schedule_with_warmup_lr_rate"
    _check_steps(owner, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    _check_num_cycles(owner, num_cycles)
    if warmup_lr_rate is not None:
        _checks.real(owner, "warmup_lr_rate", warmup_lr_rate, low=0.0, high=1.0, high_open=False)
    lr_lambda = partial(
        _cosine_warmup_lr_rate_lambda,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        num_cycles=num_cycles,
        min_lr_rate=_min_lr_rate(owner, optimizer, min_lr, min_lr_rate),
        warmup_lr_rate=warmup_lr_rate,
    )
    return _lambda_lr("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", optimizer, lr_lambda, last_epoch)


def get_wsd_schedule(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_decay_steps: int,
    num_training_steps: int | None = None,
    num_stable_steps: int | None = None,
    warmup_type: str = "linear",
    decay_type: str = "cosine",
    min_lr_ratio: float = 0,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> LambdaLR:
    """Warmup-stable-decay: warmup from ``r = min_lr_ratio`` to 1, hold 1, decay to r, then hold r.

    With ``t`` the scheduler step, ``W = num_warmup_steps``, ``S`` the stable steps, ``D =
    num_decay_steps``. Warmup (t < W), with ``p = t / max(1, W)``: ``f = p`` | ``0.5·(1 − cos(πp))``
    | ``1 − sqrt(1 − p)`` for ``warmup_type`` linear | cosine | 1-sqrt. Stable (W <= t < W + S):
    λ = 1. Decay (W + S <= t < W + S + D), ``p = (t − W − S) / max(1, D)``: ``f = 1 − p`` | the
    cosine factor ``0.5·(1 + cos(π·nc·2·p))`` | ``1 − sqrt(p)``. Both phases return
    ``max(0.0, f·(1 − r) + r)``; after the decay λ = r. ``S = num_stable_steps`` (it wins over
    ``num_training_steps`` when both are given, with a warning), else ``T − W − D``; a negative
    derived ``S`` is kept as upstream (the decay then starts part-way at t = W).

    Args:
        optimizer: the optimizer whose param groups are scheduled; each group's base lr is its
            ``initial_lr`` if set, else its ``lr``.
        num_warmup_steps: W (an integer >= 0).
        num_decay_steps: D (an integer >= 0).
        num_training_steps: T, used to derive ``S = T − W − D`` (an integer >= 1), or None.
        num_stable_steps: S (an integer >= 0), or None.
        warmup_type: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
        decay_type: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
        min_lr_ratio: r, the floor as a fraction of each group's base lr (in [0, 1]).
        num_cycles: nc of the cosine decay (a real >= 0).
        last_epoch: ``-1`` for a new schedule; ``k >= 0`` resumes after step ``k`` (torch then
            requires ``initial_lr`` in every group).

    Returns:
        ``LambdaLR``: after each ``scheduler.step()`` every group's lr is ``base_lr · λ(t)`` with
        ``t = scheduler.last_epoch`` (0 right after construction, so the n-th ``optimizer.step()``
        of an ``opt.step(); sched.step()`` loop uses λ(n − 1)).

    Raises:
        ValueError: neither T nor S given, an unknown warmup or decay type (transformers' errors),
            a negative count, r outside [0, 1], nc < 0, or a negative group lr.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_wsd_schedule
        >>> sched = get_wsd_schedule(opt, num_warmup_steps=2, num_decay_steps=4, num_stable_steps=2,
        ...                          decay_type="linear", min_lr_ratio=0.1)
        >>> lrs = []
        >>> for _ in range(10):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.1, 0.55, 1.0, 1.0, 1.0, 0.775, 0.55, 0.325, 0.1, 0.1]
    """
    owner = "get_wsd_schedule"
    if num_training_steps is None and num_stable_steps is None:
        raise ValueError(f"{owner}: Either num_training_steps or num_stable_steps must be specified.")
    if num_training_steps is not None and num_stable_steps is not None:
        warnings.warn(
            "Both num_training_steps and num_stable_steps are specified. num_stable_steps will be used.",
            UserWarning,
            stacklevel=2,
        )
    if warmup_type not in WSD_SHAPES:
        raise ValueError(f"{owner}: Unknown warmup type: {warmup_type}, expected one of {WSD_SHAPES} (`warmup_type`)")
    if decay_type not in WSD_SHAPES:
        raise ValueError(f"{owner}: Unknown decay type: {decay_type}, expected one of {WSD_SHAPES} (`decay_type`)")
    _check_steps(
        owner,
        num_warmup_steps=num_warmup_steps,
        num_decay_steps=num_decay_steps,
        num_training_steps=num_training_steps,
        num_stable_steps=num_stable_steps,
    )
    _checks.real(owner, "min_lr_ratio", min_lr_ratio, low=0.0, high=1.0, high_open=False)
    _check_num_cycles(owner, num_cycles)
    if num_stable_steps is None:
        num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps
    lr_lambda = partial(
        _wsd_lambda,
        num_warmup_steps=num_warmup_steps,
        num_stable_steps=num_stable_steps,
        num_decay_steps=num_decay_steps,
        warmup_type=warmup_type,
        decay_type=decay_type,
        min_lr_ratio=min_lr_ratio,
        num_cycles=num_cycles,
    )
    return _lambda_lr("get_wsd_schedule", optimizer, lr_lambda, last_epoch)


def get_greedy_schedule(optimizer: Optimizer, **kwargs: Any) -> GreedyLR:
    """``GreedyLR(optimizer, **kwargs)``: the metric-driven schedule (see :class:`GreedyLR`).

    Args:
        optimizer: the optimizer whose group lrs are moved.
        **kwargs: :class:`GreedyLR`'s arguments.

    Returns:
        A :class:`GreedyLR`, stepped with the metric: ``sched.step(val_loss)``.

    Raises:
        ValueError: an argument :class:`GreedyLR` rejects, named.
        TypeError: ``optimizer`` is not a torch ``Optimizer``.

    Example:
        >>> import torch
        >>> from optimspec.torch import get_greedy_schedule
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
        >>> sched = get_greedy_schedule(opt, patience=1, factor=0.5)
        >>> for loss in [3.0, 2.0, 1.0]:      # two improvements in a row: the lr doubles
        ...     sched.step(loss)
        >>> sched.get_last_lr()
        [1.0]
    """
    return GreedyLR(optimizer, **kwargs)


# --------------------------------------------------------------------------------------------------
# SchedulerType and get_scheduler.
# --------------------------------------------------------------------------------------------------


class SchedulerType(str, Enum):
    """The schedule names accepted by :func:`get_scheduler` (and ``TrainingArguments.lr_scheduler_type``).

    A ``str`` enum: ``SchedulerType("cosine") == "cosine"``.

    Args:
        value: a schedule name, or a member of transformers' own ``SchedulerType``.

    Raises:
        ValueError: an unknown name, listing the known ones (transformers' message).

    Example:
        >>> from optimspec.torch import SchedulerType
        >>> SchedulerType("warmup_stable_decay") is SchedulerType.WARMUP_STABLE_DECAY
        True
        >>> SchedulerType("cosine_annealing")
        Traceback (most recent call last):
        ...
        ValueError: cosine_annealing is not a valid SchedulerType, please select one of [...]
    """

    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    INVERSE_SQRT = "inverse_sqrt"
    REDUCE_ON_PLATEAU = "reduce_lr_on_plateau"
    COSINE_WITH_MIN_LR = "cosine_with_min_lr"
    COSINE_WARMUP_WITH_MIN_LR = "cosine_warmup_with_min_lr"
    WARMUP_STABLE_DECAY = "warmup_stable_decay"
    GREEDY = "greedy"

    @classmethod
    def _missing_(cls, value: object) -> SchedulerType:
        # transformers' enums are str Enums too: accept one of theirs by its value.
        if isinstance(value, Enum) and isinstance(value.value, str) and value.value in cls._value2member_map_:
            return cls(value.value)
        raise ValueError(
            f"{value} is not a valid {cls.__name__}, please select one of {list(cls._value2member_map_)}"
        )


TYPE_TO_SCHEDULER_FUNCTION: dict[SchedulerType, Callable[..., Any]] = {
    SchedulerType.LINEAR: get_linear_schedule_with_warmup,
    SchedulerType.COSINE: get_cosine_schedule_with_warmup,
    SchedulerType.COSINE_WITH_RESTARTS: get_cosine_with_hard_restarts_schedule_with_warmup,
    SchedulerType.POLYNOMIAL: get_polynomial_decay_schedule_with_warmup,
    SchedulerType.CONSTANT: get_constant_schedule,
    SchedulerType.CONSTANT_WITH_WARMUP: get_constant_schedule_with_warmup,
    SchedulerType.INVERSE_SQRT: get_inverse_sqrt_schedule,
    SchedulerType.REDUCE_ON_PLATEAU: get_reduce_on_plateau_schedule,
    SchedulerType.COSINE_WITH_MIN_LR: get_cosine_with_min_lr_schedule_with_warmup,
    SchedulerType.COSINE_WARMUP_WITH_MIN_LR: get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    SchedulerType.WARMUP_STABLE_DECAY: get_wsd_schedule,
    SchedulerType.GREEDY: get_greedy_schedule,
}


def _layer_wise_optimizer_class() -> type | None:
    """transformers' ``LayerWiseDummyOptimizer`` when transformers is already imported.

    An optimizer can only be one if transformers was imported, so this never imports it.
    """
    if "transformers" not in sys.modules:
        return None
    from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

    return LayerWiseDummyOptimizer


def _layer_wise_scheduler(
    name: SchedulerType,
    optimizer: Optimizer,
    num_warmup_steps: int | None,
    num_training_steps: int | None,
    scheduler_specific_kwargs: dict | None,
) -> LRScheduler:
    """GaLore layer-wise training: one scheduler per parameter, stepped from a grad hook."""
    from transformers.trainer_pt_utils import LayerWiseDummyScheduler

    optimizer_dict = optimizer.optimizer_dict
    scheduler_dict = {
        param: get_scheduler(name, param_optimizer, num_warmup_steps, num_training_steps, scheduler_specific_kwargs)
        for param, param_optimizer in optimizer_dict.items()
    }

    def step_scheduler(param: Any) -> None:
        scheduler_dict[param].step()

    for param in optimizer_dict:
        if param.requires_grad:
            param.register_post_accumulate_grad_hook(step_scheduler)
    return LayerWiseDummyScheduler(optimizer_dict=optimizer_dict, lr=optimizer.defaults["lr"])


def get_scheduler(
    name: str | SchedulerType,
    optimizer: Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    scheduler_specific_kwargs: dict | None = None,
) -> LRScheduler | GreedyLR:
    """Build any schedule from its name, as ``transformers.get_scheduler`` does.

    Dispatch order: unknown ``name`` → ``ValueError``; a transformers layer-wise (GaLore) optimizer →
    one schedule per parameter; ``constant`` ignores everything else; ``reduce_lr_on_plateau`` and
    ``greedy`` get only ``scheduler_specific_kwargs``; every other type needs ``num_warmup_steps``;
    ``constant_with_warmup`` ignores the kwargs; ``inverse_sqrt`` forwards them (e.g. ``timescale``);
    ``warmup_stable_decay`` takes ``num_training_steps`` possibly ``None`` and needs
    ``num_decay_steps`` in the kwargs; the rest need ``num_training_steps`` and get the kwargs.

    Args:
        name: a :class:`SchedulerType` or its value (``"linear"``, ``"cosine"``, …; transformers'
            own ``SchedulerType`` members work too).
        optimizer: the optimizer to schedule.
        num_warmup_steps: W, for every type that warms up.
        num_training_steps: T, for every type with an end.
        scheduler_specific_kwargs: extra keyword arguments of the factory (``num_cycles``,
            ``min_lr_rate``, ``timescale``, ``num_decay_steps``, ``factor``, …).

    Returns:
        The factory's schedule: a ``LambdaLR``, a ``ReduceLROnPlateau``, a :class:`GreedyLR`, or
        for a layer-wise optimizer transformers' ``LayerWiseDummyScheduler``.

    Raises:
        ValueError: an unknown name (listing the known ones), a missing ``num_warmup_steps`` /
            ``num_training_steps`` / ``num_decay_steps`` (upstream's is a ``TypeError`` for the
            last), or an argument the factory rejects.
        TypeError: a keyword the factory does not take.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> from optimspec.torch import get_scheduler
        >>> sched = get_scheduler("linear", opt, num_warmup_steps=2, num_training_steps=5)
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.6667, 0.3333, 0.0]
    """
    name = SchedulerType(name)
    factory = TYPE_TO_SCHEDULER_FUNCTION[name]
    layer_wise = _layer_wise_optimizer_class()
    if layer_wise is not None and isinstance(optimizer, layer_wise):
        return _layer_wise_scheduler(name, optimizer, num_warmup_steps, num_training_steps, scheduler_specific_kwargs)
    if name == SchedulerType.CONSTANT:
        return factory(optimizer)
    kwargs = scheduler_specific_kwargs or {}
    if name in (SchedulerType.REDUCE_ON_PLATEAU, SchedulerType.GREEDY):
        return factory(optimizer, **kwargs)
    if num_warmup_steps is None:
        raise ValueError(f"{name.value} requires `num_warmup_steps`, please provide that argument.")
    if name == SchedulerType.CONSTANT_WITH_WARMUP:
        return factory(optimizer, num_warmup_steps=num_warmup_steps)
    if name == SchedulerType.INVERSE_SQRT:
        return factory(optimizer, num_warmup_steps=num_warmup_steps, **kwargs)
    if name != SchedulerType.WARMUP_STABLE_DECAY and num_training_steps is None:
        raise ValueError(f"{name.value} requires `num_training_steps`, please provide that argument.")
    if name == SchedulerType.WARMUP_STABLE_DECAY and "num_decay_steps" not in kwargs:
        # Upstream: a TypeError from the factory call. The other missing arguments are ValueErrors.
        raise ValueError(f"{name.value} requires `num_decay_steps` in `scheduler_specific_kwargs`.")
    return factory(optimizer, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps, **kwargs)

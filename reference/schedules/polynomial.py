"""``polynomial``: ``get_polynomial_decay_schedule_with_warmup`` — linear warmup, then a
polynomial decay from ``lr`` to ``lr_end``, held at ``lr_end`` after T.

With lr = optimizer.defaults["lr"] (``lr_init`` upstream)::

    λ(t) = t / max(1, W)                              for t < W
    λ(t) = lr_end / lr                                for t > T (strict)
    pr   = 1 − (t − W) / (T − W)                      (integer t − W and T − W, true division)
    λ(t) = ((lr − lr_end) · pr^power + lr_end) / lr   otherwise (decay, then divide)

Each group's lr is ``group_lr · λ``: the decay is computed on the optimizer's default lr, so a
group with its own lr ends at ``group_lr · lr_end / lr``, not at ``lr_end``.

Edge cases: λ(W) = 1 and λ(T) = lr_end / lr for power > 0. With power = 0, pr^0 = 1 even at
pr = 0, so λ(T) = 1 and λ **jumps** to lr_end / lr at T + 1. If T < W every t ≥ W takes the
t > T branch. Rejected at construction (transformers fails): ``lr_end >= lr`` (upstream
ValueError), ``W == T`` (upstream ZeroDivisionError at t = W), ``power < 0`` (0.0 ** −k at t = T).

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("polynomial", [0, 1, 2, 6, 10, 11], {"lr": 10.0, "num_warmup_steps": 2,
    ...                     "num_training_steps": 10, "lr_end": 1e-7, "power": 2.0})[:, 0].tolist()
    [0.0, 5.0, 10.0, 2.500000075, 1e-07, 1e-07]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec, HParam, Real, check
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, TOTAL, WARMUP, ramp

SPEC = AlgorithmSpec(
    name="polynomial",
    kind="schedule",
    summary="linear warmup from 0, then (lr − lr_end)·(1 − p)^power + lr_end, relative to the default lr",
    hparams=(
        LR,
        GROUP_LRS,
        WARMUP,
        TOTAL,
        HParam("lr_end", 1e-7, Real(), "final lr, absolute (in units of the optimizer's default lr)"),
        HParam("power", 1.0, Real(0.0), "exponent of the remaining fraction"),
    ),
    conventions=(STEP_OFFSET,),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_polynomial_decay_schedule_with_warmup",
    checks=(
        check(lambda v: v["lr"] > v["lr_end"], "`lr_end`={lr_end!r} must be smaller than the initial lr `lr`={lr!r}"),
        check(
            lambda v: v["num_training_steps"] != v["num_warmup_steps"],
            "`num_training_steps` must differ from `num_warmup_steps` (both {num_training_steps}): the decay "
            "would divide by T − W = 0",
        ),
    ),
    history=(
        "Unchanged through v4 and v5. PR #47285 (a guard for W = T) was closed without merging: v5.24 still raises ZeroDivisionError at t = W when W = T.",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
        "`num_training_steps` == `num_warmup_steps` is rejected at construction (upstream: ZeroDivisionError at t = W).",
        "`power` < 0 is rejected (upstream: 0.0 ** −k raises at t = T).",
        "`lr_end` >= the optimizer's lr is rejected, as upstream does (its ValueError, equal values included).",
        "Kept: the decay is computed on the optimizer's default lr, so a group with its own lr ends at group_lr·lr_end/lr, not at lr_end.",
    ),
)


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup, total = hp["num_warmup_steps"], hp["num_training_steps"]
    if t < warmup:
        return ramp(t, warmup, nx)
    lr_init, lr_end = nx.scalar(hp["lr"]), nx.scalar(hp["lr_end"])
    if t > total:
        return lr_end / lr_init
    remaining = 1 - nx.scalar(t - warmup) / nx.scalar(total - warmup)
    decay = (lr_init - lr_end) * nx.pow(remaining, nx.scalar(hp["power"])) + lr_end
    return decay / lr_init

"""``cosine_with_min_lr``: ``get_cosine_with_min_lr_schedule_with_warmup`` — ``cosine`` with its
wave lifted onto a floor rate r.

    r    = min_lr / lr            if min_lr is given (lr = optimizer.defaults["lr"])
    r    = min_lr_rate            otherwise
    λ(t) = t / max(1, W)                              for t < W
    p    = (t − W) / max(1, T − W)
    f    = 0.5 · (1 + cos(((π · nc) · 2) · p))
    λ(t) = max(0, f · (1 − r) + r)                    otherwise (rescaled BEFORE the clamp)

Exactly one of ``min_lr`` / ``min_lr_rate`` must be given (transformers raises otherwise, and so
does this reference). ``min_lr`` is converted with the optimizer's default ``lr``: a group whose own
lr differs gets the floor ``group_lr · r``, not ``min_lr``. λ(W) = 1, λ(T) = r (up to cos(math.pi)),
and like ``cosine`` the wave is **periodic past T** (back at 1 at t = 2T − W); under
``past_total="clamped"`` (optax, keras: their ``alpha``/``end_value`` floors) it stays at r.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("cosine_with_min_lr", [0, 1, 2, 6, 10, 18], {"lr": 10.0,
    ...                     "num_warmup_steps": 2, "num_training_steps": 10, "min_lr_rate": 0.1})[:, 0].tolist()
    [0.0, 5.0, 10.0, 5.5, 1.0, 10.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec, HParam, Real, check
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, TOTAL, WARMUP, ramp
from .cosine import NUM_CYCLES, PAST_TOTAL, progress, wave

MIN_LR = HParam("min_lr", None, Real(0.0, optional=True), "absolute floor, turned into a rate with `lr` (the optimizer default)")
MIN_LR_RATE = HParam("min_lr_rate", None, Real(0.0, 1.0, optional=True), "floor as a fraction of each group's base lr")

MIN_LR_CHECKS = (
    check(lambda v: v["min_lr"] is None or v["min_lr_rate"] is None, "only one of `min_lr` or `min_lr_rate` may be set"),
    check(lambda v: v["min_lr"] is not None or v["min_lr_rate"] is not None, "one of `min_lr` or `min_lr_rate` must be set"),
    check(lambda v: v["min_lr"] is None or v["min_lr"] <= v["lr"], "`min_lr`={min_lr!r} must be <= `lr`={lr!r} (a floor rate above 1)"),
)

SPEC = AlgorithmSpec(
    name="cosine_with_min_lr",
    kind="schedule",
    summary="linear warmup from 0, then the cosine wave rescaled onto [r, 1]; periodic past T",
    hparams=(LR, GROUP_LRS, WARMUP, TOTAL, NUM_CYCLES, MIN_LR, MIN_LR_RATE),
    conventions=(STEP_OFFSET, PAST_TOTAL),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_cosine_with_min_lr_schedule_with_warmup",
    checks=MIN_LR_CHECKS,
    history=(
        "About v4.40 (PR #29341, after issue #26209): added, with `min_lr` / `min_lr_rate` through `lr_scheduler_kwargs`.",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
        "Exactly one of `min_lr` / `min_lr_rate`, as upstream (its ValueErrors); a rate outside [0, 1] or a `min_lr` above the optimizer's lr is rejected.",
        "Kept: `min_lr` is converted with the optimizer's default lr, so a group with its own lr gets the floor group_lr·r; the wave is periodic past T, as in cosine.",
    ),
)


def floor_rate(hp: Mapping[str, Any], nx: NumericContext) -> Any:
    """r: ``min_lr_rate``, or ``min_lr`` divided by the optimizer's default lr."""
    if hp["min_lr"] is not None:
        return nx.scalar(hp["min_lr"]) / nx.scalar(hp["lr"])
    return nx.scalar(hp["min_lr_rate"])


def lift(f: Any, rate: Any, nx: NumericContext) -> Any:
    """max(0, f · (1 − r) + r): the factor f mapped from [0, 1] onto [r, 1], then clamped at 0."""
    return nx.maximum(nx.scalar(0), f * (1 - rate) + rate)


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup, total = hp["num_warmup_steps"], hp["num_training_steps"]
    if t < warmup:
        return ramp(t, warmup, nx)
    return lift(wave(progress(t, warmup, total, variant, nx), hp["num_cycles"], nx), floor_rate(hp, nx), nx)

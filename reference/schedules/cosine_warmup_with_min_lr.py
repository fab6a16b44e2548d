"""``cosine_warmup_with_min_lr``: ``get_cosine_with_min_lr_schedule_with_warmup_lr_rate`` — the
min-lr cosine shifted one step earlier, with an optional warmup start rate.

All arithmetic is on floats of t, W, T (exact for step counts). With r from ``min_lr`` /
``min_lr_rate`` exactly as in ``cosine_with_min_lr`` and wr = ``warmup_lr_rate``::

    λ(t) = (t + 1) / max(1, W)                        for t < W, wr is None
    λ(t) = wr + ((1 − wr) · t) / max(1, W − 1)        for t < W, wr given
    p    = (t − W + 1) / max(1, T − W)
    f    = 0.5 · (1 + cos(((π · nc) · 2) · p))
    λ(t) = max(0, f · (1 − r) + r)                    otherwise

The +1 shift is the point of this schedule: the first update already has lr > 0 (λ(0) = 1/W, or
wr), λ(W) < 1 (the first post-warmup step has already decayed), and the floor r is reached at
t = T − 1, not T. With wr the ramp reaches 1 at t = W − 1 (W ≥ 2); with W = 1, λ(0) = wr. Past
T the wave is periodic, as in ``cosine``.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("cosine_warmup_with_min_lr", [0, 1, 5, 9, 10], {"lr": 10.0,
    ...                     "num_warmup_steps": 2, "num_training_steps": 10, "min_lr_rate": 0.1})[:, 0].tolist()
    [5.0, 10.0, 5.5, 1.0, 1.3425421036992093]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec, HParam, Real
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, TOTAL, WARMUP
from .cosine import NUM_CYCLES, wave
from .cosine_with_min_lr import MIN_LR, MIN_LR_CHECKS, MIN_LR_RATE, floor_rate, lift

WARMUP_LR_RATE = HParam(
    "warmup_lr_rate", None, Real(0.0, 1.0, optional=True), "wr: λ at t = 0; None ramps (t + 1)/W instead"
)

SPEC = AlgorithmSpec(
    name="cosine_warmup_with_min_lr",
    kind="schedule",
    summary="warmup from 1/W (or warmup_lr_rate), then the min-lr cosine shifted one step earlier",
    hparams=(LR, GROUP_LRS, WARMUP, TOTAL, NUM_CYCLES, MIN_LR, MIN_LR_RATE, WARMUP_LR_RATE),
    conventions=(STEP_OFFSET,),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    checks=MIN_LR_CHECKS,
    history=(
        "v4.54.0 (PR #31870): added, with the DeepSpeed-style warmup (`warmup_lr_rate`) and the one-step shift.",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
        "`min_lr` / `min_lr_rate` as in cosine_with_min_lr; `warmup_lr_rate` outside [0, 1] is rejected.",
        "Kept: the shift by one step (λ(0) = 1/W > 0, the floor reached at T − 1) is the point of this schedule.",
    ),
)


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup, total, start = hp["num_warmup_steps"], hp["num_training_steps"], hp["warmup_lr_rate"]
    if t < warmup:
        if start is None:
            return nx.scalar(t + 1) / nx.scalar(max(1, warmup))
        start = nx.scalar(start)
        return start + (1 - start) * nx.scalar(t) / nx.scalar(max(1, warmup - 1))
    p = nx.scalar(t - warmup + 1) / nx.scalar(max(1, total - warmup))
    return lift(wave(p, hp["num_cycles"], nx), floor_rate(hp, nx), nx)

"""``cosine``: ``get_cosine_schedule_with_warmup`` — linear warmup, then a cosine wave.

    λ(t) = t / max(1, W)                              for t < W
    p    = (t − W) / max(1, T − W)                    (integer t − W, then division)
    f    = 0.5 · (1 + cos(((π · nc) · 2) · p))        (π is math.pi; this multiplication order)
    λ(t) = max(0, f)                                  otherwise

transformers 5.24 defines ``_get_cosine_schedule_with_warmup_lr_lambda`` twice; the second one
(with ``min_lr_rate=0.0``) wins, so this schedule is ``cosine_with_min_lr`` at rate 0: the extra
``f·(1 − 0) + 0`` changes no value.

Edge cases: λ(W) = 1. With nc = 0.5, λ(T) is cos(math.pi) away from 0: transformers gets 0.0
exactly, the correctly rounded value of the formula is ≈ 3.7e-33 (math.pi is not π).
**p is not clamped past T** (``past_total="periodic"``): λ rises again and is back at 1 at
t = 2T − W. If T ≤ W the denominator is 1, so after the warmup p = t − W is an integer and, with
nc = 0.5, λ alternates 1, 0, 1, 0, …

Convention peers follow instead: ``past_total="clamped"`` (optax ``warmup_cosine_decay_schedule``,
keras ``CosineDecay``) holds p at 1 after T, so λ stays at its final value.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("cosine", [0, 1, 2, 6, 18], {"lr": 10.0, "num_warmup_steps": 2,
    ...                     "num_training_steps": 10})[:, 0].tolist()
    [0.0, 5.0, 10.0, 5.0, 10.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec, Convention, HParam, Real
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, TOTAL, WARMUP, ramp

NUM_CYCLES = HParam("num_cycles", 0.5, Real(0.0), "nc: waves of the cosine over T − W steps (0.5: one half-wave down)")

PAST_TOTAL = Convention(
    "past_total",
    ("periodic", "clamped"),
    "What the cosine does after T: keeps going (the progress p is not clamped, so the lr rises "
    "again), or holds its final value (p clamped at 1).",
    {"optax warmup_cosine_decay_schedule": "clamped", "keras CosineDecay": "clamped"},
)

SPEC = AlgorithmSpec(
    name="cosine",
    kind="schedule",
    summary="linear warmup from 0, then 0.5·(1 + cos(2π·nc·p)); periodic past T",
    hparams=(LR, GROUP_LRS, WARMUP, TOTAL, NUM_CYCLES),
    conventions=(STEP_OFFSET, PAST_TOTAL),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_cosine_schedule_with_warmup",
    history=(
        "Unchanged through v4 and v5 in value; v5.24.0 defines its λ function twice (see the definition above).",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
        "`num_cycles` < 0 is rejected (upstream draws the same curve as for |nc|, since cos is even).",
        "Kept: λ rises again past T (the progress is not clamped); golden cases run to 2T.",
    ),
)


def progress(t: int, warmup: int, total: int, variant: Mapping[str, str], nx: NumericContext) -> Any:
    """p = (t − W) / max(1, T − W); held at 1 past T under ``past_total="clamped"``."""
    p = nx.scalar(t - warmup) / nx.scalar(max(1, total - warmup))
    if variant["past_total"] == "clamped":
        return nx.minimum(p, nx.scalar(1))
    return p


def wave(p: Any, num_cycles: float, nx: NumericContext) -> Any:
    """0.5 · (1 + cos(π · nc · 2 · p)), multiplied left to right as transformers does."""
    return nx.scalar(0.5) * (1 + nx.cos(nx.pi * nx.scalar(num_cycles) * 2 * p))


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup, total = hp["num_warmup_steps"], hp["num_training_steps"]
    if t < warmup:
        return ramp(t, warmup, nx)
    return nx.maximum(nx.scalar(0), wave(progress(t, warmup, total, variant, nx), hp["num_cycles"], nx))

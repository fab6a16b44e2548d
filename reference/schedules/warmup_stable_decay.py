"""``warmup_stable_decay``: ``get_wsd_schedule`` (v4.49+ signature) — warmup, a stable phase at
the peak, a decay, then the floor ratio r = ``min_lr_ratio``.

    S    = num_stable_steps if given, else T − W − D  (may be negative: kept, see below)
    p    = t / max(1, W)                              for t < W:
    f    = p | 0.5 · (1 − cos(π · p)) | 1 − √(1 − p)  (warmup_type linear | cosine | 1-sqrt)
    λ(t) = max(0, f · (1 − r) + r)
    λ(t) = 1                                          for W ≤ t < W + S
    p    = (t − W − S) / max(1, D)                    for W + S ≤ t < W + S + D:
    f    = 1 − p | 0.5 · (1 + cos(((π · nc) · 2) · p)) | 1 − √p   (decay_type)
    λ(t) = max(0, f · (1 − r) + r)
    λ(t) = r                                          otherwise

Edge cases kept from transformers: **the warmup starts at r, not 0** (λ(0) = r); when both T and S
are given, S wins (transformers also warns); an inferred S = T − W − D < 0 is not checked
upstream, and the decay then starts mid-curve at t = W (p = −S / D there) and ends at T, which
this reference keeps. Rejected at construction: neither T nor S given, an unknown warmup or
decay type (transformers' own errors), an explicit negative ``num_stable_steps``, negative
counts, r outside [0, 1] and nc < 0.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("warmup_stable_decay", [0, 1, 2, 5, 7, 9], {"lr": 10.0,
    ...                     "num_warmup_steps": 2, "num_stable_steps": 3, "num_decay_steps": 4,
    ...                     "min_lr_ratio": 0.1})[:, 0].tolist()
    [1.0, 5.5, 10.0, 10.0, 5.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import REQUIRED, AlgorithmSpec, HParam, Integer, OneOf, Real, check
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, WARMUP, ramp
from .cosine import NUM_CYCLES, wave
from .cosine_with_min_lr import lift

# Warmup shapes rise 0 → 1 and decay shapes fall 1 → 0 over the phase progress p ∈ [0, 1).
WARMUP_SHAPES: dict[str, Callable[[Any, NumericContext], Any]] = {
    "linear": lambda p, nx: p,
    "cosine": lambda p, nx: nx.scalar(0.5) * (1 - nx.cos(nx.pi * p)),
    "1-sqrt": lambda p, nx: 1 - nx.sqrt(1 - p),
}
DECAY_SHAPES: dict[str, Callable[[Any, float, NumericContext], Any]] = {
    "linear": lambda p, num_cycles, nx: 1 - p,
    "cosine": wave,
    "1-sqrt": lambda p, num_cycles, nx: 1 - nx.sqrt(p),
}
SHAPE_NAMES = tuple(WARMUP_SHAPES)

SPEC = AlgorithmSpec(
    name="warmup_stable_decay",
    kind="schedule",
    summary="warmup from r, stable at the peak, decay to r (linear / cosine / 1-sqrt shapes), then r",
    hparams=(
        LR,
        GROUP_LRS,
        WARMUP,
        HParam("num_decay_steps", REQUIRED, Integer(0), "D: decay length"),
        HParam("num_training_steps", None, Integer(1, optional=True), "T: used only to infer S = T − W − D"),
        HParam("num_stable_steps", None, Integer(0, optional=True), "S: stable length; wins over T when both are given"),
        HParam("warmup_type", "linear", OneOf(SHAPE_NAMES), "shape of the warmup"),
        HParam("decay_type", "cosine", OneOf(SHAPE_NAMES), "shape of the decay"),
        HParam("min_lr_ratio", 0.0, Real(0.0, 1.0), "r: floor, as a fraction of each group's base lr"),
        NUM_CYCLES,
    ),
    conventions=(STEP_OFFSET,),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_wsd_schedule",
    checks=(
        check(
            lambda v: v["num_training_steps"] is not None or v["num_stable_steps"] is not None,
            "either `num_training_steps` or `num_stable_steps` must be given",
        ),
    ),
    history=(
        "PR #30231 (v4.46–v4.48): the first version took `num_stable_steps` as an argument, warmed up from 0, decayed with a cosine only and clamped before adding the floor.",
        "v4.49.0: `warmup_type` / `decay_type` (linear, cosine, 1-sqrt), `num_training_steps`, and the warmup starting at `min_lr_ratio` (this spec).",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
        "An explicit negative `num_stable_steps`, `min_lr_ratio` outside [0, 1] and `num_cycles` < 0 are rejected.",
        "Kept: the warmup starts at r, not 0; an inferred S = T − W − D < 0 (unchecked upstream) starts the decay part-way at t = W.",
    ),
)


def stable_steps(hp: Mapping[str, Any]) -> int:
    """S: explicit, or inferred as T − W − D (negative when W + D > T)."""
    if hp["num_stable_steps"] is not None:
        return hp["num_stable_steps"]
    return hp["num_training_steps"] - hp["num_warmup_steps"] - hp["num_decay_steps"]


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup, decay, stable = hp["num_warmup_steps"], hp["num_decay_steps"], stable_steps(hp)
    floor = nx.scalar(hp["min_lr_ratio"])
    if t < warmup:
        return lift(WARMUP_SHAPES[hp["warmup_type"]](ramp(t, warmup, nx), nx), floor, nx)
    if t < warmup + stable:
        return nx.scalar(1)
    if t < warmup + stable + decay:
        p = nx.scalar(t - warmup - stable) / nx.scalar(max(1, decay))
        return lift(DECAY_SHAPES[hp["decay_type"]](p, hp["num_cycles"], nx), floor, nx)
    return floor

"""``cosine_with_restarts``: ``get_cosine_with_hard_restarts_schedule_with_warmup`` — linear
warmup, then nc half-cosines from 1 down to 0, each restarting at 1; 0 from T on.

    λ(t) = t / max(1, W)                              for t < W
    p    = float(t − W) / float(max(1, T − W))
    λ(t) = 0                                          if p ≥ 1 (clamped past T)
    φ    = (float(nc) · p) % 1.0                      (Python float modulo)
    λ(t) = max(0, 0.5 · (1 + cos(π · φ)))             otherwise

The phase φ is computed in float64, in this order, in every numeric context: it is a sawtooth,
so one rounding decides whether a step is a restart (φ = 0, λ = 1) or the end of the previous
cycle (φ ≈ 1, λ ≈ 0). E.g. nc = 3.3, W = 0, T = 33, t = 10: the real number nc·10/33 lies just
below 1, but transformers' float64 phase is exactly 0, so λ = 1. Only the cosine of φ is
evaluated exactly.

``num_cycles`` counts restarts (default the int 1; any real ≥ 0 is accepted as upstream does).
If T ≤ W the denominator is 1, so λ = 1 at t = W and 0 after.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("cosine_with_restarts", [0, 1, 2, 4, 6, 8, 10], {"lr": 10.0,
    ...                     "num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 2})[:, 0].tolist()
    [0.0, 5.0, 10.0, 5.0, 10.0, 5.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec, HParam, Real
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, TOTAL, WARMUP, ramp

SPEC = AlgorithmSpec(
    name="cosine_with_restarts",
    kind="schedule",
    summary="linear warmup from 0, then nc half-cosines 1 → 0 with hard restarts; 0 from T on",
    hparams=(LR, GROUP_LRS, WARMUP, TOTAL, HParam("num_cycles", 1, Real(0.0), "nc: number of half-cosine cycles (hard restarts)")),
    conventions=(STEP_OFFSET,),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_cosine_with_hard_restarts_schedule_with_warmup",
    history=(
        "Unchanged through v4 and v5; `num_cycles` defaults to the int 1.",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
        "`num_cycles` < 0 is rejected.",
        "Kept: the float64 phase (nc·p) mod 1 decides whether a step is a restart, even where the exact real number would not be one.",
    ),
)


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup, total = hp["num_warmup_steps"], hp["num_training_steps"]
    if t < warmup:
        return ramp(t, warmup, nx)
    # Python floats on purpose: the sawtooth is discontinuous, so the phase must be transformers'
    # float64 phase, not the real number it approximates.
    p = float(t - warmup) / float(max(1, total - warmup))
    if p >= 1.0:
        return nx.scalar(0)
    phase = (float(hp["num_cycles"]) * p) % 1.0
    return nx.maximum(nx.scalar(0), nx.scalar(0.5) * (1 + nx.cos(nx.pi * nx.scalar(phase))))

"""``linear``: ``get_linear_schedule_with_warmup`` — linear warmup, then linear decay to 0.

    λ(t) = t / max(1, W)                              for t < W
    λ(t) = max(0, (T − t) / max(1, T − W))            otherwise (integer T − t, then division)

λ(W) = 1 exactly; λ = 0 for every t ≥ T (clamped). With T ≤ W the denominator is 1 and λ = 0 for
every t ≥ W.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("linear", [0, 1, 2, 3, 10], {"lr": 10.0, "num_warmup_steps": 2,
    ...                     "num_training_steps": 10})[:, 0].tolist()
    [0.0, 5.0, 10.0, 8.75, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, TOTAL, WARMUP, ramp

SPEC = AlgorithmSpec(
    name="linear",
    kind="schedule",
    summary="linear warmup from 0, then linear decay to 0 at T (clamped)",
    hparams=(LR, GROUP_LRS, WARMUP, TOTAL),
    conventions=(STEP_OFFSET,),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_linear_schedule_with_warmup",
    history=(
        "Unchanged through v4 and v5; the Trainer's default `lr_scheduler_type`.",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
    ),
)


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup, total = hp["num_warmup_steps"], hp["num_training_steps"]
    if t < warmup:
        return ramp(t, warmup, nx)
    return nx.maximum(nx.scalar(0), nx.scalar(total - t) / nx.scalar(max(1, total - warmup)))

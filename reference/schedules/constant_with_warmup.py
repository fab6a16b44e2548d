"""``constant_with_warmup``: ``get_constant_schedule_with_warmup`` — linear warmup, then constant.

    λ(t) = t / max(1, W)                              for t < W
    λ(t) = 1                                          otherwise

transformers guards with ``max(1.0, W)``; the value is the same as ``max(1, W)``. With W = 0 the
schedule is ``constant``; λ(W) = 1 exactly.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("constant_with_warmup", [0, 1, 3, 4, 100], {"lr": 10.0,
    ...                     "num_warmup_steps": 4})[:, 0].tolist()
    [0.0, 2.5, 7.5, 10.0, 10.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, WARMUP, ramp

SPEC = AlgorithmSpec(
    name="constant_with_warmup",
    kind="schedule",
    summary="linear warmup from 0, then the optimizer's lr",
    hparams=(LR, GROUP_LRS, WARMUP),
    conventions=(STEP_OFFSET,),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_constant_schedule_with_warmup",
    history=(
        "Unchanged through v4 and v5; `get_scheduler` passes it `num_warmup_steps` only and ignores `scheduler_specific_kwargs`.",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
    ),
)


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup = hp["num_warmup_steps"]
    if t < warmup:
        return ramp(t, warmup, nx)
    return nx.scalar(1)

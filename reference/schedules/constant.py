"""``constant``: ``get_constant_schedule`` — the optimizer's lr, unchanged.

    λ(t) = 1                                          for every t

transformers returns the int ``1``; the product ``base_lr · 1`` is the same float. No warmup, no
validation: every step offset gives the same value, so no golden case can discriminate one.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("constant", [0, 1, 1000], {"lr": 10.0, "group_lrs": [10.0, 0.5]}).tolist()
    [[10.0, 0.5], [10.0, 0.5], [10.0, 0.5]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET

SPEC = AlgorithmSpec(
    name="constant",
    kind="schedule",
    summary="the optimizer's lr at every step",
    hparams=(LR, GROUP_LRS),
    conventions=(STEP_OFFSET,),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_constant_schedule",
    history=(
        "Unchanged through v4 and v5; `get_scheduler(\"constant\", …)` ignores every other argument.",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
    ),
)


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    return nx.scalar(1)

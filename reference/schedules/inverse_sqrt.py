"""``inverse_sqrt``: ``get_inverse_sqrt_schedule`` — linear warmup, then 1/√ decay.

    τ    = timescale if given, else (W or 10 000)     (W = 0 gives 10 000, not 0)
    λ(t) = t / max(1, W)                              for t < W
    λ(t) = 1 / √((t + (τ − W)) / τ)                   otherwise

λ(W) = 1 exactly and λ(t) → 0 like √(τ / t); there is no total step count. An explicit
``timescale`` ≤ 0 is rejected at construction (transformers divides by zero at τ = 0, and takes
the square root of a negative number for τ < 0). Through ``get_scheduler`` transformers ignored
``timescale`` up to v5.3.0; v5.4.0 forwards it, as this reference assumes.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("inverse_sqrt", [0, 1, 2, 4, 8], {"lr": 10.0,
    ...                     "num_warmup_steps": 2})[:, 0].tolist()
    [0.0, 5.0, 10.0, 7.0710678118654755, 5.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec, HParam, Real
from ._common import GROUP_LRS, LAMBDA_DECISIONS, LAMBDA_INDEXING, LR, STEP_OFFSET, WARMUP, ramp

DEFAULT_TIMESCALE = 10_000  # transformers' fallback when W = 0

SPEC = AlgorithmSpec(
    name="inverse_sqrt",
    kind="schedule",
    summary="linear warmup from 0, then 1/√((t + τ − W)/τ)",
    hparams=(
        LR,
        GROUP_LRS,
        WARMUP,
        HParam("timescale", None, Real(0.0, low_open=True, optional=True), "τ; None: W, or 10 000 when W = 0"),
    ),
    conventions=(STEP_OFFSET,),
    step_indexing=LAMBDA_INDEXING,
    source="transformers v5.24.0 optimization.py get_inverse_sqrt_schedule",
    history=(
        "PR #28982: `num_warmup_steps` = 0 falls back to a timescale of 10 000 (it divided by zero before).",
        "v5.4.0 (PR #44909): `get_scheduler` forwards `scheduler_specific_kwargs`, so `timescale` reaches the factory; up to v5.3.0 it was silently ignored.",
    ),
    decisions=(
        *LAMBDA_DECISIONS,
        "An explicit `timescale` <= 0 is rejected (upstream: ZeroDivisionError at 0, a math domain error below).",
    ),
)


def multiplier(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    warmup = hp["num_warmup_steps"]
    if t < warmup:
        return ramp(t, warmup, nx)
    timescale = nx.scalar(hp["timescale"] if hp["timescale"] is not None else (warmup or DEFAULT_TIMESCALE))
    shift = timescale - nx.scalar(warmup)
    return 1 / nx.sqrt((nx.scalar(t) + shift) / timescale)

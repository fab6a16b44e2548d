"""``warmup``: transformers' TF ``WarmUp(initial_learning_rate, decay_schedule_fn, warmup_steps,
power)``, with the decay modelled as a Keras ``PolynomialDecay`` (``polynomial_decay``) that starts
from the same initial lr, as in ``create_optimizer``::

    lr(t) = initial·(t / W)^power                                     for t < W
    lr(t) = PolynomialDecay(initial, decay_steps, end, decay_power)(t − W)   otherwise

The decay sees the step shifted by W (PR #4940). lr(0) = 0 (for power > 0), lr(W) = initial, and
lr(t) = end for t ≥ W + decay_steps. ``power`` = 0 keeps the warmup at the initial lr (pow(0, 0) = 1).

The decay schedule is a live object upstream; it is described here by ``decay_steps``,
``end_learning_rate`` and ``decay_power`` (Keras' defaults for the last two) so that a case is plain
data. ``warmup_steps`` ≤ 0 is rejected (W = 0 divides by zero in the warmup branch, which TF
evaluates before its ``cond`` discards it) and so is a negative ``power`` (infinite lr at t = 0).
Keras computes in float32; the golden values are the exact values, judged in float32 ε.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("warmup", [0, 1, 2, 3, 4, 6, 7], {"initial_learning_rate": 1.0,
    ...                     "warmup_steps": 2, "power": 2.0, "decay_steps": 4,
    ...                     "end_learning_rate": 0.5})[:, 0].tolist()
    [0.0, 0.25, 1.0, 0.875, 0.75, 0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._numeric import NumericContext, Scalar
from .._spec import REQUIRED, AlgorithmSpec, HParam, Integer, Real
from ._common import STEP_OFFSET
from .polynomial_decay import KERAS_INDEXING, decayed

DTYPE = "float32"

SPEC = AlgorithmSpec(
    name="warmup",
    kind="schedule",
    summary="TF WarmUp: initial·(t/W)^power for t < W, then a Keras PolynomialDecay of t − W",
    hparams=(
        HParam("initial_learning_rate", REQUIRED, Real(0.0, low_open=True), "lr reached at the end of the warmup"),
        HParam("warmup_steps", REQUIRED, Integer(1), "W: warmup length"),
        HParam("power", 1.0, Real(0.0), "exponent of the warmup ramp"),
        HParam("decay_steps", REQUIRED, Integer(1), "the decay schedule's decay_steps"),
        HParam("end_learning_rate", 0.0001, Real(0.0), "the decay schedule's end lr"),
        HParam("decay_power", 1.0, Real(0.0), "the decay schedule's power"),
    ),
    conventions=(STEP_OFFSET,),
    step_indexing=KERAS_INDEXING,
    source="transformers v4.57.6 optimization_tf.py WarmUp (decay: Keras PolynomialDecay)",
    history=(
        "PR #4940: the decay schedule receives step − W.",
        "v4.57.6 is the last release with the TF helpers; v5.0.0 removed them (PR #40760).",
    ),
    decisions=(
        "`warmup_steps` <= 0 is rejected (W = 0 divides by zero in the warmup branch, which TF evaluates before its cond discards it); so is `power` < 0 (an infinite lr at t = 0).",
    ),
)


def warmed_up(t: int, initial: Scalar, warmup_steps: int, power: float, decay: Callable[[int], Any], nx: NumericContext) -> Any:
    """``WarmUp(initial, decay, warmup_steps, power)(t)``."""
    if t < warmup_steps:
        return nx.scalar(initial) * nx.pow(nx.scalar(t) / nx.scalar(warmup_steps), power)
    return decay(t - warmup_steps)


def learning_rate(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    initial = hp["initial_learning_rate"]

    def decay(step: int) -> Any:
        return decayed(step, initial, hp["decay_steps"], hp["end_learning_rate"], hp["decay_power"], nx)

    return warmed_up(t, initial, hp["warmup_steps"], hp["power"], decay, nx)

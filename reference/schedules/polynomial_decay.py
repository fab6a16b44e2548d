"""``polynomial_decay``: Keras ``PolynomialDecay(initial_learning_rate, decay_steps,
end_learning_rate, power)`` with ``cycle=False`` (the decay inside ``create_optimizer``)::

    s' = min(t, decay_steps)
    p  = s' / decay_steps
    lr = (initial − end)·(1 − p)^power + end

lr(0) = initial; lr(t) = end for every t ≥ decay_steps (clamped). ``power`` = 0 keeps lr = initial
(Keras' pow(0, 0) = 1). An ``end_learning_rate`` above the initial one makes the lr rise.

Keras computes in the dtype of the initial lr, float32 from a Python float; the golden values are the
exact values of these formulas, judged in units of float32 ε. ``cycle=True`` is not covered.
``decay_steps`` ≤ 0 is rejected (Keras 3 raises too; Keras 2 gave 0/0 = NaN for 0) and so is a
negative ``power`` (an infinite lr at the end of the decay).

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("polynomial_decay", [0, 1, 2, 4, 5], {"initial_learning_rate": 1.0,
    ...                     "decay_steps": 4, "end_learning_rate": 0.5, "power": 2.0})[:, 0].tolist()
    [1.0, 0.78125, 0.625, 0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext, Scalar
from .._spec import REQUIRED, AlgorithmSpec, HParam, Integer, Real
from ._common import STEP_OFFSET

DTYPE = "float32"

KERAS_INDEXING = (
    "t = optimizer.iterations before its increment: 0 at the first update; the n-th update uses lr(n−1)"
)

SPEC = AlgorithmSpec(
    name="polynomial_decay",
    kind="schedule",
    summary="Keras PolynomialDecay (cycle=False): polynomial decay from the initial to the end lr over decay_steps, then constant",
    hparams=(
        HParam("initial_learning_rate", REQUIRED, Real(0.0, low_open=True), "lr at step 0"),
        HParam("decay_steps", REQUIRED, Integer(1), "steps to reach the end lr"),
        HParam("end_learning_rate", 0.0001, Real(0.0), "lr from decay_steps on"),
        HParam("power", 1.0, Real(0.0), "exponent of the decay"),
    ),
    conventions=(STEP_OFFSET,),
    step_indexing=KERAS_INDEXING,
    source="keras 3.15.1 keras/src/optimizers/schedules/learning_rate_schedule.py PolynomialDecay (same math as tf-keras 2.15)",
    history=(
        "Keras' own schedule, the decay that `create_optimizer` builds.",
    ),
    decisions=(
        "`decay_steps` <= 0 is rejected (Keras 3 raises too; Keras 2 gave 0/0 = NaN for 0); so is `power` < 0 (an infinite lr at the end of the decay). `cycle=True` is not specified.",
    ),
)


def decayed(step: int, initial: Scalar, decay_steps: int, end: Scalar, power: float, nx: NumericContext) -> Any:
    """``PolynomialDecay(initial, decay_steps, end, power)(step)``."""
    fraction = nx.scalar(min(step, decay_steps)) / nx.scalar(decay_steps)
    initial, end = nx.scalar(initial), nx.scalar(end)
    return (initial - end) * nx.pow(nx.scalar(1) - fraction, power) + end


def learning_rate(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    return decayed(t, hp["initial_learning_rate"], hp["decay_steps"], hp["end_learning_rate"], hp["power"], nx)

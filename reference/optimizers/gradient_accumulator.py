"""``gradient_accumulator``: transformers' TF ``GradientAccumulator`` (from OpenNMT-tf; v4.x).

It holds one slot per gradient and a ``step`` counter. Events, in order:

``call(grads)``:
    1. on the first call only, create a zero slot of each non-None gradient's shape (a None gradient
       gives a None slot, for good);
    2. **then** check the count: ``len(grads) != len(slots)`` raises ``ValueError`` and changes
       nothing (no sum, no step);
    3. ``slot ← slot + g`` for every pair where both are non-None; pairs with a None on either side
       are skipped silently;
    4. ``step ← step + 1``.

``reset()``:
    ``step ← 0`` and every non-None slot ← 0; a no-op before the first call.

"The first call" is upstream's test ``if not self._gradients``: a call with an empty list creates
no slot, so the accumulator still counts as uninitialized (its step does advance): the next call
creates the slots, ``reset`` stays a no-op, and there are no gradients to read.

``gradients`` are the **sums** (no division by ``step``); before the first call there are none.
Each addition is rounded to the slot dtype, because TF accumulates in variables of the gradient's
dtype (rounding the float64 sum of two float32 values once is exactly the float32 addition).
NaN and ±inf add by IEEE rules (inf + −inf = NaN).

``replay(events, dtype)`` runs a sequence of ``{"call": [grad | None, ...]}`` and ``{"reset": True}``
events and returns, after each, ``{"step": int, "gradients": [float64 array | None, ...] or None,
"error": None | "ValueError"}``. Gradients must be representable in ``dtype`` and keep the shape
of their slot; a case that breaks this is rejected with ``ValueError`` (it has no spec'd outcome).

Example (transformers' own test)::

    >>> from optimspec.reference.optimizers.gradient_accumulator import replay
    >>> events = [{"call": [[1.0, 2.0]]}, {"call": [[-2.0, 1.0]]}, {"call": [[-1.0, 2.0]]},
    ...           {"call": [[1.0, 1.0], [1.0, 1.0]]}, {"reset": True}]
    >>> outcomes = replay(events, "float32")
    >>> [(o["step"], o["error"]) for o in outcomes]
    [(1, None), (2, None), (3, None), (3, 'ValueError'), (0, None)]
    >>> outcomes[2]["gradients"][0].tolist(), outcomes[4]["gradients"][0].tolist()
    ([-2.0, 5.0], [0.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._dtypes import representable, round_to
from .._spec import AlgorithmSpec

SPEC = AlgorithmSpec(
    name="gradient_accumulator",
    kind="accumulator",
    summary="transformers' TF GradientAccumulator: per-slot sums (no averaging), a step count, reset, a count check",
    hparams=(),
    state_fields=("step", "gradients"),
    step_indexing="step = number of successful calls since the last reset (0 before the first call)",
    source="transformers v4.52.4 src/transformers/optimization_tf.py (GradientAccumulator)",
    history=(
        "From OpenNMT-tf; issue #2794 led to replica-local ON_READ variables, so that it works under MirroredStrategy.",
        "v5.0.0 removed the TF helpers (PR #40760).",
    ),
    decisions=(
        "Kept: `gradients` are sums (no division by `step`); the count check runs after the first call created its slots, and a mismatched call changes nothing.",
    ),
)

Slots = list[np.ndarray | None]


def _gradient(value: Any, dtype: str, where: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if not representable(dtype, array):
        raise ValueError(f"{where}: the gradient is not representable in {dtype}")
    return array


def _accumulate(slots: Slots, grads: Slots, dtype: str, where: str) -> Slots:
    summed: Slots = []
    for index, (slot, grad) in enumerate(zip(slots, grads)):
        if slot is None or grad is None:
            summed.append(slot)
            continue
        if slot.shape != grad.shape:
            raise ValueError(f"{where}: gradient {index} has shape {list(grad.shape)}, its slot {list(slot.shape)}")
        with np.errstate(invalid="ignore", over="ignore"):
            summed.append(round_to(dtype, slot + grad))
    return summed


def replay(events: Sequence[Mapping[str, Any]], dtype: str) -> list[dict[str, Any]]:
    """The step, the sums and the error (if any) after each event."""
    slots: Slots | None = None
    step = 0
    outcomes: list[dict[str, Any]] = []
    for number, event in enumerate(events):
        where = f"event {number}"
        error = None
        if "reset" in event:
            if slots:
                step = 0
                slots = [None if s is None else np.zeros_like(s) for s in slots]
        elif "call" in event:
            grads: Slots = [None if g is None else _gradient(g, dtype, where) for g in event["call"]]
            if not slots:
                slots = [None if g is None else np.zeros_like(g) for g in grads]
            if len(grads) != len(slots):
                error = "ValueError"
            else:
                slots = _accumulate(slots, grads, dtype, where)
                step += 1
        else:
            raise ValueError(f"{where}: expected a 'call' or a 'reset' event, got keys {sorted(event)}")
        outcomes.append(
            {"step": step, "gradients": [None if s is None else s.copy() for s in slots] if slots else None, "error": error}
        )
    return outcomes

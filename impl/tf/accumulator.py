"""``GradientAccumulator``: replica-local gradient sums for manual accumulation loops."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def _replica_local_variable(initial_value: tf.Tensor) -> tf.Variable:
    # ON_READ keeps one copy per replica that is never synchronized; a cross-replica read returns
    # the first replica's copy (transformers#2794: MirroredVariables needed an aggregation here).
    return tf.Variable(
        initial_value,
        trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


def _fitting(index: int, slot: tf.Variable, gradient: tf.Tensor) -> tf.Tensor:
    """``gradient`` as a tensor that can be added to ``slot``; ValueError naming the slot otherwise."""
    try:
        tensor = tf.convert_to_tensor(gradient, dtype=slot.dtype)  # what assign_add would accept
    except (TypeError, ValueError) as exc:
        raise ValueError(f"gradient {index} cannot be added to its accumulator slot of dtype {slot.dtype.name}: {exc}") from None
    if not slot.shape.is_compatible_with(tensor.shape):
        raise ValueError(f"gradient {index} has shape {tensor.shape}; its accumulator slot has shape {slot.shape}")
    return tensor


class GradientAccumulator:
    """The transformers v4 ``GradientAccumulator`` (``docs/spec/gradient_accumulator.md``).

    Each call adds a list of gradients to per-slot sums and counts one step::

        sums[i] ← sums[i] + grads[i]     (for every i where both are not None)
        step    ← step + 1

    ``gradients`` returns the *sums* (no division by ``step``); scaling and applying them is the
    caller's job. ``reset()`` sets the sums and ``step`` back to zero. Slots are created on the
    first call, one per gradient, with its shape and dtype; a ``None`` gradient makes a ``None``
    slot. A call is all or nothing: a later call with a different number of gradients, or a
    gradient whose shape or dtype does not fit its slot, raises ``ValueError`` (naming the slot)
    before anything is added or counted.

    Under a ``tf.distribute`` strategy call it inside ``strategy.run``: each replica keeps its own
    sums and step, nothing is synchronized, and a read in cross-replica context returns the first
    replica's values.

    Raises:
        ValueError: a call with another number of gradients than the first (nothing is added or
            counted), or reading ``gradients`` before the first call.

    Example:
        >>> import tensorflow as tf
        >>> from optimspec.tf import GradientAccumulator
        >>> accumulator = GradientAccumulator()
        >>> accumulator([tf.constant([1.0, 2.0])])
        >>> accumulator([tf.constant([-2.0, 1.0])])
        >>> int(accumulator.step), accumulator.gradients[0].numpy().tolist()
        (2, [-1.0, 3.0])
        >>> accumulator.reset()
        >>> int(accumulator.step), accumulator.gradients[0].numpy().tolist()
        (0, [0.0, 0.0])
    """

    def __init__(self) -> None:
        self._gradients: list[tf.Variable | None] = []
        self._accum_steps: tf.Variable | None = None

    def _step_variable(self) -> tf.Variable:
        if self._accum_steps is None:
            self._accum_steps = _replica_local_variable(tf.constant(0, dtype=tf.int64))
        return self._accum_steps

    @property
    def step(self) -> tf.Tensor:
        """The number of accumulated calls since creation or the last ``reset()`` (int64)."""
        return self._step_variable().value()

    @property
    def gradients(self) -> list[tf.Tensor | None]:
        """The accumulated sums, one per slot (``None`` for a ``None`` slot)."""
        if not self._gradients:
            raise ValueError("The accumulator should be called first to initialize the gradients")
        return [None if slot is None else slot.value() for slot in self._gradients]

    def __call__(self, gradients: Sequence[tf.Tensor | None]) -> None:
        """Add ``gradients`` to the sums and advance ``step`` by one."""
        step = self._step_variable()
        if not self._gradients:
            self._gradients = [None if gradient is None else _replica_local_variable(tf.zeros_like(gradient)) for gradient in gradients]
        if len(gradients) != len(self._gradients):
            raise ValueError(f"Expected {len(self._gradients)} gradients, but got {len(gradients)}")
        additions = [(slot, _fitting(index, slot, gradient)) for index, (slot, gradient) in enumerate(zip(self._gradients, gradients)) if slot is not None and gradient is not None]
        for slot, gradient in additions:
            slot.assign_add(gradient)
        step.assign_add(1)

    def reset(self) -> None:
        """Zero ``step`` and every sum; a no-op before the first call."""
        if not self._gradients:
            return
        self._step_variable().assign(0)
        for slot in self._gradients:
            if slot is not None:
                slot.assign(tf.zeros_like(slot))

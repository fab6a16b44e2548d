"""``WarmUp``: a polynomial warmup in front of any Keras learning-rate schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from . import _checks

_OWNER = "WarmUp"


@keras.saving.register_keras_serializable(package="optimspec")
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """The transformers v4 ``WarmUp`` schedule (spec section 6.1), serializable with Keras 3.

    With ``s = float32(step)`` and ``W = warmup_steps``, computed in float32::

        lr(step) = initial_learning_rate · (s / W)^power      if s < W
                 = decay_schedule_fn(step − W)                 otherwise

    The decay schedule receives the *shifted* step in the dtype of the incoming step (int64 under
    a Keras 3 optimizer), so it starts from its own step 0 at ``step == W``. Keras evaluates a
    schedule at the optimizer's pre-increment ``iterations``, so the first update uses lr(0) = 0.

    Unlike transformers, ``warmup_steps`` must be a positive integer (W = 0 divided by zero
    upstream) and ``get_config`` round-trips through ``.keras`` files with a nested schedule.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_schedule_fn: Callable[[Any], Any],
        warmup_steps: int,
        power: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if not callable(decay_schedule_fn):
            raise TypeError(f"{_OWNER}: `decay_schedule_fn` must be callable, got {decay_schedule_fn!r}")
        self.initial_learning_rate = _checks.real(_OWNER, "initial_learning_rate", initial_learning_rate, low=0.0)
        self.decay_schedule_fn = decay_schedule_fn
        self.warmup_steps = _checks.integer(_OWNER, "warmup_steps", warmup_steps, low=1)
        self.power = _checks.real(_OWNER, "power", power, low=0.0, low_open=True)
        self.name = name

    def __call__(self, step: Any) -> tf.Tensor:
        with tf.name_scope(self.name or "WarmUp"):
            step = tf.convert_to_tensor(step)
            step_f = tf.cast(step, tf.float32)
            warmup_f = tf.cast(self.warmup_steps, tf.float32)
            warm = self.initial_learning_rate * tf.pow(step_f / warmup_f, self.power)
            return tf.cond(
                step_f < warmup_f,
                lambda: warm,
                lambda: self.decay_schedule_fn(step - self.warmup_steps),
            )

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; Keras serializes the nested ``decay_schedule_fn`` itself."""
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_schedule_fn": self.decay_schedule_fn,
            "warmup_steps": self.warmup_steps,
            "power": self.power,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WarmUp:
        """Rebuild from ``get_config()`` or from its serialized form (a nested schedule dict)."""
        config = dict(config)
        if isinstance(config["decay_schedule_fn"], dict):
            config["decay_schedule_fn"] = keras.saving.deserialize_keras_object(config["decay_schedule_fn"])
        return cls(**config)

"""``WarmUp``: a polynomial warmup in front of any Keras learning-rate schedule; ``PolynomialDecay``:
Keras' polynomial decay with construction-time argument checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from . import _checks

_OWNER = "WarmUp"


@keras.saving.register_keras_serializable(package="optimspec")
class PolynomialDecay(keras.optimizers.schedules.PolynomialDecay):
    """``keras.optimizers.schedules.PolynomialDecay`` that rejects out-of-domain arguments.

    The math, the float32 computation and the config are Keras' own (with
    ``cycle=False``, ``lr(step) = (initial − end)·(1 − min(step, decay_steps)/decay_steps)^power
    + end``); the class exists so that a warmup built by hand, ``WarmUp(lr, PolynomialDecay(lr,
    ...), W)``, fails at construction instead of training on a NaN or infinite learning rate.
    Keras itself only rejects ``decay_steps <= 0``; this also raises ``ValueError`` naming the
    argument for a non-positive or non-finite ``initial_learning_rate``, a negative
    ``end_learning_rate`` or ``power`` (``power < 0`` makes the lr infinite from ``decay_steps``
    on), and a non-integer ``decay_steps``. ``power = 0`` keeps the lr at ``initial``.

    Args:
        initial_learning_rate: the lr at step 0 (a finite real > 0).
        decay_steps: the step from which the lr stays at ``end_learning_rate`` (an integer >= 1).
        end_learning_rate: the final lr (>= 0).
        power: the exponent of the decay (>= 0; 1.0 is linear).
        cycle: Keras' restart-the-decay option.
        name: the schedule's name scope.

    Raises:
        ValueError: an out-of-domain argument (above), naming it.

    Example:
        >>> from optimspec.tf import PolynomialDecay
        >>> decay = PolynomialDecay(1.0, decay_steps=4, end_learning_rate=0.5, power=2.0)
        >>> [round(float(decay(step)), 4) for step in range(6)]
        [1.0, 0.7812, 0.625, 0.5312, 0.5, 0.5]
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        owner = "PolynomialDecay"
        if not isinstance(cycle, bool):
            raise ValueError(f"{owner}: `cycle`={cycle!r} is out of range: must be True or False")
        super().__init__(
            initial_learning_rate=_checks.real(
                owner, "initial_learning_rate", initial_learning_rate, low=0.0, low_open=True
            ),
            decay_steps=_checks.integer(owner, "decay_steps", decay_steps, low=1),
            end_learning_rate=_checks.real(owner, "end_learning_rate", end_learning_rate, low=0.0),
            power=_checks.real(owner, "power", power, low=0.0),
            cycle=cycle,
            name=name,
        )


@keras.saving.register_keras_serializable(package="optimspec")
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """The transformers v4 ``WarmUp`` schedule (``docs/spec/warmup.md``), serializable with Keras 3.

    With ``s = float32(step)`` and ``W = warmup_steps``, computed in float32::

        lr(step) = initial_learning_rate · (s / W)^power      if s < W
                 = decay_schedule_fn(step − W)                 otherwise

    The decay schedule receives the *shifted* step in the dtype of the incoming step (int64 under
    a Keras 3 optimizer), so it starts from its own step 0 at ``step == W``. Keras evaluates a
    schedule at the optimizer's pre-increment ``iterations``, so the first update uses lr(0) = 0.

    Unlike transformers, ``warmup_steps`` must be a positive integer (W = 0 divided by zero
    upstream), ``initial_learning_rate`` must be positive and ``power`` non-negative (a negative
    power made lr(0) infinite; ``power = 0`` holds the warmup at ``initial_learning_rate``, as
    pow(0, 0) = 1), and ``get_config`` round-trips through ``.keras`` files with a nested schedule.
    ``optimspec.tf.PolynomialDecay`` is a decay whose arguments are checked the same way.

    Args:
        initial_learning_rate: the lr reached at the end of the warmup (a finite real > 0).
        decay_schedule_fn: the schedule that takes over at ``step == W``, called with ``step − W``.
        warmup_steps: W (an integer >= 1).
        power: the exponent of the warmup ramp (>= 0; 1.0 is linear).
        name: the name scope (default ``"WarmUp"``).

    Raises:
        ValueError: an out-of-domain argument (above), naming it.
        TypeError: ``decay_schedule_fn`` is not callable.

    Example:
        >>> from optimspec.tf import PolynomialDecay, WarmUp
        >>> schedule = WarmUp(1.0, PolynomialDecay(1.0, decay_steps=4, end_learning_rate=0.5), warmup_steps=2)
        >>> [round(float(schedule(step)), 4) for step in range(8)]
        [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.5]
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
        self.initial_learning_rate = _checks.real(
            _OWNER, "initial_learning_rate", initial_learning_rate, low=0.0, low_open=True
        )
        self.decay_schedule_fn = decay_schedule_fn
        self.warmup_steps = _checks.integer(_OWNER, "warmup_steps", warmup_steps, low=1)
        self.power = _checks.real(_OWNER, "power", power, low=0.0)
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

"""``AdamWeightDecay``: transformers' TF Adam with decoupled, lr-scaled weight decay, on Keras 3."""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from . import _checks

_OWNER = "AdamWeightDecay"


def _variable_name(variable: Any) -> str:
    # Keras 3 variables have a path ("sequential/dense/kernel"); raw tf.Variables only a name.
    return getattr(variable, "path", None) or variable.name


@keras.saving.register_keras_serializable(package="optimspec")
class AdamWeightDecay(keras.optimizers.Adam):
    """Adam whose weight decay is applied before the update and scaled by the scheduled lr.

    The transformers v4 ``AdamWeightDecay`` (``docs/spec/adam_weight_decay.md``), as a Keras 3 optimizer. Per
    variable and step, with ``t = iterations + 1`` and ``lr`` the learning rate (or schedule value)
    at the pre-increment ``iterations``, all in the variable's dtype::

        if decays(var):  var ← var − (lr·var)·weight_decay_rate        (before Adam, lr not bias-corrected)
        α ← lr·sqrt(1 − β2ᵗ) / (1 − β1ᵗ)
        m ← m + (g − m)(1 − β1)
        v ← v + (g² − v)(1 − β2)
        v̂ ← max(v̂, v)                                               (amsgrad only; then v̂ replaces v below)
        var ← var − (m·α) / (sqrt(v) + ε)                              (ε-hat: ε on the uncorrected sqrt(v))

    Which variables decay: none if ``weight_decay_rate == 0``; otherwise a variable decays if a
    pattern of ``include_in_weight_decay`` matches its name (include wins), else not if a pattern of
    ``exclude_from_weight_decay`` matches, else it does. Patterns are regular expressions tried
    with ``re.search`` against the Keras 3 variable path, e.g. ``"sequential/dense/kernel"`` or
    ``"bert/layer_normalization/gamma"`` (``tf.Variable.name`` for raw TF variables).

    Differences from transformers, all deliberate:
    - float64 (any float dtype) variables work: the step runs in the variable's dtype, with the
      hyperparameters converted from Python floats directly. A float ``learning_rate`` lives in
      Keras' learning-rate variable (``floatx``, float32 by default); for variables wider than it
      the step uses the Python value given to the constructor (or assigned to
      ``optimizer.learning_rate``) as long as the variable still holds that value's rounding, so
      float64 variables see lr = 1e-3, not float32(1e-3). Otherwise (a value put into the variable
      directly, a restored checkpoint, or a number assigned after a ``tf.function`` was traced:
      the trace keeps the value it saw) the step uses the variable's value, as Keras would. A
      schedule's output is float32 (Keras schedules compute in float32).
    - ``get_config`` keeps the include/exclude lists (upstream lost them on a round trip).
    - sparse gradients (``tf.IndexedSlices``) are densified and take the dense formulas above.
    - out-of-range hyperparameters (clip values <= 0 included) raise ``ValueError`` at
      construction; the legacy ``decay`` and Keras' own ``weight_decay`` are rejected (they would
      change the math silently).

    ``clipnorm``, ``clipvalue``, ``global_clipnorm`` and the other Keras optimizer arguments pass
    through ``**kwargs`` to Keras; clipping acts on the gradients before the update.

    Args:
        learning_rate: a float >= 0 or a Keras ``LearningRateSchedule``.
        beta_1: β1 (in [0, 1)).
        beta_2: β2 (in [0, 1)).
        epsilon: ε, added to the uncorrected ``sqrt(v)`` (>= 0).
        amsgrad: divide by ``sqrt(max(v̂, v))``.
        weight_decay_rate: the decoupled decay rate (>= 0; 0: no decay).
        include_in_weight_decay: regular expressions of variable paths that decay even if excluded.
        exclude_from_weight_decay: regular expressions of variable paths that do not decay.
        name: the optimizer's name.
        **kwargs: further Keras optimizer arguments (``clipnorm``, ``clipvalue``,
            ``global_clipnorm``, ``use_ema``, …).

    Raises:
        ValueError: an out-of-domain argument, an invalid regular expression, a clip value <= 0,
            Keras' ``weight_decay`` or the legacy ``decay``, naming it.

    Example:
        >>> import keras, tensorflow as tf
        >>> from optimspec.tf import AdamWeightDecay
        >>> kernel, bias = keras.Variable([1.0, -2.0], name="kernel"), keras.Variable([1.0], name="bias")
        >>> optimizer = AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.1, exclude_from_weight_decay=["bias"])
        >>> _ = optimizer.apply_gradients([(tf.constant([0.5, 0.5]), kernel), (tf.constant([0.5]), bias)])
        >>> [round(x, 4) for x in kernel.numpy().tolist()], [round(x, 4) for x in bias.numpy().tolist()]
        ([0.89, -2.08], [0.9])
    """

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay_rate: float = 0.0,
        include_in_weight_decay: Sequence[str] | None = None,
        exclude_from_weight_decay: Sequence[str] | None = None,
        name: str = "AdamWeightDecay",
        **kwargs: Any,
    ) -> None:
        # Keras' weight_decay is a second, differently ordered decay; from_config passes it as None.
        if kwargs.pop("weight_decay", None) is not None:
            raise ValueError(f"{_OWNER}: `weight_decay` is not supported; use `weight_decay_rate`")
        if kwargs.pop("decay", None):
            raise ValueError(
                f"{_OWNER}: the legacy `decay` is not supported; pass a LearningRateSchedule such as "
                "keras.optimizers.schedules.InverseTimeDecay as `learning_rate`"
            )
        if not callable(learning_rate):
            learning_rate = _checks.real(_OWNER, "learning_rate", learning_rate, low=0.0)
        # Keras ignores a clip value <= 0; the legacy optimizer upstream used it (zeroing gradients).
        for clip in ("clipnorm", "clipvalue", "global_clipnorm"):
            if kwargs.get(clip) is not None:
                kwargs[clip] = _checks.real(_OWNER, clip, kwargs[clip], low=0.0, low_open=True)
        super().__init__(
            learning_rate=learning_rate,
            beta_1=_checks.real(_OWNER, "beta_1", beta_1, low=0.0, high=1.0, high_open=True),
            beta_2=_checks.real(_OWNER, "beta_2", beta_2, low=0.0, high=1.0, high_open=True),
            epsilon=_checks.real(_OWNER, "epsilon", epsilon, low=0.0),
            amsgrad=bool(amsgrad),
            name=name,
            **kwargs,
        )
        self.weight_decay_rate = _checks.real(_OWNER, "weight_decay_rate", weight_decay_rate, low=0.0)
        # The exact value of a float learning rate (Keras rounds it into a floatx variable).
        self._exact_learning_rate: float | None = None if callable(learning_rate) else learning_rate
        self._include_in_weight_decay = _checks.patterns(_OWNER, "include_in_weight_decay", include_in_weight_decay)
        self._exclude_names = _checks.patterns(_OWNER, "exclude_from_weight_decay", exclude_from_weight_decay)
        self._decays: tuple[bool, ...] = ()

    @property
    def learning_rate(self) -> Any:
        """The learning-rate variable, or the schedule's value at ``iterations`` (as in Keras)."""
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        # Keras' setter (assign a number to the variable, or replace it by a schedule), plus the
        # exact value of an assigned number for variables wider than the lr variable.
        keras.optimizers.Adam.learning_rate.fset(self, learning_rate)
        real = isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool)
        self._exact_learning_rate = float(learning_rate) if real else None

    def _learning_rate_as(self, learning_rate: Any, dtype: Any) -> tf.Tensor:
        """The step's lr in ``dtype``: the exact Python value where the lr variable is narrower
        than ``dtype`` and still holds that value's rounding, else the value as given."""
        lr = tf.convert_to_tensor(learning_rate)
        exact = self._exact_learning_rate
        held_in_variable = isinstance(self._learning_rate, keras.Variable)
        if exact is None or not held_in_variable or tf.as_dtype(dtype).size <= lr.dtype.size:
            return tf.cast(lr, dtype)
        exact_lr = tf.constant(exact, dtype)
        return tf.where(tf.equal(tf.cast(exact_lr, lr.dtype), lr), exact_lr, tf.cast(lr, dtype))

    def _do_use_weight_decay(self, param_name: str) -> bool:
        """Whether the variable named ``param_name`` decays (include wins over exclude)."""
        if self.weight_decay_rate == 0.0:
            return False
        if any(re.search(p, param_name) for p in self._include_in_weight_decay):
            return True
        return not any(re.search(p, param_name) for p in self._exclude_names)

    def exclude_from_weight_decay(self, var_list: Any = None, var_names: Any = None) -> None:
        """Not supported: Keras' exclusion feeds Keras' own decay, which this optimizer does not use."""
        raise NotImplementedError(
            f"{_OWNER}: pass regex patterns as `exclude_from_weight_decay=[...]` to the constructor"
        )

    def build(self, var_list: list[Any]) -> None:
        """Create m, v (and v̂ for amsgrad) per variable and decide once which variables decay."""
        if self.built:
            return
        super().build(var_list)
        self._decays = tuple(self._do_use_weight_decay(_variable_name(v)) for v in var_list)

    def apply(self, grads: Any, trainable_variables: Any = None) -> None:
        """Keras' ``apply``, which can also build the optimizer inside ``strategy.run``.

        Keras builds an optimizer on its first ``apply``; inside ``strategy.run`` that would create
        its variables in a replica context, which fails (a graph error under ``tf.function``).
        There this builds it in the cross-replica context instead (``merge_call``: once, for all
        replicas, eagerly), so its variables are mirrored like the model's.
        """
        if trainable_variables is not None:
            trainable_variables = list(trainable_variables)
            in_replica = tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()
            if not self.built and in_replica:
                tf.distribute.get_replica_context().merge_call(lambda _: self._build_eagerly(trainable_variables))
        super().apply(grads, trainable_variables)

    def _build_eagerly(self, var_list: list[Any]) -> None:
        with tf.init_scope():  # outside any tf.function being traced
            self.build(var_list)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """One decay-then-Adam step for one variable (the formulas in the class docstring)."""
        dtype = variable.dtype
        if isinstance(gradient, tf.IndexedSlices):
            # Upstream's sparse kernel used β·m + (1 − β)·g, the same math rounded differently;
            # densifying keeps one set of numerics (and decays the whole variable, as upstream).
            gradient = tf.convert_to_tensor(gradient)
        g = tf.cast(gradient, dtype)
        lr = self._learning_rate_as(learning_rate, dtype)
        index = self._get_variable_index(variable)
        if self._decays[index]:
            self.assign_sub(variable, lr * variable * tf.constant(self.weight_decay_rate, dtype))

        # Python floats go straight to the variable dtype (tf.cast would pass through float32).
        # β is rounded to that dtype once, before 1 − β and βᵗ, as the legacy TF kernel does: the
        # bias correction then matches the moments (rounding 1 − β separately, as Keras Adam does,
        # moves float32 updates ~1e-5 away from the float64 spec).
        beta_1 = tf.constant(self.beta_1, dtype)
        beta_2 = tf.constant(self.beta_2, dtype)
        t = tf.cast(self.iterations + 1, dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, t)) / (1 - tf.pow(beta_1, t))
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign_add(m, (g - m) * (1 - beta_1))
        self.assign_add(v, (tf.square(g) - v) * (1 - beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, tf.maximum(v_hat, v))
            v = v_hat
        self.assign_sub(variable, (m * alpha) / (tf.sqrt(v) + tf.constant(self.epsilon, dtype)))

    def get_config(self) -> dict[str, Any]:
        """The Keras config plus ``weight_decay_rate`` and both pattern lists (``None`` when empty)."""
        config = super().get_config()
        exact = self._exact_learning_rate
        if exact is not None and isinstance(self._learning_rate, keras.Variable):
            # Keras reports the float32-rounded value; give back the exact one while it still applies.
            held = self._learning_rate.numpy()
            if np.asarray(exact, dtype=held.dtype) == held:
                config["learning_rate"] = exact
        config.update(
            weight_decay_rate=self.weight_decay_rate,
            include_in_weight_decay=list(self._include_in_weight_decay) or None,
            exclude_from_weight_decay=list(self._exclude_names) or None,
        )
        return config

"""optimspec.tf: production TensorFlow / Keras 3 implementations of the transformers TF optimization API.

Drop-in replacements, with the same names, signatures and defaults, for the helpers that
transformers v4 shipped in ``optimization_tf.py`` and removed in v5:

- ``AdamWeightDecay``: Adam with decoupled weight decay applied before the update and scaled by
  the scheduled learning rate; regex include/exclude rules on Keras 3 variable paths.
- ``WarmUp``: a polynomial warmup in front of any Keras learning-rate schedule.
- ``PolynomialDecay``: Keras' ``PolynomialDecay`` with construction-time argument checks (the
  decay to put behind a hand-built ``WarmUp``).
- ``create_optimizer``: linear warmup + ``PolynomialDecay`` with ``AdamWeightDecay`` (or Keras
  ``Adam`` without weight decay); returns ``(optimizer, schedule)``.
- ``GradientAccumulator``: replica-local gradient sums for manual accumulation loops.

They are Keras 3 citizens: usable in ``model.fit`` and custom loops, under ``tf.function`` and XLA
(``jit_compile=True``) and ``tf.distribute`` strategies; ``AdamWeightDecay``, ``WarmUp`` and
``PolynomialDecay`` are registered serializables (package ``"optimspec"``), so ``.keras`` files
load without ``custom_objects`` once ``optimspec.tf`` is imported. The exact math is in
the reference (``docs/spec/adam_weight_decay.md``, ``warmup.md``, ``create_optimizer.md``,
``gradient_accumulator.md``); out-of-domain arguments raise ``ValueError`` naming the argument at
construction (the compatibility policy of ``docs/design.md``).
"""

from .accumulator import GradientAccumulator
from .adam_weight_decay import AdamWeightDecay
from .factory import create_optimizer
from .schedules import PolynomialDecay, WarmUp

__all__ = ["AdamWeightDecay", "GradientAccumulator", "PolynomialDecay", "WarmUp", "create_optimizer"]

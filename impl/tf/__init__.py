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
(``jit_compile=True``) and ``tf.distribute`` strategies. ``AdamWeightDecay``, ``WarmUp`` and
``PolynomialDecay`` are registered serializables (package ``"optimspec"``), so ``.keras`` files
load without ``custom_objects`` once ``optimspec.tf`` has been imported. Keras only restores
classes that are imported, and it has no hook through which a library could name itself: without
``import optimspec.tf``, ``keras.saving.load_model`` raises ``TypeError: Could not locate class
'AdamWeightDecay'`` and the config it prints shows ``'module': 'optimspec.tf.adam_weight_decay'``.

They need Keras' TensorFlow backend (the default): importing this package with ``KERAS_BACKEND``
set to ``jax`` or ``torch`` raises ``ImportError`` saying so. (``optimspec.torch`` is the PyTorch
implementation.)

The exact math is in the reference (``docs/spec/adam_weight_decay.md``, ``warmup.md``,
``polynomial_decay.md``, ``create_optimizer.md``, ``gradient_accumulator.md``); out-of-domain
arguments raise ``ValueError`` naming the argument at construction (the compatibility policy of
``docs/design.md``).
"""

import keras

SUPPORTED_BACKEND = "tensorflow"

if keras.backend.backend() != SUPPORTED_BACKEND:
    raise ImportError(
        f"optimspec.tf runs on Keras' TensorFlow backend only, but Keras is using {keras.backend.backend()!r} "
        f"(KERAS_BACKEND or ~/.keras/keras.json). Set KERAS_BACKEND=tensorflow before the first "
        "`import keras`, or use optimspec.torch with PyTorch."
    )

from .accumulator import GradientAccumulator  # noqa: E402  (after the backend check)
from .adam_weight_decay import AdamWeightDecay  # noqa: E402
from .factory import create_optimizer  # noqa: E402
from .schedules import PolynomialDecay, WarmUp  # noqa: E402

__all__ = ["AdamWeightDecay", "GradientAccumulator", "PolynomialDecay", "WarmUp", "create_optimizer"]

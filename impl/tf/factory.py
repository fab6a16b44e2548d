"""``create_optimizer``: transformers' warmup + polynomial-decay schedule and Adam(WeightDecay)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from . import _checks
from .adam_weight_decay import AdamWeightDecay
from .schedules import WarmUp

_OWNER = "create_optimizer"

# transformers' fixed exclusion list (PR #4448): LayerNorm gammas/betas and all biases.
_EXCLUDE_FROM_WEIGHT_DECAY = ["LayerNorm", "layer_norm", "bias"]


def create_optimizer(
    init_lr: float,
    num_train_steps: int,
    num_warmup_steps: int,
    min_lr_ratio: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.999,
    adam_epsilon: float = 1e-8,
    adam_clipnorm: float | None = None,
    adam_global_clipnorm: float | None = None,
    weight_decay_rate: float = 0.0,
    power: float = 1.0,
    include_in_weight_decay: Sequence[str] | None = None,
) -> tuple[keras.optimizers.Optimizer, keras.optimizers.schedules.LearningRateSchedule]:
    """The transformers v4 ``create_optimizer`` (``docs/spec/create_optimizer.md``): returns ``(optimizer, schedule)``.

    With T = ``num_train_steps``, W = ``num_warmup_steps`` and end = ``init_lr·min_lr_ratio``, the
    learning rate at optimizer iteration k (0-based, evaluated before the increment) is::

        lr(k) = init_lr · k / W                                             if k < W (always linear)
              = (init_lr − end) · (1 − min(k − W, T − W) / (T − W))^power + end   otherwise

    i.e. ``PolynomialDecay(init_lr, T − W, end, power)``, wrapped in ``WarmUp(init_lr, ·, W)`` when
    W > 0. As upstream, ``power`` shapes only the decay, so lr(0) = 0 when W > 0 (the first update
    leaves the weights unchanged) and lr(k ≥ T) = end.

    The optimizer is ``AdamWeightDecay`` excluding ``LayerNorm``/``layer_norm``/``bias`` from decay
    when ``weight_decay_rate > 0``, otherwise plain ``keras.optimizers.Adam``.

    Raises ``ValueError`` naming the argument where transformers would give NaN or nonsense:
    ``num_warmup_steps >= num_train_steps`` (upstream's lr was NaN after warmup for ``==``),
    non-positive ``init_lr`` or ``num_train_steps``, a negative ``power`` (``power = 0`` holds the
    lr at ``init_lr`` after the warmup), ``min_lr_ratio`` outside [0, 1], betas outside [0, 1),
    negative ``adam_epsilon``/``weight_decay_rate``, non-positive clipnorms, or both clipnorms at
    once.

    Args:
        init_lr: the peak lr (> 0).
        num_train_steps: T, the total number of steps, warmup included (an integer >= 1).
        num_warmup_steps: W, the linear warmup length (an integer >= 0, < T; 0: no warmup).
        min_lr_ratio: the final lr as a fraction of ``init_lr`` (in [0, 1]).
        adam_beta1: β1 (in [0, 1)).
        adam_beta2: β2 (in [0, 1)).
        adam_epsilon: ε, added to the uncorrected ``sqrt(v)`` (>= 0).
        adam_clipnorm: clip each gradient to this norm (> 0), or None.
        adam_global_clipnorm: clip all gradients to this global norm (> 0), or None.
        weight_decay_rate: the decoupled decay rate; 0 returns a plain ``keras.optimizers.Adam``.
        power: the exponent of the decay (>= 0).
        include_in_weight_decay: regular expressions of variable paths that decay even if excluded.

    Returns:
        ``(optimizer, schedule)``: an :class:`AdamWeightDecay` (or ``keras.optimizers.Adam``) whose
        learning rate is ``schedule``, a :class:`WarmUp` around a ``PolynomialDecay`` (or the decay
        alone when W = 0).

    Raises:
        ValueError: an out-of-domain argument or combination (above), naming it.

    Example:
        >>> from optimspec.tf import create_optimizer
        >>> optimizer, schedule = create_optimizer(1.0, num_train_steps=6, num_warmup_steps=2, min_lr_ratio=0.25)
        >>> [round(float(schedule(k)), 4) for k in range(8)]
        [0.0, 0.5, 1.0, 0.8125, 0.625, 0.4375, 0.25, 0.25]
        >>> type(create_optimizer(1.0, 6, 2, weight_decay_rate=0.01)[0]).__name__
        'AdamWeightDecay'
    """
    init_lr = _checks.real(_OWNER, "init_lr", init_lr, low=0.0, low_open=True)
    num_train_steps = _checks.integer(_OWNER, "num_train_steps", num_train_steps, low=1)
    num_warmup_steps = _checks.integer(_OWNER, "num_warmup_steps", num_warmup_steps, low=0)
    if num_warmup_steps >= num_train_steps:
        raise ValueError(
            f"{_OWNER}: `num_warmup_steps`={num_warmup_steps} is out of range: must be < "
            f"`num_train_steps`={num_train_steps}"
        )
    min_lr_ratio = _checks.real(_OWNER, "min_lr_ratio", min_lr_ratio, low=0.0, high=1.0)
    power = _checks.real(_OWNER, "power", power, low=0.0)
    weight_decay_rate = _checks.real(_OWNER, "weight_decay_rate", weight_decay_rate, low=0.0)
    if adam_clipnorm is not None and adam_global_clipnorm is not None:
        raise ValueError(f"{_OWNER}: set at most one of `adam_clipnorm` and `adam_global_clipnorm`")
    clipping = {
        key: _checks.real(_OWNER, arg, value, low=0.0, low_open=True)
        for key, arg, value in (
            ("clipnorm", "adam_clipnorm", adam_clipnorm),
            ("global_clipnorm", "adam_global_clipnorm", adam_global_clipnorm),
        )
        if value is not None
    }
    adam_args = {
        "beta_1": _checks.real(_OWNER, "adam_beta1", adam_beta1, low=0.0, high=1.0, high_open=True),
        "beta_2": _checks.real(_OWNER, "adam_beta2", adam_beta2, low=0.0, high=1.0, high_open=True),
        "epsilon": _checks.real(_OWNER, "adam_epsilon", adam_epsilon, low=0.0),
        **clipping,
    }

    schedule: keras.optimizers.schedules.LearningRateSchedule = keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=init_lr,
        decay_steps=num_train_steps - num_warmup_steps,
        end_learning_rate=init_lr * min_lr_ratio,
        power=power,
    )
    if num_warmup_steps:
        schedule = WarmUp(initial_learning_rate=init_lr, decay_schedule_fn=schedule, warmup_steps=num_warmup_steps)
    if weight_decay_rate > 0.0:
        optimizer: keras.optimizers.Optimizer = AdamWeightDecay(
            learning_rate=schedule,
            weight_decay_rate=weight_decay_rate,
            exclude_from_weight_decay=_EXCLUDE_FROM_WEIGHT_DECAY,
            include_in_weight_decay=include_in_weight_decay,
            **adam_args,
        )
    else:
        optimizer = keras.optimizers.Adam(learning_rate=schedule, **adam_args)
    return optimizer, schedule

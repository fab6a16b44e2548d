"""Golden cases for ``create_optimizer``: the schedule transformers' TF create_optimizer builds
(``sched/create_optimizer/...``) and the optimizer it returns, stepped on named variables
(``optim/create_optimizer/...``, float32: Keras evaluates the schedule in float32).

The optimizer cases give β1 and β2 as float32 values (0.9 and 0.999 rounded), as TF holds them: the
two paths create_optimizer takes (AdamWeightDecay, or Keras' Adam without decay) then compute the
same 1 − β. Only the case without decay leaves them at their defaults.
"""

import numpy as np

from .adam_weight_decay import weights
from ._build import InvalidCase, OptimizerCase, OptimizerGroup, ScheduleCase, ScheduleGroup, grad_sequence

# W = 10, T = 100: t = 0, 1, W−1, W, W+1, mid, T−1, T, T+1, 2T.
STEPS = [0, 1, 9, 10, 11, 55, 99, 100, 101, 200]
BASE = {"init_lr": 5e-5, "num_train_steps": 100, "num_warmup_steps": 10}

# A BERT-like layer, Keras 3 variable paths: the exclusion list matches LayerNorm, layer_norm and bias.
VARIABLES = {
    "encoder/dense/kernel": (2, 3),
    "encoder/dense/bias": (3,),
    "encoder/LayerNorm/gamma": (3,),
    "encoder/LayerNorm/beta": (3,),
    "decoder/layer_norm/gamma": (3,),
    "classifier/kernel": (3, 2),
}
FLOAT32_BETAS = {"adam_beta1": float(np.float32(0.9)), "adam_beta2": float(np.float32(0.999))}
SHORT = {"num_train_steps": 10, "num_warmup_steps": 0, **FLOAT32_BETAS}


def _layer_case(name: str, seed: int, hparams: dict, description: str, steps: int = 3, grad_scales: tuple[float, ...] = (1.0,), checkpoints: list[int] | None = None, discriminates: tuple[str, ...] = ()) -> OptimizerCase:
    """The layer's variables (|p| ≥ 0.5) and ``steps`` gradients, step i scaled by ``grad_scales[i % len]``."""
    grads = grad_sequence(seed + 50, VARIABLES, steps)
    grads = [{n: g * grad_scales[i % len(grad_scales)] for n, g in step.items()} for i, step in enumerate(grads)]
    return OptimizerCase(
        name=name,
        params={n: weights(seed + i, shape) for i, (n, shape) in enumerate(VARIABLES.items())},
        grads=grads,
        hparams=hparams,
        checkpoints=checkpoints,
        discriminates=discriminates,
        description=description,
    )


OPTIMIZER_GROUPS = [
    OptimizerGroup(
        name="decay-names",
        dtype="float32",
        description="the optimizer create_optimizer returns: LayerNorm, layer_norm and bias never decay, include_in_weight_decay wins",
        cases=[
            _layer_case("exclusions-t3", 100, {"init_lr": 1e-2, "weight_decay_rate": 0.5, **SHORT}, "weight decay 0.5 on the kernels only: the biases and both layer norms are excluded"),
            _layer_case(
                "include-wins-t3", 200, {"init_lr": 1e-2, "weight_decay_rate": 0.5, "include_in_weight_decay": ["LayerNorm/gamma", "dense/bias$"], **SHORT},
                "include_in_weight_decay puts encoder/LayerNorm/gamma and encoder/dense/bias back in; decoder/layer_norm/gamma stays out",
            ),
            _layer_case("no-decay-defaults-t3", 300, {"init_lr": 1e-2, "num_train_steps": 10, "num_warmup_steps": 0}, "weight_decay_rate 0 (Keras' Adam upstream) with the default betas and ε"),
            _layer_case(
                "betas-eps-t3", 400, {"init_lr": 1e-2, "weight_decay_rate": 0.1, "adam_beta1": 0.75, "adam_beta2": 0.9375, "adam_epsilon": 0.25, **{k: v for k, v in SHORT.items() if k not in FLOAT32_BETAS}},
                "every Adam setting passed on: β1 0.75, β2 0.9375 and a large ε",
            ),
        ],
    ),
    OptimizerGroup(
        name="schedule",
        dtype="float32",
        description="the optimizer follows the schedule: the lr of update n is the schedule at n (0 at the first update with a warmup)",
        cases=[
            _layer_case(
                "warmup-decay-t9", 500,
                {"init_lr": 1e-2, "num_train_steps": 6, "num_warmup_steps": 2, "min_lr_ratio": 0.25, "power": 2.0, "weight_decay_rate": 0.1, **FLOAT32_BETAS},
                "W = 2, T = 6: lr 0 at the first update (nothing moves), the warmup, the decay with power 2, then init·0.25 past T",
                steps=9, discriminates=("step_offset",),
            ),
        ],
    ),
    OptimizerGroup(
        name="clipping",
        dtype="float32",
        description="gradients clipped before the step: each to adam_clipnorm, or all together to adam_global_clipnorm",
        cases=[
            _layer_case(
                "clipnorm-t3", 600, {"init_lr": 1e-2, "adam_clipnorm": 1.0, "weight_decay_rate": 0.1, **SHORT},
                "gradient norms ≈ 0.5, 5 and 1.7 by step: clipped to 1 at the second and third steps only, which changes Adam's moments",
                grad_scales=(0.3, 3.0, 1.0),
            ),
            _layer_case(
                "global-clipnorm-t3", 700, {"init_lr": 1e-2, "adam_global_clipnorm": 2.0, "weight_decay_rate": 0.1, **SHORT},
                "all gradients scaled together when their joint norm (≈ 1.3, 13, 4.4 by step) exceeds 2",
                grad_scales=(0.3, 3.0, 1.0),
            ),
        ],
    ),
    OptimizerGroup(
        name="trajectory",
        dtype="float32",
        description="a long free-running trajectory through the warmup, the decay and past T",
        cases=[
            _layer_case(
                "bert-like-t30", 800,
                {"init_lr": 5e-3, "num_train_steps": 20, "num_warmup_steps": 5, "min_lr_ratio": 0.1, "weight_decay_rate": 0.01, **FLOAT32_BETAS},
                "30 steps: warmup to 5, decay to T = 20, then the end lr",
                steps=30, checkpoints=[0, 1, 2, 5, 6, 19, 20, 21, 29, 30],
            ),
        ],
    ),
]

GROUPS = [
    ScheduleGroup(
        name="warmup",
        description="linear warmup (power is not passed on), then the polynomial decay of t − W",
        cases=[
            ScheduleCase("w10-t100", BASE, steps=STEPS, discriminates=("step_offset",), description="defaults: decay to 0, power 1"),
            ScheduleCase("w10-t100-power0.5-ratio0.1", {**BASE, "power": 0.5, "min_lr_ratio": 0.1}, steps=STEPS, discriminates=("step_offset",)),
            ScheduleCase("w10-t100-power2-ratio0.1", {**BASE, "power": 2.0, "min_lr_ratio": 0.1}, steps=STEPS, discriminates=("step_offset",), description="power 2 shapes the decay only; the warmup stays linear"),
            ScheduleCase("w99-t100", {**BASE, "num_warmup_steps": 99, "min_lr_ratio": 0.5}, steps=[0, 1, 98, 99, 100, 101, 200], discriminates=("step_offset",), description="W = T − 1: a one-step decay"),
            ScheduleCase("ratio-one", {**BASE, "min_lr_ratio": 1.0}, steps=STEPS, description="end = init: warmup, then constant"),
        ],
    ),
    ScheduleGroup(
        name="no-warmup",
        description="W = 0: the bare PolynomialDecay, lr(0) = init_lr",
        cases=[
            ScheduleCase("w0-t100", {**BASE, "num_warmup_steps": 0}, steps=[0, 1, 50, 99, 100, 101, 200], discriminates=("step_offset",)),
            ScheduleCase("w0-t100-power2-ratio0.2", {**BASE, "num_warmup_steps": 0, "power": 2.0, "min_lr_ratio": 0.2}, steps=[0, 1, 50, 99, 100, 101, 200], discriminates=("step_offset",)),
            ScheduleCase("w0-t1", {"init_lr": 1e-3, "num_train_steps": 1, "num_warmup_steps": 0, "min_lr_ratio": 0.01}, steps=[0, 1, 2], discriminates=("step_offset",)),
        ],
    ),
    *OPTIMIZER_GROUPS,
]

INVALID = [
    InvalidCase("warmup-equals-total", {**BASE, "num_warmup_steps": 100}, "num_warmup_steps", "upstream: decay_steps = 0, a NaN lr after the warmup"),
    InvalidCase("warmup-above-total", {**BASE, "num_warmup_steps": 150}, "num_warmup_steps"),
    InvalidCase("warmup-negative", {**BASE, "num_warmup_steps": -1}, "num_warmup_steps"),
    InvalidCase("total-zero", {"init_lr": 5e-5, "num_train_steps": 0, "num_warmup_steps": 0}, "num_train_steps"),
    InvalidCase("ratio-negative", {**BASE, "min_lr_ratio": -0.1}, "min_lr_ratio"),
    InvalidCase("ratio-above-one", {**BASE, "min_lr_ratio": 1.5}, "min_lr_ratio"),
    InvalidCase("power-negative", {**BASE, "power": -1.0}, "power"),
    InvalidCase("init-lr-zero", {**BASE, "init_lr": 0.0}, "init_lr"),
    InvalidCase("beta1-one", {**BASE, "adam_beta1": 1.0}, "adam_beta1", "β1 must be < 1"),
    InvalidCase("beta2-negative", {**BASE, "adam_beta2": -0.5}, "adam_beta2", "β2 must be ≥ 0"),
    InvalidCase("epsilon-negative", {**BASE, "adam_epsilon": -1e-8}, "adam_epsilon"),
    InvalidCase("weight-decay-negative", {**BASE, "weight_decay_rate": -0.01}, "weight_decay_rate", "upstream silently returned a plain Adam"),
    InvalidCase("clipnorm-zero", {**BASE, "adam_clipnorm": 0.0}, "adam_clipnorm", "Keras ignores a clip value ≤ 0"),
    InvalidCase("both-clipnorms", {**BASE, "adam_clipnorm": 1.0, "adam_global_clipnorm": 1.0}, "adam_clipnorm", "Keras refuses both at once"),
]

"""``create_optimizer``: the learning-rate schedule that transformers' TF ``create_optimizer(init_lr,
num_train_steps, num_warmup_steps, min_lr_ratio, power)`` builds::

    decay = PolynomialDecay(init_lr, T − W, init_lr·min_lr_ratio, power)      (``polynomial_decay``)
    lr(t) = WarmUp(init_lr, decay, W)(t)    if W > 0   (``warmup`` with power 1: ``power`` is NOT passed on)
    lr(t) = decay(t)                        if W = 0

So lr(t) = init·t/W for t < W, then (init − end)·(1 − min(t − W, T − W)/(T − W))^power + end with
end = init·min_lr_ratio: lr(0) = 0 and lr(W) = init when W > 0, lr(0) = init when W = 0, and
lr(t) = end for every t ≥ T.

W ≥ T is rejected: the decay would last T − W ≤ 0 steps (upstream on Keras 2, W = T gives
0/0 = NaN after the warmup; Keras 3 raises for any W ≥ T). So are T ≤ 0 and ``min_lr_ratio``
outside [0, 1]. The optimizer
arguments (betas, epsilon, clipnorm, weight decay) do not touch the schedule and are not listed.
Keras computes in float32; the golden values are the exact values, judged in float32 ε.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("create_optimizer", [0, 2, 4, 5, 12, 13], {"init_lr": 2.0,
    ...                     "num_train_steps": 12, "num_warmup_steps": 4, "min_lr_ratio": 0.25})[:, 0].tolist()
    [0.0, 1.0, 2.0, 1.8125, 0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numeric import NumericContext
from .._spec import REQUIRED, AlgorithmSpec, HParam, Integer, Real, check
from ._common import STEP_OFFSET
from .polynomial_decay import KERAS_INDEXING, decayed
from .warmup import warmed_up

DTYPE = "float32"

SPEC = AlgorithmSpec(
    name="create_optimizer",
    kind="schedule",
    summary="TF create_optimizer's schedule: linear warmup to init_lr, then polynomial decay to init_lr·min_lr_ratio at T",
    hparams=(
        HParam("init_lr", REQUIRED, Real(0.0, low_open=True), "peak lr"),
        HParam("num_train_steps", REQUIRED, Integer(1), "T: total steps, warmup included"),
        HParam("num_warmup_steps", REQUIRED, Integer(0), "W: linear warmup length (0: none)"),
        HParam("min_lr_ratio", 0.0, Real(0.0, 1.0), "end lr as a fraction of init_lr"),
        HParam("power", 1.0, Real(0.0), "exponent of the decay (not of the warmup)"),
    ),
    conventions=(STEP_OFFSET,),
    step_indexing=KERAS_INDEXING,
    source="transformers v4.57.6 optimization_tf.py create_optimizer, WarmUp; Keras PolynomialDecay",
    checks=(
        check(
            lambda v: v["num_warmup_steps"] < v["num_train_steps"],
            "`num_warmup_steps`={num_warmup_steps} must be < `num_train_steps`={num_train_steps}: the decay "
            "would last T − W ≤ 0 steps (upstream: a NaN lr after the warmup when W = T)",
        ),
    ),
    history=(
        "v4.x: `adam_clipnorm` and `adam_global_clipnorm` added (early v4 had neither).",
        "v5.0.0 removed the TF helpers (PR #40760); transformers has no replacement.",
    ),
    decisions=(
        "`num_warmup_steps` >= `num_train_steps` is rejected (upstream: a NaN lr after the warmup when W = T); so are `init_lr` <= 0 and `min_lr_ratio` outside [0, 1].",
        "Kept: `power` shapes only the decay; the warmup is always linear (upstream does not pass it on).",
    ),
)


def learning_rate(t: int, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> Any:
    init_lr, total, warmup = hp["init_lr"], hp["num_train_steps"], hp["num_warmup_steps"]
    end = nx.scalar(init_lr) * nx.scalar(hp["min_lr_ratio"])

    def decay(step: int) -> Any:
        return decayed(step, init_lr, total - warmup, end, hp["power"], nx)

    if warmup > 0:
        return warmed_up(t, init_lr, warmup, 1.0, decay, nx)
    return decay(t)

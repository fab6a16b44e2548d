"""``create_optimizer``: transformers' TF ``create_optimizer(init_lr, num_train_steps,
num_warmup_steps, min_lr_ratio, adam_beta1, adam_beta2, adam_epsilon, adam_clipnorm,
adam_global_clipnorm, weight_decay_rate, power, include_in_weight_decay)``, which returns an
optimizer and the learning-rate schedule it runs on. Both are specified here.

The schedule (``learning_rate``; golden cases ``sched/create_optimizer/...``)::

    decay = PolynomialDecay(init_lr, T − W, init_lr·min_lr_ratio, power)      (``polynomial_decay``)
    lr(t) = WarmUp(init_lr, decay, W)(t)    if W > 0   (``warmup`` with power 1: ``power`` is NOT passed on)
    lr(t) = decay(t)                        if W = 0

So lr(t) = init·t/W for t < W, then (init − end)·(1 − min(t − W, T − W)/(T − W))^power + end with
end = init·min_lr_ratio: lr(0) = 0 and lr(W) = init when W > 0, lr(0) = init when W = 0, and
lr(t) = end for every t ≥ T.

W ≥ T is rejected: the decay would last T − W ≤ 0 steps (upstream on Keras 2, W = T gives
0/0 = NaN after the warmup; Keras 3 raises for any W ≥ T). So are T ≤ 0 and ``min_lr_ratio``
outside [0, 1]. Keras computes schedules in float32; the golden values are the exact values,
judged in float32 ε.

The optimizer (``update``; golden cases ``optim/create_optimizer/...``, float32 variables): an
``adam_weight_decay`` step on named variables (Keras 3 paths such as ``encoder/LayerNorm/gamma``)
with ``β1 = adam_beta1``, ``β2 = adam_beta2``, ``ε = adam_epsilon``, ``weight_decay_rate``, the
fixed exclusion list ``LayerNorm``, ``layer_norm``, ``bias`` (regular expressions, ``re.search``)
and ``include_in_weight_decay`` (include wins). With ``weight_decay_rate = 0`` upstream returns a
plain Keras ``Adam``, which is the same step without decay. Its learning rate at a variable's
update number ``n`` (0-based: Keras' ``iterations`` before the increment) is the schedule's value
at ``n``, rounded to float32 (Keras evaluates the schedule in float32). Before the step the
gradients are clipped as Keras does: with ``adam_clipnorm = c`` each gradient becomes
``g·c / max(‖g‖, c)``; with ``adam_global_clipnorm = c`` all of them are scaled by
``c·min(1/‖G‖, 1/c)``, ``‖G‖`` the norm of all gradients together. At most one of the two may be set.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("create_optimizer", [0, 2, 4, 5, 12, 13], {"init_lr": 2.0,
    ...                     "num_train_steps": 12, "num_warmup_steps": 4, "min_lr_ratio": 0.25})[:, 0].tolist()
    [0.0, 1.0, 2.0, 1.8125, 0.5, 0.5]
    >>> import numpy as np
    >>> hp = {"init_lr": 0.5, "num_train_steps": 10, "num_warmup_steps": 0, "weight_decay_rate": 0.1}
    >>> snaps = run.optimizer_trajectory("create_optimizer", {"dense/kernel": np.array([1.0]),
    ...     "dense/bias": np.array([1.0])}, [{"dense/kernel": np.array([0.5]), "dense/bias": np.array([0.5])}], hp)
    >>> {n: round(float(p[0]), 6) for n, p in snaps[1].params.items()}   # the bias does not decay
    {'dense/kernel': 0.45, 'dense/bias': 0.5}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._dtypes import round_to
from .._numeric import FLOAT64, Array, NumericContext
from .._spec import REQUIRED, AlgorithmSpec, HParam, Integer, Names, Real, check
from ..optimizers import adam_weight_decay
from ._common import STEP_OFFSET
from .polynomial_decay import KERAS_INDEXING, decayed
from .warmup import warmed_up

DTYPE = "float32"
#: transformers' fixed exclusion list (PR #4448): LayerNorm gammas and betas, and every bias.
EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")
_BETA = Real(0.0, 1.0, high_open=True)

SPEC = AlgorithmSpec(
    name="create_optimizer",
    kind="schedule",
    summary="TF create_optimizer: a linear warmup to init_lr, then polynomial decay to init_lr·min_lr_ratio at T, driving AdamWeightDecay (LayerNorm, layer_norm and bias excluded from decay)",
    hparams=(
        HParam("init_lr", REQUIRED, Real(0.0, low_open=True), "peak lr"),
        HParam("num_train_steps", REQUIRED, Integer(1), "T: total steps, warmup included"),
        HParam("num_warmup_steps", REQUIRED, Integer(0), "W: linear warmup length (0: none)"),
        HParam("min_lr_ratio", 0.0, Real(0.0, 1.0), "end lr as a fraction of init_lr"),
        HParam("power", 1.0, Real(0.0), "exponent of the decay (not of the warmup)"),
        HParam("adam_beta1", 0.9, _BETA, "the optimizer's β1"),
        HParam("adam_beta2", 0.999, _BETA, "the optimizer's β2"),
        HParam("adam_epsilon", 1e-8, Real(0.0), "the optimizer's ε, added to the uncorrected √v"),
        HParam("adam_clipnorm", None, Real(0.0, low_open=True, optional=True), "clip each gradient to this L2 norm"),
        HParam("adam_global_clipnorm", None, Real(0.0, low_open=True, optional=True), "clip all gradients together to this L2 norm"),
        HParam("weight_decay_rate", 0.0, Real(0.0), "decoupled decay (0: a plain Adam)"),
        HParam("include_in_weight_decay", None, Names(), "regexes (re.search) of variables that decay even if excluded"),
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
        check(
            lambda v: v["adam_clipnorm"] is None or v["adam_global_clipnorm"] is None,
            "set at most one of `adam_clipnorm` and `adam_global_clipnorm` (Keras clips by one of them)",
        ),
    ),
    state_fields=adam_weight_decay.SPEC.state_fields,
    history=(
        "v4.x: `adam_clipnorm` and `adam_global_clipnorm` added (early v4 had neither).",
        "v5.0.0 removed the TF helpers (PR #40760); transformers has no replacement.",
    ),
    decisions=(
        "`num_warmup_steps` >= `num_train_steps` is rejected (upstream: a NaN lr after the warmup when W = T); so are `init_lr` <= 0 and `min_lr_ratio` outside [0, 1].",
        "Kept: `power` shapes only the decay; the warmup is always linear (upstream does not pass it on).",
        "Rejected: both clipnorms at once, non-positive clipnorms, betas outside [0, 1), negative `adam_epsilon` or `weight_decay_rate`.",
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


# --------------------------------------------------------------------------------------------------
# the optimizer create_optimizer returns
# --------------------------------------------------------------------------------------------------

State = adam_weight_decay.State
init = adam_weight_decay.init


def scheduled_lr(iteration: int, hp: Mapping[str, Any], variant: Mapping[str, str]) -> float:
    """The learning rate of update number ``iteration`` (0-based): the schedule's value there (shifted
    by the ``step_offset`` convention), rounded to float32 as Keras evaluates it."""
    t = iteration + int(variant.get("step_offset", "0"))
    with FLOAT64.precision():
        return float(round_to("float32", np.float64(learning_rate(t, hp, variant, FLOAT64))))


def _norm(x: Array, nx: NumericContext) -> Any:
    return nx.sqrt(nx.sum(x * x))


def transform_grads(grads: Mapping[str, Array], hparams: Mapping[str, Mapping[str, Any]], nx: NumericContext) -> dict[str, Array]:
    """Keras' gradient clipping before the step: per gradient (``adam_clipnorm``) or over all of
    them together (``adam_global_clipnorm``)."""
    hp = next(iter(hparams.values()))
    clip, global_clip = hp["adam_clipnorm"], hp["adam_global_clipnorm"]
    if clip is not None:
        c = nx.scalar(clip)
        return {n: (g * c) / nx.maximum(_norm(g, nx), c) for n, g in grads.items()}
    if global_clip is not None:
        c = nx.scalar(global_clip)
        total = nx.sqrt(sum((nx.sum(g * g) for g in grads.values()), nx.scalar(0.0)))
        scale = c * nx.minimum(1 / total, 1 / c)
        return {n: g * scale for n, g in grads.items()}
    return dict(grads)


def update(
    param: Array, grad: Array, state: State, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext, name: str
) -> tuple[Array, State]:
    """One ``adam_weight_decay`` step with create_optimizer's settings (the gradient already clipped)."""
    awd = {
        "learning_rate": scheduled_lr(state.step, hp, variant),
        "beta_1": hp["adam_beta1"],
        "beta_2": hp["adam_beta2"],
        "epsilon": hp["adam_epsilon"],
        "amsgrad": False,
        "weight_decay_rate": hp["weight_decay_rate"],
        "include_in_weight_decay": hp["include_in_weight_decay"],
        "exclude_from_weight_decay": list(EXCLUDE_FROM_WEIGHT_DECAY),
    }
    return adam_weight_decay.update(param, grad, state, awd, adam_weight_decay.SPEC.variant(), nx, name)

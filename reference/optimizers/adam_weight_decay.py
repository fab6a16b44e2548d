"""``adam_weight_decay``: transformers' TF ``AdamWeightDecay`` (v4.x; removed upstream in v5).

Per tensor named ``name``, at the 1-based step ``t`` (``iterations + 1``; a per-tensor counter)::

    if decays(name):  p ← p − (lr·p)·wd                 (decay FIRST, on the previous p, plain lr)
    α ← lr·√(1 − β2ᵗ) / (1 − β1ᵗ)                       (βᵗ through ``nx.pow``)
    m ← m + (g − m)·(1 − β1)                            (the "lerp" form of the legacy TF kernel)
    v ← v + (g·g − v)·(1 − β2)
    v̂ ← max(v̂, v)                                       (amsgrad only; v̂ then replaces v below)
    p ← p − (m·α) / (√v + ε)                            (ε on the uncorrected √v: "ε-hat")

``lr`` is a constant here (a schedule would supply its value at the pre-increment ``iterations``).

Which tensors decay, ``decays(name)``:

1. none when ``weight_decay_rate == 0``;
2. yes when ``include_in_weight_decay`` is non-empty and one of its patterns matches (include wins);
3. no when ``exclude_from_weight_decay`` is non-empty and one of its patterns matches;
4. yes otherwise.

"Matches" is ``re.search(pattern, name)``: regular expressions, as transformers ≤ v4.52 did and
its docstring promised (v4.53–v4.57 used a plain substring test). Names are Keras 3 variable paths
such as ``"dense/kernel"`` or ``"encoder/LayerNorm/gamma"`` (TF 2 used ``var.name``, with ``:0``).

State: the legacy Keras slot names ``m``, ``v``, ``vhat``. ``vhat`` stays zero unless ``amsgrad``
(legacy Keras creates no ``vhat`` slot then; Keras 3 calls the three ``momentum``, ``velocity``,
``velocity_hat``). ``step`` is the number of updates this tensor received; it equals Keras'
shared ``iterations`` only while every tensor gets a gradient at every step.

Edge cases: NaN or ±inf gradients make the affected elements NaN (inf/inf in the update); zero
gradients leave only the decay; ``learning_rate == 0`` moves nothing but still advances m and v.

Hyperparameters are used exactly as given. TF holds them in the variable dtype, and for
β2 = 0.999 that float32 rounding moves 1 − β2 by 1.3e-5 (about 100 float32 ε), so float32 cases
state β1 and β2 as their float32 values.

Conventions peers follow instead (``variant``):

* ``eps_placement="after_bias_correction"`` (torch.optim, optax): ``p ← p − (m·(lr/(1−β1ᵗ))) /
  (√v/√(1−β2ᵗ) + ε)``;
* ``decay_order="after_update"`` (transformers' PyTorch AdamW): the decay multiplies the updated p;
* ``decay_lr="bias_corrected"`` (a naive port that reuses the Adam step size): ``p ← p − (α·p)·wd``.

Example::

    >>> import numpy as np
    >>> from optimspec.reference import run
    >>> hp = {"learning_rate": 0.1, "weight_decay_rate": 0.1, "exclude_from_weight_decay": ["bias"]}
    >>> snaps = run.optimizer_trajectory("adam_weight_decay",
    ...     {"dense/kernel": np.array([1.0]), "dense/bias": np.array([1.0])},
    ...     [{"dense/kernel": np.array([0.5]), "dense/bias": np.array([0.5])}], hp)
    >>> {n: round(float(p[0]), 8) for n, p in snaps[1].params.items()}
    {'dense/kernel': 0.89000063, 'dense/bias': 0.90000063}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .._numeric import Array, NumericContext
from .._spec import AlgorithmSpec, Boolean, Convention, HParam, Names, Real

_BETA = Real(0.0, 1.0, high_open=True)


def _compiles(argument: str) -> Callable[[Mapping[str, Any]], str | None]:
    """A check that every pattern of ``argument`` is a valid regular expression."""

    def run(values: Mapping[str, Any]) -> str | None:
        for pattern in values[argument] or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                return f"`{argument}` holds {pattern!r}, which is not a valid regular expression ({exc})"
        return None

    return run


SPEC = AlgorithmSpec(
    name="adam_weight_decay",
    kind="optimizer",
    summary="transformers' TF AdamWeightDecay: decay before Adam with the plain lr, lerp moments, ε-hat, amsgrad, name rules",
    hparams=(
        HParam("learning_rate", 1e-3, Real(0.0), "learning rate (a constant; also scales the decay)"),
        HParam("beta_1", 0.9, _BETA, "β1, first-moment decay"),
        HParam("beta_2", 0.999, _BETA, "β2, second-moment decay"),
        HParam("epsilon", 1e-7, Real(0.0), "added to the uncorrected √v (or √v̂)"),
        HParam("amsgrad", False, Boolean(), "divide by √max(v̂, v) instead of √v"),
        HParam("weight_decay_rate", 0.0, Real(0.0), "decoupled decay, applied before Adam with the plain lr"),
        HParam("include_in_weight_decay", None, Names(), "regexes (re.search): matching tensors decay, overriding the exclude list"),
        HParam("exclude_from_weight_decay", None, Names(), "regexes (re.search): matching tensors do not decay"),
    ),
    conventions=(
        Convention(
            "eps_placement",
            ("before_bias_correction", "after_bias_correction"),
            "Where ε enters the denominator: on √v before bias correction (ε-hat), or on √v̂ after it.",
            {"keras.optimizers.AdamW": "before_bias_correction", "torch.optim.AdamW": "after_bias_correction", "optax.adamw": "after_bias_correction"},
        ),
        Convention(
            "decay_order",
            ("before_update", "after_update"),
            "Whether the decay multiplies the previous parameter or the one Adam already updated.",
            {"keras.optimizers.AdamW": "before_update", "torch.optim.AdamW": "before_update", "transformers AdamW (PyTorch)": "after_update"},
        ),
        Convention(
            "decay_lr",
            ("scheduled", "bias_corrected"),
            "Which learning rate scales the decay: the plain (scheduled) lr, or Adam's bias-corrected step size α.",
            {"keras.optimizers.AdamW": "scheduled", "torch.optim.AdamW": "scheduled", "optax.adamw": "scheduled"},
        ),
    ),
    state_fields=("step", "m", "v", "vhat"),
    step_indexing="t = iterations + 1 at the update (per-tensor counter `step`, incremented before use); the lr is read at `iterations`",
    source="transformers v4.52.4 src/transformers/optimization_tf.py (AdamWeightDecay) over legacy Keras Adam (ResourceApplyAdam)",
    checks=(_compiles("include_in_weight_decay"), _compiles("exclude_from_weight_decay")),
    history=(
        "PR #4448 (issue #4360): `create_optimizer` excludes LayerNorm, layer_norm and bias from decay.",
        "Up to v4.52.x the include/exclude rules use `re.search`; v4.53.0–v4.57.6 use a plain substring test.",
        "v5.0.0 removed the TF helpers (PR #40760).",
    ),
    decisions=(
        "Name rules are regular expressions (`re.search`) on Keras 3 variable paths, as transformers <= v4.52 did and its docstring still promises.",
        "Any float dtype works (upstream: float32 only, its decay constant was float32); `get_config` keeps the include/exclude lists (upstream lost them).",
        "Rejected: betas outside [0, 1), a negative `epsilon`, `learning_rate` or `weight_decay_rate`, and invalid regular expressions.",
    ),
)


class State(NamedTuple):
    """Per-tensor state (legacy Keras slot names)."""

    step: int
    m: Array
    v: Array
    vhat: Array


def decays(name: str, hp: Mapping[str, Any]) -> bool:
    """Whether the tensor named ``name`` is decayed (``_do_use_weight_decay``; include wins)."""
    if hp["weight_decay_rate"] == 0.0:
        return False
    if any(re.search(pattern, name) for pattern in hp["include_in_weight_decay"] or ()):
        return True
    return not any(re.search(pattern, name) for pattern in hp["exclude_from_weight_decay"] or ())


def init(param: Array, hp: Mapping[str, Any], nx: NumericContext) -> State:
    return State(0, nx.zeros(param.shape), nx.zeros(param.shape), nx.zeros(param.shape))


def update(
    param: Array, grad: Array, state: State, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext, name: str
) -> tuple[Array, State]:
    lr, eps, wd = nx.scalar(hp["learning_rate"]), nx.scalar(hp["epsilon"]), nx.scalar(hp["weight_decay_rate"])
    beta1, beta2 = nx.scalar(hp["beta_1"]), nx.scalar(hp["beta_2"])
    step = state.step + 1
    bias1 = 1 - nx.pow(beta1, step)
    bias2 = 1 - nx.pow(beta2, step)
    alpha = (lr * nx.sqrt(bias2)) / bias1
    decay_lr = lr if variant["decay_lr"] == "scheduled" else alpha
    decay = decays(name, hp)

    if decay and variant["decay_order"] == "before_update":
        param = param - (decay_lr * param) * wd
    m = state.m + (grad - state.m) * (1 - beta1)
    v = state.v + (grad * grad - state.v) * (1 - beta2)
    vhat = nx.maximum(state.vhat, v) if hp["amsgrad"] else state.vhat
    second_moment = vhat if hp["amsgrad"] else v
    if variant["eps_placement"] == "before_bias_correction":
        param = param - (m * alpha) / (nx.sqrt(second_moment) + eps)
    else:
        param = param - (m * (lr / bias1)) / (nx.sqrt(second_moment) / nx.sqrt(bias2) + eps)
    if decay and variant["decay_order"] == "after_update":
        param = param - (decay_lr * param) * wd
    return param, State(step, m, v, vhat)

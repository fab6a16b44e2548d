"""``adamw``: transformers' legacy AdamW (v4.16–v4.49; removed upstream in v4.50).

Per tensor, at the 1-based step ``t`` (a per-tensor counter)::

    m ← m·β1 + (1 − β1)·g
    v ← v·β2 + (1 − β2)·g·g
    d ← √v + ε                                     (ε on the uncorrected √v: "ε-hat")
    s ← lr·√(1 − β2ᵗ) / (1 − β1ᵗ)  if correct_bias else lr
    p ← p − s·(m / d)
    p ← p − (lr·wd)·p                              (decay AFTER the update, plain lr; only if wd > 0)

Half-precision params (float16, bfloat16): the moments are float32 (:func:`state_dtype`) and the
step is computed from the half param and gradient in float32, the param rounded to its dtype once
per step, as optimspec.torch does (and transformers' own Adafactor does for its half params). The
reference computes the step in float64 and rounds once; a float32 computation lands within one ulp
of that half result. There is no persistent float32 copy of the param, so an update below half an
ulp is lost. transformers' own AdamW ran the whole step in the half dtype (half moments, where g·g
underflows in float16): the spec deliberately does not follow it there.

Conventions peers follow instead (``variant``):

* ``eps_placement="after_bias_correction"`` (torch.optim, optax, timm): ``d = √v/√(1−β2ᵗ) + ε``,
  ``s = lr/(1−β1ᵗ)``;
* ``decay_order="before_update"`` (torch.optim, optax, keras): ``p ← p − (lr·wd)·p`` first, on
  the previous p;
* ``decay_scale="unscaled"`` (tensorflow-addons style): ``p ← p − wd·p``.

Example::

    >>> import numpy as np
    >>> from optimspec.reference import run
    >>> snaps = run.optimizer_trajectory("adamw", {"w": np.array([1.0, -0.5])},
    ...                                  [{"w": np.array([1e-5, 0.3])}], {"lr": 1e-3})
    >>> [round(float(x), 8) for x in snaps[1].params["w"]]
    [0.99975975, -0.50099989]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .._dtypes import float32_for_half
from .._numeric import Array, NumericContext
from .._spec import AlgorithmSpec, Boolean, Convention, HParam, PairOf, Real

SPEC = AlgorithmSpec(
    name="adamw",
    kind="optimizer",
    summary="transformers' legacy AdamW: ε-hat, bias correction in the step size, decay after the update",
    hparams=(
        HParam("lr", 1e-3, Real(0.0), "learning rate"),
        HParam("betas", (0.9, 0.999), PairOf(Real(0.0, 1.0, high_open=True), Real(0.0, 1.0, high_open=True)), "(β1, β2)"),
        HParam("eps", 1e-6, Real(0.0), "added to the uncorrected √v"),
        HParam("weight_decay", 0.0, Real(0.0), "decoupled decay, applied after the update with the plain lr"),
        HParam("correct_bias", True, Boolean(), "fold √(1−β2ᵗ)/(1−β1ᵗ) into the step size"),
    ),
    conventions=(
        Convention(
            "eps_placement",
            ("before_bias_correction", "after_bias_correction"),
            "Where ε enters the denominator: on √v before bias correction (ε-hat), or on √v̂ after it.",
            {"torch.optim.AdamW": "after_bias_correction", "optax.adamw": "after_bias_correction", "keras AdamW": "before_bias_correction", "timm AdamWLegacy": "after_bias_correction"},
        ),
        Convention(
            "decay_order",
            ("after_update", "before_update"),
            "Whether decoupled decay multiplies the already-updated parameter or the previous one.",
            {"torch.optim.AdamW": "before_update", "optax.adamw": "before_update", "keras AdamW": "before_update"},
        ),
        Convention(
            "decay_scale",
            ("lr", "unscaled"),
            "Whether the decay rate is multiplied by the learning rate.",
            {"torch.optim.AdamW": "lr", "optax.adamw": "lr", "keras AdamW": "lr"},
        ),
    ),
    state_fields=("step", "exp_avg", "exp_avg_sq"),
    step_indexing="t = 1 at the first update (per-tensor counter `step`, incremented before use)",
    source="transformers v4.49.0 src/transformers/optimization.py (AdamW)",
    history=(
        "v4.16.0 (PR #14744): deprecated with a FutureWarning; the math is unchanged from then on.",
        "v4.49.0 is the last release with the class; v4.50.0 (PR #36177, after issue #35504 on ε placement) removed it.",
    ),
    decisions=(
        "Rejected at construction: `lr` < 0, betas outside [0, 1), `eps` < 0, `weight_decay` < 0 (transformers silently skipped a negative decay) and a non-bool `correct_bias`.",
        "Kept: ε on the uncorrected √v and the decay after the update (transformers#14539, #35504); the peers' choices are the conventions below.",
        "Half-precision params (optimspec.torch): float32 moments and a float32 compute copy rounded once per step, no persistent float32 weights; transformers ran the step in the half dtype, where g·g underflows.",
    ),
)


def state_dtype(param_dtype: str) -> str:
    """Half params keep their moments in float32; others in their own dtype."""
    return float32_for_half(param_dtype)


class State(NamedTuple):
    """Per-tensor AdamW state (transformers' names)."""

    step: int
    exp_avg: Array
    exp_avg_sq: Array


def init(param: Array, hp: Mapping[str, Any], nx: NumericContext) -> State:
    return State(0, nx.zeros(param.shape), nx.zeros(param.shape))


def update(
    param: Array, grad: Array, state: State, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext, name: str
) -> tuple[Array, State]:
    beta1, beta2 = (nx.scalar(b) for b in hp["betas"])
    lr, eps, wd = nx.scalar(hp["lr"]), nx.scalar(hp["eps"]), nx.scalar(hp["weight_decay"])
    step = state.step + 1
    exp_avg = state.exp_avg * beta1 + (1 - beta1) * grad
    exp_avg_sq = state.exp_avg_sq * beta2 + (1 - beta2) * (grad * grad)

    bias1 = 1 - nx.pow(beta1, step)
    bias2 = 1 - nx.pow(beta2, step)
    if variant["eps_placement"] == "before_bias_correction":
        denom = nx.sqrt(exp_avg_sq) + eps
        step_size = (lr * nx.sqrt(bias2)) / bias1 if hp["correct_bias"] else lr
    else:
        denom = nx.sqrt(exp_avg_sq) / nx.sqrt(bias2) + eps if hp["correct_bias"] else nx.sqrt(exp_avg_sq) + eps
        step_size = lr / bias1 if hp["correct_bias"] else lr

    decay = lr * wd if variant["decay_scale"] == "lr" else wd
    if variant["decay_order"] == "before_update" and hp["weight_decay"] > 0.0:
        param = param + (-decay) * param
    param = param + (-step_size) * (exp_avg / denom)
    if variant["decay_order"] == "after_update" and hp["weight_decay"] > 0.0:
        param = param + (-decay) * param
    return param, State(step, exp_avg, exp_avg_sq)

"""``adafactor``: transformers' Adafactor (fairseq-derived; the same math from v4.16 through v5.24).

Per tensor, at the 1-based step ``t`` (a per-tensor counter), in this order::

    1  t   ← t + 1
    2  RMS ← √(Σ P²) / √n                              (the parameter BEFORE this update; stored)
    3  ρ   ← min(1e-6·t if warmup_init else 1e-2, 1/√t)   if relative_step, else lr
       α   ← max(eps2, RMS)·ρ                           if scale_parameter, else ρ
    4  β̂2  ← 1 − t^decay_rate                          (t = 1 gives 0: the first step uses g² alone)
    5  U   ← g·g + eps1                                 (eps1 before any averaging)
    6a n ≥ 2 dims, factored over the last two (leading dims are batch dims):
         R ← R·β̂2 + (1 − β̂2)·mean(U, last dim)
         C ← C·β̂2 + (1 − β̂2)·mean(U, second-to-last dim)
         u ← (1/√(R / mean(R, last dim)) ⊗ 1/√C) · g   (only R is normalized, by its own mean)
    6b 0-D and 1-D:  V ← V·β̂2 + (1 − β̂2)·U ;  u ← (1/√V)·g
    7  u ← u / max(1, RMS(u)/clip_threshold)          (NaN-propagating, as torch's clamp)
    8  u ← u·α
    9  if beta1 is not None:  M ← M·β1 + (1 − β1)·u ;  u ← M   (EMA of the lr-scaled update)
    10 if weight_decay ≠ 0:   P ← P + (−weight_decay·α)·P      (on the pre-update P, scaled by α)
    11 P ← P − u

Half-precision params (float16, bfloat16): upstream steps a float32 master copy and copies it back
rounded; here the step is computed in float64 from the half param, the param rounded once per
step and the state kept in float32 (:func:`state_dtype`). float64 params compute in float64.

Edge cases:

* ``max(eps2, RMS)`` is Python's ``max``: a NaN RMS (a parameter holding NaN) gives ``eps2``, so
  the finite elements keep moving; the clipping divisor of step 7 propagates NaN instead, so a
  NaN or ±inf gradient turns the whole tensor's update into NaN.
* ``relative_step`` crosses over at t = 10⁴ (1/√t < 1e-2, and 1e-6·t > 1/√t with warmup_init).
* ``decay_rate`` = 0 keeps β̂2 = 0 (no averaging); a positive one (negative β̂2, NaN after a few
  steps) is rejected. ``eps1`` = 0 with an exactly zero gradient (an element, or a whole row of
  a factored tensor) gives 0·∞ = NaN, as upstream.
* ``relative_step=False`` with ``lr=None`` (a TypeError at the first upstream step) is rejected
  at construction, as are the two combinations transformers itself rejects.

State: one fixed record with transformers' names. A field the tensor does not use (transformers
leaves the key out: ``exp_avg`` without beta1, ``exp_avg_sq`` when factored, the row/column
statistics when not) holds None (``null`` in the goldens). ``RMS`` starts at 0.0 (transformers
stores the int 0 there; it is overwritten before it is read).

Conventions peers follow instead (``variant``):

* ``eps1_placement="clamped"`` (torch.optim.Adafactor): no eps1 in U; the row statistic is
  normalized by max(mean(R), eps1), and V̂ = (R ⊗ C)/max(mean(R), eps1) (or V) is clamped at
  eps1² before one reciprocal square root;
* ``weight_decay_scale="lr"`` (torch.optim, keras): decay scaled by ρ instead of α (ρ is the group
  lr when relative_step is off), ``"unscaled"`` (optax): ``P ← P − weight_decay·P``;
* ``factoring="unfactored"`` (optax below its 128 minimum dim size): a full second moment for
  every tensor (run on a factored state, it continues from V̂ = (R/mean(R)) ⊗ C);
* ``clip_divisor="min"`` (pytorch_optimizer since PR #477, timm AdafactorBigVision before #2790):
  ``u / min(1, RMS(u)/d)``, which inflates small updates and never clips large ones;
* ``beta2_cap="0.999"`` (pytorch_optimizer, timm AdafactorBigVision): β̂2 ← min(0.999, β̂2).

Example::

    >>> import numpy as np
    >>> from optimspec.reference import run
    >>> snaps = run.optimizer_trajectory("adafactor", {"w": np.array([3.0, -4.0])},
    ...                                  [{"w": np.array([0.5, 0.25])}], {})
    >>> snaps[1].params["w"].tolist()      # p − 0.01·RMS(p)·sign(g), RMS(p) = √12.5
    [2.9646446609406727, -4.035355339059327]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from .._dtypes import float32_for_half
from .._numeric import Array, NumericContext, Scalar
from .._spec import AlgorithmSpec, Boolean, Convention, HParam, PairOf, Real, check

SPEC = AlgorithmSpec(
    name="adafactor",
    kind="optimizer",
    summary="transformers' Adafactor: factored second moment, relative step, parameter scale, update clipping",
    hparams=(
        HParam("lr", None, Real(0.0, optional=True), "external learning rate; None with relative_step"),
        HParam("eps", (1e-30, 1e-3), PairOf(Real(0.0), Real(0.0)), "(eps1 added to g², eps2 floor of the parameter scale)"),
        HParam("clip_threshold", 1.0, Real(0.0, low_open=True), "d: the update is divided by max(1, RMS(u)/d)"),
        HParam("decay_rate", -0.8, Real(high=0.0), "β̂2 = 1 − t^decay_rate (≤ 0; 0 means no averaging)"),
        HParam("beta1", None, Real(0.0, 1.0, high_open=True, optional=True), "EMA factor of the lr-scaled update; None: off"),
        HParam("weight_decay", 0.0, Real(0.0), "decay P ← P − weight_decay·α·P on the pre-update P"),
        HParam("scale_parameter", True, Boolean(), "multiply ρ by max(eps2, RMS(P))"),
        HParam("relative_step", True, Boolean(), "ρ = min(1e-2 or 1e-6·t, 1/√t) instead of lr"),
        HParam("warmup_init", False, Boolean(), "ρ starts at 1e-6·t (requires relative_step)"),
    ),
    conventions=(
        Convention(
            "eps1_placement",
            ("added", "clamped"),
            "Whether eps1 is added to g² before averaging, or the normalizer and V̂ are clamped at eps1 / eps1².",
            {"torch.optim.Adafactor": "clamped", "optax.adafactor": "added", "keras Adafactor": "added", "timm Adafactor": "added"},
        ),
        Convention(
            "weight_decay_scale",
            ("alpha", "lr", "unscaled"),
            "What the decay rate is multiplied by: α (relative step and parameter scale), ρ (the lr alone), or nothing.",
            {"torch.optim.Adafactor": "lr", "keras Adafactor": "lr", "optax.adafactor": "unscaled", "timm Adafactor": "lr"},
        ),
        Convention(
            "factoring",
            ("last_two_dims", "unfactored"),
            "Whether every ≥2-D tensor gets factored row/column statistics, or small tensors keep a full second moment.",
            {"torch.optim.Adafactor": "last_two_dims", "keras Adafactor": "last_two_dims", "optax.adafactor": "unfactored"},
        ),
        Convention(
            "clip_divisor",
            ("max", "min"),
            "Update clipping divides by max(1, RMS(u)/d), or (inverted) by min(1, RMS(u)/d).",
            {"pytorch_optimizer AdaFactor": "min", "timm AdafactorBigVision": "min"},
        ),
        Convention(
            "beta2_cap",
            ("none", "0.999"),
            "Whether β̂2 = 1 − t^decay_rate is used as is, or capped at 0.999.",
            {"pytorch_optimizer AdaFactor": "0.999", "timm AdafactorBigVision": "0.999"},
        ),
    ),
    state_fields=("step", "RMS", "exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq", "exp_avg"),
    step_indexing="t = 1 at the first update (per-tensor counter `step`, incremented before use)",
    source="transformers v5.24.0 src/transformers/optimization.py (Adafactor)",
    checks=(
        check(lambda v: v["lr"] is None or not v["relative_step"], "cannot combine a manual `lr`={lr!r} with `relative_step`=True"),
        check(lambda v: v["relative_step"] or not v["warmup_init"], "`warmup_init`=True requires `relative_step`=True"),
        check(
            lambda v: v["relative_step"] or v["lr"] is not None,
            "`lr` is required when `relative_step`=False (transformers fails at the first step with a TypeError)",
        ),
    ),
    history=(
        "PR #9751: the computed lr is no longer written back into the param group (it compounded).",
        "v4.16 through v5.24: the same math.",
    ),
    decisions=(
        "`relative_step=False` with `lr=None` is rejected at construction (upstream: TypeError at the first step).",
        "Rejected: `lr` < 0, `eps` items < 0, `clip_threshold` <= 0, `decay_rate` > 0, `beta1` outside [0, 1), `weight_decay` < 0, and non-bool flags (transformers reads `1` as true).",
        "Kept: `beta1` averages the lr-scaled, clipped update rather than the gradient (transformers#34506, from fairseq).",
        "Half-precision params: float32 state, one rounding per step, no persistent float32 copy, as upstream.",
    ),
)


class State(NamedTuple):
    """Per-tensor Adafactor state (transformers' names; unused fields are empty arrays)."""

    step: int
    RMS: Scalar
    exp_avg_sq_row: Array | None
    exp_avg_sq_col: Array | None
    exp_avg_sq: Array | None
    exp_avg: Array | None


def state_dtype(param_dtype: str) -> str:
    """Half params keep their state (and master copy) in float32; others in their own dtype."""
    return float32_for_half(param_dtype)


def _present(value: Any) -> bool:
    return value is not None


def init(param: Array, hp: Mapping[str, Any], nx: NumericContext) -> State:
    shape = np.shape(param)
    factored = len(shape) >= 2
    return State(
        step=0,
        RMS=nx.scalar(0.0),
        exp_avg_sq_row=nx.zeros(shape[:-1]) if factored else None,
        exp_avg_sq_col=nx.zeros(shape[:-2] + shape[-1:]) if factored else None,
        exp_avg_sq=None if factored else nx.zeros(shape),
        exp_avg=nx.zeros(shape) if hp["beta1"] is not None else None,
    )


def rms(x: Array, nx: NumericContext) -> Scalar:
    """Root mean square ``√(Σ x²) / √n`` (torch: ``x.norm(2) / numel**0.5``)."""
    return nx.sqrt(nx.sum(x * x)) / nx.sqrt(nx.scalar(np.size(x)))


def relative_step_size(step: int, hp: Mapping[str, Any], nx: NumericContext) -> Scalar:
    """ρ: the group lr, or ``min(1e-6·t if warmup_init else 1e-2, 1/√t)`` with relative_step."""
    if not hp["relative_step"]:
        return nx.scalar(hp["lr"])
    t = nx.scalar(step)
    min_step = nx.scalar(1e-6) * t if hp["warmup_init"] else nx.scalar(1e-2)
    return min(min_step, 1 / nx.sqrt(t))


def get_lr(step: int, rms_value: Scalar, hp: Mapping[str, Any], nx: NumericContext) -> Scalar:
    """α = max(eps2, RMS)·ρ (transformers' ``_get_lr``); ρ alone without scale_parameter."""
    rho = relative_step_size(step, hp, nx)
    if not hp["scale_parameter"]:
        return rho
    # Python's max, as upstream: a NaN RMS is never "greater", so the scale falls back to eps2.
    return max(nx.scalar(hp["eps"][1]), rms_value) * rho


def _approx_sq_grad(row: Array, col: Array, nx: NumericContext) -> Array:
    """``1/√(R / mean(R)) ⊗ 1/√C``: only the row statistic is normalized, each factor has its own root."""
    row_factor = 1 / nx.sqrt(row / np.expand_dims(nx.mean(row, axis=-1), -1))
    col_factor = 1 / nx.sqrt(col)
    return np.expand_dims(row_factor, -1) * np.expand_dims(col_factor, -2)


def _factored_estimate(row: Array, col: Array, floor: Scalar, nx: NumericContext) -> Array:
    """V̂ = (R / max(mean(R), floor)) ⊗ C: the full second moment a factored state stands for."""
    normalizer = nx.maximum(nx.mean(row, axis=-1), floor)
    return np.expand_dims(row / np.expand_dims(normalizer, -1), -1) * np.expand_dims(col, -2)


def update(
    param: Array, grad: Array, state: State, hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext, name: str
) -> tuple[Array, State]:
    eps1 = nx.scalar(hp["eps"][0])
    step = state.step + 1
    param_rms = rms(param, nx)
    alpha = get_lr(step, param_rms, hp, nx)
    beta2t = 1 - nx.pow(nx.scalar(step), nx.scalar(hp["decay_rate"]))
    if variant["beta2_cap"] == "0.999":
        beta2t = nx.minimum(nx.scalar(0.999), beta2t)

    clamped = variant["eps1_placement"] == "clamped"
    squared = grad * grad if clamped else grad * grad + eps1
    row, col, full = state.exp_avg_sq_row, state.exp_avg_sq_col, state.exp_avg_sq
    if variant["factoring"] == "last_two_dims" and np.ndim(grad) >= 2:
        row = row * beta2t + (1 - beta2t) * nx.mean(squared, axis=-1)
        col = col * beta2t + (1 - beta2t) * nx.mean(squared, axis=-2)
        if clamped:
            # torch.optim: one root of the clamped product instead of two separate factors
            u = 1 / nx.sqrt(nx.maximum(_factored_estimate(row, col, eps1, nx), eps1 * eps1)) * grad
        else:
            u = _approx_sq_grad(row, col, nx) * grad
    else:
        if not _present(full):  # an unfactored alternative on a factored state: continue its estimate
            accumulated = state.step and nx.sum(row) != 0  # a fresh (all-zero) factored state has none
            full = _factored_estimate(row, col, nx.scalar(0.0), nx) if accumulated else nx.zeros(np.shape(grad))
        full = full * beta2t + (1 - beta2t) * squared
        u = 1 / nx.sqrt(nx.maximum(full, eps1 * eps1) if clamped else full) * grad

    ratio = rms(u, nx) / nx.scalar(hp["clip_threshold"])
    clip = nx.maximum if variant["clip_divisor"] == "max" else nx.minimum
    u = u / clip(nx.scalar(1.0), ratio)
    u = u * alpha

    exp_avg = state.exp_avg
    if hp["beta1"] is not None:
        beta1 = nx.scalar(hp["beta1"])
        exp_avg = exp_avg * beta1 + (1 - beta1) * u
        u = exp_avg

    if hp["weight_decay"] != 0:
        decay_scale = {"alpha": alpha, "lr": relative_step_size(step, hp, nx), "unscaled": nx.scalar(1.0)}
        param = param + (-nx.scalar(hp["weight_decay"]) * decay_scale[variant["weight_decay_scale"]]) * param
    param = param - u
    return param, State(step, param_rms, row, col, full, exp_avg)

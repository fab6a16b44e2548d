"""The ``torch`` adapter: ``torch.optim`` (no transformers) driven through the adapter interface.

What maps onto what (hyperparameter names are the reference's):

* ``adamw`` → ``torch.optim.AdamW(lr, betas, eps, weight_decay)``, every value passed explicitly
  (torch's own defaults differ: eps 1e-8, weight_decay 1e-2). ``correct_bias=False`` is
  unsupported (torch always bias-corrects). torch puts ε after bias correction and decays before
  the update: declared (:data:`ADAMW_CONVENTIONS`), so every case is judged against the reference
  under those conventions.
* ``adafactor`` → ``torch.optim.Adafactor(lr, beta2_decay=decay_rate, eps=(eps1, eps2),
  d=clip_threshold, weight_decay)``. torch's Adafactor always uses the relative step
  ρ = min(lr, 1/√t) and always scales by max(eps2, RMS(θ)): ``relative_step=True`` maps to
  ``lr=1e-2`` (the same ρ as transformers), ``relative_step=False, scale_parameter=True`` maps to
  ``lr=lr`` (the same α while t ≤ 1/lr²). Unsupported: ``warmup_init``, ``beta1``,
  ``scale_parameter=False``, ``clip_threshold < 1``. Declared (:data:`ADAFACTOR_CONVENTIONS`): ε1 is
  a clamp (not added to g²) and weight decay is θ·(1 − lr·wd) with the group lr (not −wd·α·θ).
* schedules → the ``torch.optim.lr_scheduler`` class that expresses the HF schedule, with no
  ``LambdaLR`` (that would only test the lambda): ``constant`` (and ``constant_with_warmup`` with W = 0) → ``ConstantLR(factor=1)``;
  ``linear`` (W = 0) → ``LinearLR(1, 0, T)``; ``cosine`` / ``cosine_with_min_lr`` (W = 0,
  nc = 0.5) → ``CosineAnnealingLR(T, eta_min)``; ``cosine_with_restarts`` (W = 0, T/nc an
  integer) → ``CosineAnnealingWarmRestarts(T/nc)``; ``polynomial`` (W = 0, lr_end = 0) →
  ``PolynomialLR(T, power)``; ``reduce_lr_on_plateau`` → ``ReduceLROnPlateau`` (exact: transformers
  re-exports it). ``LinearLR`` cannot start at 0 (start_factor > 0), so every schedule with a
  warmup from 0 (W > 0) is unsupported, and so are inverse_sqrt, cosine_warmup_with_min_lr,
  warmup_stable_decay and greedy, which torch does not have.

Implementations: ``TorchOptimAdapter(impl="forloop")`` (the default, name "torch"),
``impl="foreach"`` (name "torch-foreach") and ``impl="fused"`` (name "torch-fused"; fused Adam(W)
runs on CPU since torch 2.4). Select one from the command line with
``--adapter optimspec.conformance.adapters.torch_optim:foreach`` (or ``:fused``, ``:forloop``);
a ``module:Factory`` adapter gets no shipped divergence file, so add
``--divergences <optimspec>/conformance/divergences/torch.toml`` (the three paths give the same values).
The impl only changes AdamW; torch's Adafactor has no fused kernel and always runs for-loop here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .torch_helpers import (
    TORCH_DTYPES,
    LambdaScheduleRunner,
    MetricScheduleRunner,
    StateField,
    StateMap,
    TorchStepper,
    dummy_optimizer,
    torch_versions,
    with_defaults,
)
from .base import AlgorithmSupport, Capabilities, Unsupported

IMPLS = {"forloop": {"foreach": False, "fused": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
ADAMW_CONVENTIONS = {"eps_placement": "after_bias_correction", "decay_order": "before_update"}  # pytorch#22628, pytorch#38853
ADAFACTOR_CONVENTIONS = {"eps1_placement": "clamped", "weight_decay_scale": "lr"}  # pytorch PR #129905

ADAMW_STATE = StateMap((StateField("step", "step", "step_tensor"), StateField("exp_avg", "exp_avg"), StateField("exp_avg_sq", "exp_avg_sq")))


def _row_to_torch(value: Any, shape: tuple[int, ...]) -> Any:  # HF R: shape[:-1] -> torch row_var: shape[:-1] + (1,)
    return value.reshape(shape[:-1] + (1,))


def _row_from_torch(value: Any, shape: tuple[int, ...]) -> Any:
    return value.reshape(shape[:-1])


def _col_to_torch(value: Any, shape: tuple[int, ...]) -> Any:  # HF C: shape[:-2] + shape[-1:] -> torch col_var: shape[:-2] + (1, n)
    return value.reshape(shape[:-2] + (1,) + shape[-1:])


def _col_from_torch(value: Any, shape: tuple[int, ...]) -> Any:
    return value.reshape(shape[:-2] + shape[-1:])


ADAFACTOR_STATE = StateMap(
    (
        StateField("step", "step", "step_tensor"),
        StateField("exp_avg_sq_row", "row_var", to_native=_row_to_torch, from_native=_row_from_torch),
        StateField("exp_avg_sq_col", "col_var", to_native=_col_to_torch, from_native=_col_from_torch),
        StateField("exp_avg_sq", "variance"),
    )
)

SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_min_lr", "cosine_with_restarts", "polynomial", "reduce_lr_on_plateau")


def _adamw_kwargs(hp: Mapping[str, Any]) -> dict[str, Any]:
    if not hp.get("correct_bias", True):
        raise Unsupported("torch.optim.AdamW always bias-corrects (no correct_bias=False)")
    betas = tuple(hp.get("betas", (0.9, 0.999)))
    return {"lr": hp.get("lr", 1e-3), "betas": betas, "eps": hp.get("eps", 1e-6), "weight_decay": hp.get("weight_decay", 0.0)}


def _adafactor_kwargs(hp: Mapping[str, Any]) -> dict[str, Any]:
    if hp.get("warmup_init", False):
        raise Unsupported("torch.optim.Adafactor has no warmup_init")
    if hp.get("beta1") is not None:
        raise Unsupported("torch.optim.Adafactor has no first moment (beta1)")
    if not hp.get("scale_parameter", True):
        raise Unsupported("torch.optim.Adafactor always scales by max(eps2, RMS(θ)) (no scale_parameter=False)")
    if hp.get("relative_step", True):
        if hp.get("lr") is not None:
            raise Unsupported("lr with relative_step=True (transformers rejects it)")
        lr = 1e-2  # ρ = min(1e-2, 1/√t), transformers' relative step without warmup_init
    else:
        if hp.get("lr") is None:
            raise Unsupported("relative_step=False without an lr")
        lr = hp["lr"]  # torch: ρ = min(lr, 1/√t), equal to lr while t ≤ 1/lr²
    clip = hp.get("clip_threshold", 1.0)
    if clip < 1.0:
        raise Unsupported(f"torch.optim.Adafactor requires d = clip_threshold ≥ 1 (got {clip})")
    eps = tuple(hp.get("eps", (1e-30, 1e-3)))
    return {"lr": lr, "beta2_decay": hp.get("decay_rate", -0.8), "eps": eps, "d": clip, "weight_decay": hp.get("weight_decay", 0.0), "foreach": False}


def _group_lrs(hp: Mapping[str, Any]) -> list[float]:
    return list(hp.get("group_lrs") or [hp.get("lr", 1.0)])


def _no_warmup(algorithm: str, hp: Mapping[str, Any]) -> None:
    if hp.get("num_warmup_steps", 0) > 0:
        raise Unsupported(f"{algorithm}: torch's LinearLR cannot warm up from 0 (start_factor must be > 0)")


def _floor_rate(hp: Mapping[str, Any]) -> float:
    if hp.get("min_lr") is not None:
        return hp["min_lr"] / hp.get("lr", 1.0)
    return hp.get("min_lr_rate") or 0.0


class TorchOptimAdapter:
    """torch.optim optimizers and LR schedulers; ``impl`` picks AdamW's for-loop, foreach or fused path."""

    def __init__(self, impl: str = "forloop") -> None:
        if impl not in IMPLS:
            raise ValueError(f"impl={impl!r} is not one of {', '.join(IMPLS)}")
        self.impl = impl
        self.name = "torch" if impl == "forloop" else f"torch-{impl}"

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "framework": "torch.optim", "impl": self.impl, "versions": torch_versions(), "device": "cpu"}

    def capabilities(self) -> Capabilities:
        algorithms = {
            "adamw": AlgorithmSupport(variant=ADAMW_CONVENTIONS, state_names=ADAMW_STATE.names(), notes=f"torch.optim.AdamW ({self.impl})"),
            "adafactor": AlgorithmSupport(
                variant=ADAFACTOR_CONVENTIONS,
                state_names=ADAFACTOR_STATE.names(),
                unexported_state=("RMS",),  # torch.optim.Adafactor keeps no RMS
                notes="torch.optim.Adafactor: always relative step and parameter scaling; ε1 clamps; decay θ(1 − lr·wd)",
            ),
        }
        for name in SCHEDULES:
            algorithms[name] = AlgorithmSupport(notes="torch.optim.lr_scheduler")
        return Capabilities(
            algorithms=algorithms,
            dtypes=TORCH_DTYPES,
            can_load_state=True,
            can_export_state=True,
            validates_hparams=False,
            schedule_dtype="float64",
        )

    # -- optimizers --------------------------------------------------------------------------------

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> TorchStepper:
        import torch

        if algorithm == "adamw":
            flags = IMPLS[self.impl]
            return TorchStepper(algorithm, torch.optim.AdamW, _adamw_kwargs, ADAMW_STATE, hparams, param_groups, dtype, extra=flags)
        if algorithm == "adafactor":
            return TorchStepper(algorithm, torch.optim.Adafactor, _adafactor_kwargs, ADAFACTOR_STATE, hparams, param_groups, dtype)
        raise Unsupported(f"torch.optim has no {algorithm}")

    # -- schedules ---------------------------------------------------------------------------------

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        from torch.optim import lr_scheduler as S

        hp = with_defaults(algorithm, hparams)
        lr, groups = hp.get("lr", 1.0), hp.get("group_lrs")
        total = hp.get("num_training_steps", 1)

        def runner(make: Any) -> LambdaScheduleRunner:
            def build() -> tuple[Any, Any]:
                optimizer = dummy_optimizer(lr, groups)
                return optimizer, make(optimizer)

            build()  # construction errors (ValueError) surface here, at make_schedule
            return LambdaScheduleRunner(build)

        if algorithm == "constant":
            return runner(lambda o: S.ConstantLR(o, factor=1.0, total_iters=0))
        if algorithm == "constant_with_warmup":
            _no_warmup(algorithm, hp)
            return runner(lambda o: S.ConstantLR(o, factor=1.0, total_iters=0))
        if algorithm == "linear":
            _no_warmup(algorithm, hp)
            return runner(lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=total))
        if algorithm in ("cosine", "cosine_with_min_lr"):
            _no_warmup(algorithm, hp)
            if hp.get("num_cycles", 0.5) != 0.5:
                raise Unsupported(f"{algorithm}: CosineAnnealingLR has one half-wave per T_max (num_cycles must be 0.5)")
            rate = _floor_rate(hp) if algorithm == "cosine_with_min_lr" else 0.0
            lrs = _group_lrs(hp)
            if rate and len(set(lrs)) > 1:
                raise Unsupported("CosineAnnealingLR's eta_min is one absolute floor for every group (a min-lr rate gives each group its own)")
            return runner(lambda o: S.CosineAnnealingLR(o, T_max=total, eta_min=lrs[0] * rate))
        if algorithm == "cosine_with_restarts":
            _no_warmup(algorithm, hp)
            cycles = hp.get("num_cycles", 1)
            period = total / cycles if cycles else math.inf
            if not cycles or period != int(period) or period < 1:
                raise Unsupported("CosineAnnealingWarmRestarts needs an integer cycle length T / num_cycles")
            return runner(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=int(period), T_mult=1, eta_min=0.0))
        if algorithm == "polynomial":
            _no_warmup(algorithm, hp)
            if hp.get("lr_end", 1e-7) != 0.0:
                raise Unsupported("PolynomialLR decays to 0: it has no end lr (lr_end must be 0)")
            return runner(lambda o: S.PolynomialLR(o, total_iters=total, power=hp.get("power", 1.0)))
        if algorithm == "reduce_lr_on_plateau":
            kwargs = {k: hp[k] for k in ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps") if k in hp}

            def build() -> tuple[Any, Any]:
                optimizer = dummy_optimizer(lr, groups)
                return optimizer, S.ReduceLROnPlateau(optimizer, **kwargs)

            build()
            return MetricScheduleRunner(build)
        raise Unsupported(f"torch.optim.lr_scheduler has no equivalent of {algorithm}")

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported("torch.optim has no gradient accumulator")


def forloop() -> TorchOptimAdapter:
    """``--adapter optimspec.conformance.adapters.torch_optim:forloop`` (the default torch adapter)."""
    return TorchOptimAdapter("forloop")


def foreach() -> TorchOptimAdapter:
    """``--adapter optimspec.conformance.adapters.torch_optim:foreach``."""
    return TorchOptimAdapter("foreach")


def fused() -> TorchOptimAdapter:
    """``--adapter optimspec.conformance.adapters.torch_optim:fused``."""
    return TorchOptimAdapter("fused")

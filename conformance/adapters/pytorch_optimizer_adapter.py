"""The ``pytorch_optimizer`` adapter: kozistr/pytorch_optimizer (4.1.0 in the ``peers`` extra).

Calibrated with the installed package: ``conformance/divergences/pytorch_optimizer.toml`` holds
only measured, strict entries.

* ``adafactor`` → ``pytorch_optimizer.AdaFactor(lr, betas=(beta1, 0.999), decay_rate,
  weight_decay, weight_decouple=True, fixed_decay=False, clip_threshold, scale_parameter,
  relative_step, warmup_init, eps1, eps2, momentum_dtype=<the param dtype>, foreach=False)``.
  Its β̂2 is ``min(betas[1], 1 − t^decay_rate)`` and ``betas[1]`` must be < 1, so the uncapped
  β̂2 of transformers cannot be expressed: the adapter passes the peer's default cap and declares
  ``beta2_cap=0.999``. Decoupled decay ``θ·(1 − wd·α)`` with the scaled lr is transformers'
  ``−wd·α·θ``. The step is counted per param group (``group["step"]``): a state whose tensors
  of one group are at different steps cannot be loaded. Half-precision params are stepped in
  their own dtype (no float32 master copy), with half state.
* schedules, read after ``t`` calls of ``scheduler.step()`` like every LambdaLR schedule:
  ``linear`` → ``LinearScheduler(t_max=T, max_lr=lr, min_lr=0, init_lr=0, warmup_steps=W)``;
  ``cosine`` (nc = 0.5) and ``cosine_with_min_lr`` → ``CosineScheduler`` (``min_lr`` = the floor,
  absolute); ``cosine_with_restarts`` → ``CosineAnnealingWarmupRestarts(first_cycle_steps=T/nc,
  max_lr=lr, min_lr=0, gamma=1)`` (W = 0 with an integer cycle length, or nc = 1: its warmup
  repeats in every cycle); ``warmup_stable_decay`` → ``get_wsd_schedule(W, S, D, min_lr_ratio,
  num_cycles, cooldown_type=decay_type)`` (linear warmup only). The three warmup schedulers set
  one lr for every param group, so distinct ``group_lrs`` are unsupported. Not covered: its
  ``PolyScheduler`` (``min + (max − min)·(t − W)^order``, no HF counterpart), the torch
  schedulers it re-exports, and its ``AdamW`` (``torch.optim.AdamW`` itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .base import AlgorithmSupport, Capabilities, Unsupported
from .torch_helpers import TORCH_DTYPES, LambdaScheduleRunner, StateField, StateMap, TorchStepper, dummy_optimizer, torch_dtype, torch_versions, with_defaults

ADAFACTOR_STATE = StateMap(
    (
        StateField("exp_avg", "exp_avg"),
        StateField("exp_avg_sq_row", "exp_avg_sq_row"),
        StateField("exp_avg_sq_col", "exp_avg_sq_col"),
        StateField("exp_avg_sq", "exp_avg_sq"),
        StateField("RMS", "RMS", "float"),
    ),
    group_step="step",
)
SCHEDULES = ("linear", "cosine", "cosine_with_min_lr", "cosine_with_restarts", "warmup_stable_decay")
BETA2_CAP = 0.999  # the peer's default cap; it rejects 1.0, which would mean no cap


def _module() -> Any:
    try:
        import pytorch_optimizer
    except ImportError:
        raise Unsupported("pytorch_optimizer is not installed") from None
    return pytorch_optimizer


def _adafactor_kwargs(hp: Mapping[str, Any], dtype: str) -> dict[str, Any]:
    relative = hp["relative_step"]
    if relative and hp["lr"] is not None:
        raise Unsupported("lr with relative_step=True (transformers rejects it)")
    if not relative and hp["lr"] is None:
        raise Unsupported("relative_step=False without an lr")
    eps1, eps2 = hp["eps"]
    return {
        "lr": hp["lr"] if hp["lr"] is not None else 1e-3,  # ignored in relative mode
        "betas": (hp["beta1"], BETA2_CAP),
        "decay_rate": hp["decay_rate"],
        "weight_decay": hp["weight_decay"],
        "weight_decouple": True,
        "fixed_decay": False,
        "clip_threshold": hp["clip_threshold"],
        "scale_parameter": hp["scale_parameter"],
        "relative_step": relative,
        "warmup_init": hp["warmup_init"],
        "eps1": eps1,
        "eps2": eps2,
        "momentum_dtype": torch_dtype(dtype),
        "foreach": False,
    }


def _one_lr(algorithm: str, hp: Mapping[str, Any]) -> float:
    """The single lr the warmup schedulers give every group."""
    lrs = set(hp.get("group_lrs") or [hp["lr"]])
    if len(lrs) > 1:
        raise Unsupported(f"{algorithm}: pytorch_optimizer's scheduler sets one lr for every param group")
    return lrs.pop()


def _cosine_floor(algorithm: str, hp: Mapping[str, Any], lr: float) -> float:
    if algorithm == "cosine":
        return 0.0
    rate = hp["min_lr"] / hp["lr"] if hp.get("min_lr") is not None else hp.get("min_lr_rate") or 0.0
    return lr * rate


def _restart_kwargs(hp: Mapping[str, Any], lr: float) -> dict[str, Any]:
    warmup, total, cycles = hp["num_warmup_steps"], hp["num_training_steps"], hp["num_cycles"]
    if cycles == 1 and warmup < total:
        return {"first_cycle_steps": total, "warmup_steps": warmup, "max_lr": lr, "min_lr": 0.0, "gamma": 1.0}
    period = total / cycles if cycles else math.inf
    if warmup or period != int(period) or period < 1:
        raise Unsupported("CosineAnnealingWarmupRestarts warms up in every cycle: only W = 0 with an integer T / num_cycles, or num_cycles = 1")
    return {"first_cycle_steps": int(period), "warmup_steps": 0, "max_lr": lr, "min_lr": 0.0, "gamma": 1.0}


def _wsd_kwargs(hp: Mapping[str, Any]) -> dict[str, Any]:
    if hp["warmup_type"] != "linear":
        raise Unsupported(f"pytorch_optimizer's get_wsd_schedule warms up linearly only (not {hp['warmup_type']})")
    stable = hp["num_stable_steps"]
    if stable is None:
        stable = hp["num_training_steps"] - hp["num_warmup_steps"] - hp["num_decay_steps"]
    return {
        "num_warmup_steps": hp["num_warmup_steps"], "num_stable_steps": stable, "num_decay_steps": hp["num_decay_steps"],
        "min_lr_ratio": hp["min_lr_ratio"], "num_cycles": hp["num_cycles"], "cooldown_type": hp["decay_type"],
    }


def _scheduler(algorithm: str, hp: Mapping[str, Any]) -> Callable[[Any], Any]:
    """``optimizer -> scheduler`` for one of :data:`SCHEDULES`; Unsupported for a setting it lacks."""
    from pytorch_optimizer import lr_scheduler as S

    if algorithm == "warmup_stable_decay":
        wsd = _wsd_kwargs(hp)
        return lambda optimizer: S.get_wsd_schedule(optimizer, **wsd)
    lr, warmup, total = _one_lr(algorithm, hp), hp["num_warmup_steps"], hp["num_training_steps"]
    if algorithm == "linear":
        return lambda optimizer: S.LinearScheduler(optimizer, t_max=total, max_lr=lr, min_lr=0.0, init_lr=0.0, warmup_steps=warmup)
    if algorithm == "cosine_with_restarts":
        restarts = _restart_kwargs(hp, lr)
        return lambda optimizer: S.CosineAnnealingWarmupRestarts(optimizer, **restarts)
    if hp["num_cycles"] != 0.5:
        raise Unsupported(f"{algorithm}: CosineScheduler draws one half-wave (num_cycles must be 0.5)")
    floor = _cosine_floor(algorithm, hp, lr)
    return lambda optimizer: S.CosineScheduler(optimizer, t_max=total, max_lr=lr, min_lr=floor, init_lr=0.0, warmup_steps=warmup)


class PytorchOptimizerAdapter:
    name = "pytorch_optimizer"

    def info(self) -> dict[str, Any]:
        versions = torch_versions()
        try:
            versions["pytorch_optimizer"] = getattr(_module(), "__version__", "unknown")
        except Unsupported:
            versions["pytorch_optimizer"] = "not installed"
        return {"name": self.name, "framework": "pytorch_optimizer", "versions": versions, "device": "cpu"}

    def capabilities(self) -> Capabilities:
        algorithms = {
            "adafactor": AlgorithmSupport(
                variant={"beta2_cap": "0.999"},
                state_names={**ADAFACTOR_STATE.names(), "step": "param_group['step']"},
                notes="pytorch_optimizer.AdaFactor: β̂2 capped at 0.999 (a cap of 1 is rejected); one step counter per param group",
            )
        }
        for name in SCHEDULES:
            algorithms[name] = AlgorithmSupport(notes="pytorch_optimizer.lr_scheduler")
        return Capabilities(algorithms=algorithms, dtypes=TORCH_DTYPES, can_load_state=True, can_export_state=True, validates_hparams=False)

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> TorchStepper:
        module = _module()
        if algorithm != "adafactor":
            raise Unsupported(f"the pytorch_optimizer adapter does not cover {algorithm}")
        return TorchStepper(algorithm, module.AdaFactor, lambda hp: _adafactor_kwargs(hp, dtype), ADAFACTOR_STATE, hparams, param_groups, dtype)

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> LambdaScheduleRunner:
        _module()
        if algorithm not in SCHEDULES:
            raise Unsupported(f"pytorch_optimizer has no equivalent of {algorithm}")
        hp = with_defaults(algorithm, hparams)
        make = _scheduler(algorithm, hp)

        def build() -> tuple[Any, Any]:
            optimizer = dummy_optimizer(hp["lr"], hp.get("group_lrs"))
            return optimizer, make(optimizer)

        build()  # construction errors surface here, at make_schedule
        return LambdaScheduleRunner(build)

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported("pytorch_optimizer has no gradient accumulator")

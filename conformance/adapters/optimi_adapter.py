"""The ``optimi`` adapters: torch-optimi (0.3.3 in the ``peers`` extra), Benjamin Warner's
low-precision PyTorch optimizers.

Two built-ins, one per weight-decay mode optimi offers for Adam:

* ``optimi`` → ``optimi.AdamW(lr, betas, eps, weight_decay)``: decoupled decay
  ``θ ← θ·(1 − lr·wd)`` before the update;
* ``optimi-fully-decoupled`` → ``optimi.Adam(lr, betas, eps, weight_decay, decouple_lr=True)``:
  fully decoupled decay ``θ ← θ·(1 − (lr/max_lr)·wd)``, with ``max_lr`` = lr (the cases hold lr
  constant), i.e. ``θ·(1 − wd)``: it declares ``decay_scale=unscaled`` as well.

Both declare optimi's Adam conventions: ε after bias correction (``√v̂ + ε``) and decay before the
update. Every hyperparameter is passed explicitly (optimi's defaults differ from the spec's:
β2 0.99, weight_decay 1e-2); ``correct_bias=False`` is unsupported (optimi always debiases).

optimi debiases its betas instead of the step size (β̂ = β(1 − βᵗ⁻¹)/(1 − βᵗ)), so its moments
*are* the bias-corrected m̂ = m/(1 − β1ᵗ) and v̂ = v/(1 − β2ᵗ): the state crosses the boundary
through that conversion. The step counter is one int32 tensor per param group
(``group["step"]``, with ``group["setup"]``), so a state whose tensors of one group are at
different steps cannot be loaded. Half-precision params are stepped with Kahan summation (optimi's
default for them): a loaded state starts with a zero compensation buffer, the state the reference
has no field for. ``foreach=False, triton=False``: the for-loop path (Triton is GPU-only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np

from .base import AlgorithmSupport, Capabilities, StateDict, Tensors, Unsupported, group_of
from .torch_helpers import TORCH_DTYPES, StateField, StateMap, TorchStepper, torch_versions

ADAM_STATE = StateMap((StateField("exp_avg", "exp_avg"), StateField("exp_avg_sq", "exp_avg_sq")), group_step="step", group_step_kind="step_int32")
MODES = {"decoupled": "optimi", "fully_decoupled": "optimi-fully-decoupled"}
CONVENTIONS = {"eps_placement": "after_bias_correction", "decay_order": "before_update"}


def _optimi() -> Any:
    try:
        import optimi
    except ImportError:
        raise Unsupported("torch-optimi is not installed") from None
    return optimi


def _kwargs(hp: Mapping[str, Any], mode: str) -> dict[str, Any]:
    if not hp.get("correct_bias", True):
        raise Unsupported("optimi always debiases its moments (no correct_bias=False)")
    kwargs = {"lr": hp["lr"], "betas": tuple(hp["betas"]), "eps": hp["eps"], "weight_decay": hp["weight_decay"], "foreach": False, "triton": False}
    if mode == "fully_decoupled":
        kwargs["decouple_lr"] = True
    return kwargs


class OptimiStepper(TorchStepper):
    """:class:`TorchStepper` with optimi's state conventions: debiased moments, an int32 step per
    group marked ``setup``, and a Kahan compensation buffer per tensor."""

    def _corrections(self, name: str, step: int) -> tuple[float, float]:
        """(1 − β1ᵗ, 1 − β2ᵗ) of the group holding ``name``."""
        group = self.group_dicts[group_of(name, self.groups)]
        return 1.0 - group["beta1"] ** step, 1.0 - group["beta2"] ** step

    def load_state(self, params: Tensors, state: StateDict) -> None:
        import torch

        debiased: StateDict = {}
        for name, fields in state.items():
            step = fields.get("step") or 0
            if step:
                c1, c2 = self._corrections(name, step)
                fields = {**fields, "exp_avg": np.asarray(fields["exp_avg"]) / c1, "exp_avg_sq": np.asarray(fields["exp_avg_sq"]) / c2}
            debiased[name] = fields
        super().load_state(params, debiased)
        for group in self.optimizer.param_groups:
            if "step" in group:
                group["setup"] = True  # else optimi's first step resets the loaded step to 0
                for param in group["params"]:
                    if param in self.optimizer.state:
                        half = param.dtype in (torch.float16, torch.bfloat16)
                        self.optimizer.state[param]["kahan_comp"] = param.new_zeros(param.shape) if half and group["kahan_sum"] is not False else None

    def export_state(self) -> StateDict:
        out = super().export_state()
        for name, fields in out.items():
            if fields.get("step") and "exp_avg" in fields:
                c1, c2 = self._corrections(name, fields["step"])
                fields["exp_avg"], fields["exp_avg_sq"] = fields["exp_avg"] * c1, fields["exp_avg_sq"] * c2
        return out


class OptimiAdapter:
    """optimi's Adam with decoupled (``optimi.AdamW``) or fully decoupled (``optimi.Adam(decouple_lr=True)``) decay."""

    # Both modes share one measured file (an adapter may name its own: see divergences.adapter_file).
    divergence_file = resources.files("optimspec.conformance.divergences") / "optimi.toml"

    def __init__(self, mode: str = "decoupled") -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not one of {', '.join(MODES)}")
        self.mode, self.name = mode, MODES[mode]

    def info(self) -> dict[str, Any]:
        versions = torch_versions()
        try:
            versions["torch-optimi"] = _optimi().__version__
        except Unsupported:
            versions["torch-optimi"] = "not installed"
        return {"name": self.name, "framework": "torch-optimi", "weight_decay": self.mode, "versions": versions, "device": "cpu"}

    def capabilities(self) -> Capabilities:
        variant = dict(CONVENTIONS, **({"decay_scale": "unscaled"} if self.mode == "fully_decoupled" else {}))
        cls = "optimi.AdamW" if self.mode == "decoupled" else "optimi.Adam(decouple_lr=True)"
        adamw = AlgorithmSupport(
            variant=variant,
            state_names={"step": "param_group['step']", "exp_avg": "exp_avg (m̂ = m/(1 − β1ᵗ))", "exp_avg_sq": "exp_avg_sq (v̂ = v/(1 − β2ᵗ))"},
            notes=f"{cls}: debiased betas, Kahan summation for half params",
        )
        return Capabilities(algorithms={"adamw": adamw}, dtypes=TORCH_DTYPES, can_load_state=True, can_export_state=True, validates_hparams=False)

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> OptimiStepper:
        optimi = _optimi()
        if algorithm != "adamw":
            raise Unsupported(f"the optimi adapter covers AdamW only, not {algorithm}")
        cls = optimi.AdamW if self.mode == "decoupled" else optimi.Adam
        return OptimiStepper(algorithm, cls, lambda hp: _kwargs(hp, self.mode), ADAM_STATE, hparams, param_groups, dtype)

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        raise Unsupported("optimi has no learning-rate schedules")

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported("optimi has no gradient accumulator")


def decoupled() -> OptimiAdapter:
    """The built-in ``optimi``: ``optimi.AdamW``."""
    return OptimiAdapter("decoupled")


def fully_decoupled() -> OptimiAdapter:
    """The built-in ``optimi-fully-decoupled``: ``optimi.Adam(decouple_lr=True)``."""
    return OptimiAdapter("fully_decoupled")

"""The ``pytorch_optimizer`` adapter: kozistr/pytorch_optimizer's ``AdaFactor``, when installed.

UNTESTED WITHOUT THE PACKAGE: pytorch_optimizer is not installed where this was written. The
mapping follows its ``pytorch_optimizer/optimizer/adafactor.py`` (snapshot
7a076d2) and only passes keyword arguments the installed
constructor accepts; ``tests/conformance/test_peer_adapters.py`` runs it only when
``import pytorch_optimizer`` works. Without the package every ``make_*`` raises
:class:`Unsupported` ("pytorch_optimizer is not installed").

* ``adafactor`` → ``pytorch_optimizer.AdaFactor(lr, betas=(beta1, 1.0), decay_rate,
  weight_decay, weight_decouple=True, fixed_decay=False, clip_threshold, scale_parameter,
  relative_step, warmup_init, eps1, eps2, momentum_dtype=<the param dtype>, foreach=False)``.
  β2 is capped at 1.0 (no cap, as transformers); if the installed version rejects a cap of 1, its
  default 0.999 is used and the ``beta2_cap`` convention shows. Decoupled decay θ·(1 − wd·α) with
  the scaled lr matches transformers' −wd·α·θ. Kept, and diverging: the update-clipping divisor is
  ``clamp_max(RMS(u)/d, 1)`` (the inverted ``clip_divisor="min"`` since PR #477), and the step is
  counted per param group (``group["step"]``): a state whose tensors of one group have different
  steps cannot be loaded, and a tensor without a gradient still advances the group's counter.
* everything else: not covered (its schedulers and AdamW re-export are torch's own).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from ._torch_common import StateField, StateMap, TorchStepper, torch_dtype, torch_versions
from .base import AlgorithmSupport, Capabilities, Unsupported

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


def _module() -> Any:
    try:
        import pytorch_optimizer
    except ImportError:
        raise Unsupported("pytorch_optimizer is not installed") from None
    return pytorch_optimizer


def _kwargs(hp: Mapping[str, Any], dtype: str, cls: Any) -> dict[str, Any]:
    relative = hp.get("relative_step", True)
    if relative and hp.get("lr") is not None:
        raise Unsupported("lr with relative_step=True (transformers rejects it)")
    if not relative and hp.get("lr") is None:
        raise Unsupported("relative_step=False without an lr")
    if dtype in ("float16", "bfloat16"):
        raise Unsupported("pytorch_optimizer AdaFactor computes half params in their own dtype (no float32 master copy)")
    eps1, eps2 = hp.get("eps", (1e-30, 1e-3))
    kwargs = {
        "lr": hp["lr"] if hp.get("lr") is not None else 1e-3,  # ignored in relative mode
        "betas": (hp.get("beta1"), 1.0),
        "decay_rate": hp.get("decay_rate", -0.8),
        "weight_decay": hp.get("weight_decay", 0.0),
        "weight_decouple": True,
        "fixed_decay": False,
        "clip_threshold": hp.get("clip_threshold", 1.0),
        "scale_parameter": hp.get("scale_parameter", True),
        "relative_step": relative,
        "warmup_init": hp.get("warmup_init", False),
        "eps1": eps1,
        "eps2": eps2,
        "momentum_dtype": torch_dtype(dtype),
        "foreach": False,
    }
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    try:
        import torch

        cls([torch.zeros(1, requires_grad=True)], **kwargs)
    except ValueError:
        kwargs["betas"] = (hp.get("beta1"), 0.999)  # a β2 cap of 1.0 rejected: the peer's default cap
    return kwargs


class PytorchOptimizerAdapter:
    name = "pytorch_optimizer"

    def info(self) -> dict[str, Any]:
        versions = {}
        try:
            versions = torch_versions()
            import pytorch_optimizer

            versions["pytorch_optimizer"] = getattr(pytorch_optimizer, "__version__", "unknown")
        except ImportError:
            versions["pytorch_optimizer"] = "not installed"
        return {"name": self.name, "framework": "pytorch_optimizer", "versions": versions, "device": "cpu"}

    def capabilities(self) -> Capabilities:
        return Capabilities(
            algorithms={"adafactor": AlgorithmSupport(state_names={**ADAFACTOR_STATE.names(), "step": "param_group['step']"}, notes="pytorch_optimizer.AdaFactor (untested here)")},
            dtypes=("float64", "float32"),
            can_load_state=True,
            can_export_state=True,
            validates_hparams=False,
        )

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> TorchStepper:
        module = _module()
        if algorithm != "adafactor":
            raise Unsupported(f"the pytorch_optimizer adapter does not cover {algorithm}")
        cls = module.AdaFactor
        return TorchStepper(algorithm, cls, lambda hp: _kwargs(hp, dtype, cls), ADAFACTOR_STATE, hparams, param_groups, dtype)

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        _module()
        raise Unsupported("the pytorch_optimizer adapter covers AdaFactor only")

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported("pytorch_optimizer has no gradient accumulator")

"""The ``timm`` adapter: optimizers of huggingface/pytorch-image-models, when timm is installed.

UNTESTED WITHOUT THE PACKAGE: timm is not installed where this was written. The mapping follows
the timm sources (``timm/optim``, snapshot aa4b585) and only passes the
keyword arguments the installed constructor accepts; ``tests/conformance/test_peer_adapters.py``
runs it only when ``import timm`` works. Without timm every ``make_*`` raises
:class:`Unsupported` ("timm is not installed") and ``capabilities()`` still lists what it would cover.

* ``adamw`` → ``timm.optim.AdamWLegacy`` (``timm.optim.AdamW`` in older timm) with ``lr, betas,
  eps, weight_decay`` passed explicitly; ε after bias correction, decay before the update (torch's
  conventions). ``correct_bias=False`` is unsupported.
* ``adafactor`` → ``timm.optim.Adafactor(lr, eps=eps[0], eps_scale=eps[1], clip_threshold,
  decay_rate, betas=(beta1, 0.999) or None, weight_decay, scale_parameter, warmup_init)``. timm's
  relative step is "lr is None": ``relative_step=True`` passes ``lr=None``. timm keeps its own
  factoring rule (``min_dim_size_to_factor``, default 16, and dims (0, 1) of >2-D tensors in newer
  versions) and applies ``scale_parameter`` only in relative mode: both are named divergences, not
  translated away.
* schedules and accumulators: not covered (timm's schedulers are epoch/step classes with their own
  warmup conventions).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from .torch_helpers import ADAFACTOR_STATE, TORCH_DTYPES, StateField, StateMap, TorchStepper, torch_versions
from .base import AlgorithmSupport, Capabilities, Unsupported

ADAMW_STATE = StateMap((StateField("step", "step", "step_tensor"), StateField("exp_avg", "exp_avg"), StateField("exp_avg_sq", "exp_avg_sq")))


def _timm() -> Any:
    try:
        import timm.optim
    except ImportError:
        raise Unsupported("timm is not installed") from None
    return timm.optim


def _accepted(cls: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The kwargs the installed constructor takes; a non-default value it does not take is unsupported."""
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(kwargs)
    out = {}
    for name, value in kwargs.items():
        if name in parameters:
            out[name] = value
        elif value not in (None, False, 0.0):
            raise Unsupported(f"this timm {cls.__name__} has no `{name}` argument")
    return out


def _adamw_kwargs(hp: Mapping[str, Any]) -> dict[str, Any]:
    if not hp.get("correct_bias", True):
        raise Unsupported("timm AdamW always bias-corrects (no correct_bias=False)")
    betas = tuple(hp.get("betas", (0.9, 0.999)))
    return {"lr": hp.get("lr", 1e-3), "betas": betas, "eps": hp.get("eps", 1e-6), "weight_decay": hp.get("weight_decay", 0.0), "foreach": False}


def _adafactor_kwargs(hp: Mapping[str, Any]) -> dict[str, Any]:
    relative = hp.get("relative_step", True)
    if relative and hp.get("lr") is not None:
        raise Unsupported("lr with relative_step=True (transformers rejects it)")
    if not relative and hp.get("lr") is None:
        raise Unsupported("relative_step=False without an lr")
    if hp.get("warmup_init") and not relative:
        raise Unsupported("warmup_init without relative_step (transformers rejects it)")
    eps1, eps2 = hp.get("eps", (1e-30, 1e-3))
    beta1 = hp.get("beta1")
    return {
        "lr": None if relative else hp["lr"],
        "eps": eps1,
        "eps_scale": eps2,
        "clip_threshold": hp.get("clip_threshold", 1.0),
        "decay_rate": hp.get("decay_rate", -0.8),
        "betas": None if beta1 is None else (beta1, 0.999),
        "weight_decay": hp.get("weight_decay", 0.0),
        "scale_parameter": hp.get("scale_parameter", True),
        "warmup_init": hp.get("warmup_init", False),
    }


class TimmAdapter:
    name = "timm"

    def info(self) -> dict[str, Any]:
        versions = {}
        try:
            versions = torch_versions()
            import timm

            versions["timm"] = timm.__version__
        except ImportError:
            versions["timm"] = "not installed"
        return {"name": self.name, "framework": "timm", "versions": versions, "device": "cpu"}

    def capabilities(self) -> Capabilities:
        return Capabilities(
            algorithms={
                "adamw": AlgorithmSupport(state_names=ADAMW_STATE.names(), notes="timm.optim.AdamWLegacy (untested here)"),
                "adafactor": AlgorithmSupport(state_names=ADAFACTOR_STATE.names(), notes="timm.optim.Adafactor (untested here)"),
            },
            dtypes=TORCH_DTYPES,
            can_load_state=True,
            can_export_state=True,
            validates_hparams=False,
        )

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> TorchStepper:
        optim = _timm()
        if algorithm == "adamw":
            cls = getattr(optim, "AdamWLegacy", None) or optim.AdamW
            return TorchStepper(algorithm, cls, lambda hp: _accepted(cls, _adamw_kwargs(hp)), ADAMW_STATE, hparams, param_groups, dtype)
        if algorithm == "adafactor":
            cls = optim.Adafactor
            return TorchStepper(algorithm, cls, lambda hp: _accepted(cls, _adafactor_kwargs(hp)), ADAFACTOR_STATE, hparams, param_groups, dtype)
        raise Unsupported(f"the timm adapter does not cover {algorithm}")

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        _timm()
        raise Unsupported("the timm adapter covers optimizers only (timm schedulers have their own warmup conventions)")

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported("timm has no gradient accumulator")

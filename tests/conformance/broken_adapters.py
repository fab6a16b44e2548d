"""Deliberately broken adapters, each the reference adapter with one defect, for the harness tests.

Each is importable as ``broken_adapters:<Class>`` once this folder is on ``sys.path`` (the
conftest registers the module), so the CLI and the pytest plugin can load them by name.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optimspec.conformance.adapters.reference import ReferenceAdapter, _Schedule, _Stepper
from optimspec.reference import run as ref


class _VariantStepper(_Stepper):
    """The reference stepper computing under an alternative convention."""

    variant: Mapping[str, str] = {}

    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        self.params, self.state = ref.optimizer_step(
            self.algorithm, self.params, grads, self.state, self.hparams, groups=self.groups, dtype=self.dtype, variant=self.variant
        )
        return dict(self.params)


class _VariantSchedule(_Schedule):
    variant: Mapping[str, str] = {}

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        return ref.schedule_values(self.algorithm, inputs, self.hparams, variant=self.variant)


class _VariantAdapter(ReferenceAdapter):
    """Follows ``optimizer_variant`` / ``schedule_variant`` instead of the spec, and declares
    ``declares`` (algorithm -> ``AlgorithmSupport.variant``), nothing by default."""

    optimizer_variant: Mapping[str, str] = {}
    schedule_variant: Mapping[str, str] = {}
    declares: Mapping[str, Mapping[str, str]] = {}

    def capabilities(self) -> Any:
        caps = super().capabilities()
        algorithms = {name: dataclasses.replace(support, variant=self.declares.get(name, {})) for name, support in caps.algorithms.items()}
        return dataclasses.replace(caps, algorithms=algorithms)

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> _Stepper:
        stepper = super().make_optimizer(algorithm, hparams, param_groups, dtype)
        stepper.__class__ = type("Stepper", (_VariantStepper,), {"variant": self.optimizer_variant})
        return stepper

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> _Schedule:
        schedule = super().make_schedule(algorithm, hparams)
        schedule.__class__ = type("Schedule", (_VariantSchedule,), {"variant": self.schedule_variant})
        return schedule


class EpsAfterAdapter(_VariantAdapter):
    """ε added after bias correction (torch.optim style) while claiming the spec."""

    name = "broken-eps-after"
    optimizer_variant = {"eps_placement": "after_bias_correction"}


class DecayBeforeAdapter(_VariantAdapter):
    """Weight decay applied to the previous parameter, before the update (the spec decays after)."""

    name = "broken-decay-before"
    optimizer_variant = {"decay_order": "before_update"}


class OffByOneScheduleAdapter(_VariantAdapter):
    """Every schedule one step late (λ(n) at the n-th update)."""

    name = "broken-off-by-one"
    schedule_variant = {"step_offset": "1"}


class DeclaredEpsAfterAdapter(EpsAfterAdapter):
    """Like EpsAfterAdapter, but honest: it declares the convention it follows."""

    name = "declared-eps-after"
    declares = {"adamw": EpsAfterAdapter.optimizer_variant}


TORCH_ADAMW = {"eps_placement": "after_bias_correction", "decay_order": "before_update"}


class DeclaredTorchAdamWAdapter(_VariantAdapter):
    """torch.optim.AdamW's conventions (ε after bias correction, decay before the update), followed
    exactly and declared."""

    name = "declared-torch-adamw"
    optimizer_variant = TORCH_ADAMW
    declares = {"adamw": TORCH_ADAMW}


class ClaimsEpsAfterAdapter(_VariantAdapter):
    """Declares ε after bias correction, but follows the spec (ε before it)."""

    name = "claims-eps-after"
    declares = {"adamw": EpsAfterAdapter.optimizer_variant}


class DeclaredOffByOneAdapter(OffByOneScheduleAdapter):
    """Every schedule one step late, declared for linear."""

    name = "declared-off-by-one"
    declares = {"linear": OffByOneScheduleAdapter.schedule_variant}


class UnknownConventionAdapter(_VariantAdapter):
    """Declares a convention value the spec does not name."""

    name = "unknown-convention"
    declares = {"adamw": {"eps_placement": "sideways"}}


class _StepDefectAdapter(ReferenceAdapter):
    """The reference, with ``defect(params)`` applied to what every optimizer step returns."""

    def defect(self, params: dict[str, np.ndarray]) -> dict[str, Any]:
        raise NotImplementedError

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> _Stepper:
        stepper = super().make_optimizer(algorithm, hparams, param_groups, dtype)
        plain_step, defect = stepper.step, self.defect
        stepper.step = lambda grads: defect(plain_step(grads))  # type: ignore[method-assign]
        return stepper


class RaisingAdapter(_StepDefectAdapter):
    name = "broken-raises"

    def defect(self, params: dict[str, np.ndarray]) -> dict[str, Any]:
        raise RuntimeError("simulated crash inside the optimizer step")


class HangingAdapter(_StepDefectAdapter):
    """Never returns from a step (until the per-case timeout interrupts it)."""

    name = "broken-hangs"

    def defect(self, params: dict[str, np.ndarray]) -> dict[str, Any]:
        while True:
            time.sleep(0.01)


class NaNAdapter(_StepDefectAdapter):
    name = "broken-nan"

    def defect(self, params: dict[str, np.ndarray]) -> dict[str, Any]:
        return {n: np.full_like(p, np.nan) for n, p in params.items()}


class WrongShapeAdapter(_StepDefectAdapter):
    name = "broken-shape"

    def defect(self, params: dict[str, np.ndarray]) -> dict[str, Any]:
        return {n: np.append(np.ravel(p), 0.0) for n, p in params.items()}


class NoisyAdapter(_StepDefectAdapter):
    """Every param off by ``relative`` float64 ε of itself after each step (a precision loss)."""

    name = "noisy"
    relative = 64.0

    def defect(self, params: dict[str, np.ndarray]) -> dict[str, Any]:
        return {n: p + self.relative * 2.0**-52 * np.abs(p) for n, p in params.items()}


class VeryNoisyAdapter(NoisyAdapter):
    """The same precision loss, 10⁵ times larger."""

    name = "very-noisy"
    relative = NoisyAdapter.relative * 1e5

"""The ``optimspec.torch`` adapter: this project's production PyTorch implementation as a peer.

``optimspec.torch`` claims to *be* the spec (no declared conventions, no divergence file), so every
applicable case must pass, the ``invalid/`` cases included: it validates its arguments.

What maps onto what (hyperparameter names are the reference's, which are also optimspec.torch's):

* ``adamw`` → :class:`optimspec.torch.AdamW` with every hyperparameter passed as is; ``step`` is a
  Python int. Half-precision params keep float32 moments, as the reference's ``state_dtype`` says.
* ``adafactor`` → :class:`optimspec.torch.Adafactor`, same names; state in transformers' field names
  (``step`` a Python int, ``RMS`` a float, float32 statistics for half params).
* both: ``master_weights`` is passed on like the others; the float32 master copy of a half param
  is ``state["master_param"]``, the reference's field of the same name.
* ``adafactor_schedule`` → :class:`optimspec.torch.AdafactorSchedule` over an
  :class:`~optimspec.torch.Adafactor` built from ``inputs[0]``.
* every ``SchedulerType`` (constant … warmup_stable_decay, reduce_lr_on_plateau, greedy) →
  ``optimspec.torch.get_scheduler(name, optimizer, num_warmup_steps, num_training_steps,
  scheduler_specific_kwargs=<every other hyperparameter the case gives>)``, which dispatches to the
  ``get_*`` factory of that name (``LAMBDA_FACTORIES`` / ``METRIC_FACTORIES``) as the Trainer does.
  An omitted schedule-specific hyperparameter takes optimspec.torch's default, which must be the
  spec's. ``lr`` and ``group_lrs`` become a dummy optimizer's ``defaults["lr"]`` and per-group lrs;
  W and T are passed as the case gives them (None when it leaves one out). This is the transformers
  adapter's mapping, so the two are compared value for value.

Save/resume is inside the check: every optimizer the harness steps came out of a checkpoint.
After ``load_state`` and after every ``step`` the optimizer's public ``state_dict()`` is written with
``torch.save`` to bytes, read back with ``torch.load(weights_only=True)`` and loaded with
``load_state_dict`` into a fresh optimizer, which takes the next step; ``export_state`` reads the
state from those bytes, not from ``optimizer.state`` (:class:`ResumingStepper`). A ``state_dict``
that drops or garbles a field therefore fails the check.

Defaults: only the hyperparameters a case gives are passed; an omitted one takes optimspec.torch's
own default, which must be the spec's.

Construction is eager: ``make_optimizer`` (through :class:`TorchStepper`'s probe) and
``make_schedule`` build the object once, so an out-of-domain hyperparameter raises ``ValueError``
there (``validates_hparams``).

Implementation paths: ``OptimspecTorchAdapter()`` runs every optimizer on its default path
(``impl`` left out). Every other selectable path is an adapter of its own, named
``optimspec.torch-<path>`` and covering the optimizers that have that path (:data:`PATHS`), so a
bug in any path is a conformance failure: ``--adapter optimspec.conformance.adapters.optimspec_torch:foreach``
(or ``:per_tensor``, ``:default``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .torch_helpers import (
    ADAFACTOR_STATE,
    TORCH_DTYPES,
    LambdaScheduleRunner,
    MetricScheduleRunner,
    StateField,
    StateMap,
    TorchStepper,
    dummy_optimizer,
    to_torch,
    torch_dtype,
    torch_versions,
    with_defaults,
)
from .base import AlgorithmSupport, Capabilities, Unsupported

#: Adapter variant -> the ``impl`` each optimizer runs with (the default paths: none given).
PATHS: dict[str, dict[str, str]] = {
    "default": {},
    "foreach": {"adamw": "foreach"},
    "per_tensor": {"adamw": "per_tensor", "adafactor": "per_tensor"},
}

# Both optimizers keep float32 state for half params (as the reference's ``state_dtype`` says), and
# with master_weights=True a float32 copy of each half param.
MASTER_PARAM = StateField("master_param", "master_param", state_dtype="float32_for_half")
ADAMW_STATE = StateMap(
    (
        StateField("step", "step", "step_int"),
        StateField("exp_avg", "exp_avg", state_dtype="float32_for_half"),
        StateField("exp_avg_sq", "exp_avg_sq", state_dtype="float32_for_half"),
        MASTER_PARAM,
    )
)
OPTIMSPEC_ADAFACTOR_STATE = StateMap((*ADAFACTOR_STATE.fields, MASTER_PARAM))


# schedule name -> optimspec.torch factory name
LAMBDA_FACTORIES = {
    "constant": "get_constant_schedule",
    "constant_with_warmup": "get_constant_schedule_with_warmup",
    "linear": "get_linear_schedule_with_warmup",
    "cosine": "get_cosine_schedule_with_warmup",
    "cosine_with_restarts": "get_cosine_with_hard_restarts_schedule_with_warmup",
    "polynomial": "get_polynomial_decay_schedule_with_warmup",
    "inverse_sqrt": "get_inverse_sqrt_schedule",
    "cosine_with_min_lr": "get_cosine_with_min_lr_schedule_with_warmup",
    "cosine_warmup_with_min_lr": "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "warmup_stable_decay": "get_wsd_schedule",
}
METRIC_FACTORIES = {"reduce_lr_on_plateau": "get_reduce_on_plateau_schedule", "greedy": "get_greedy_schedule"}
# lr, group_lrs: the dummy optimizer's; W, T: get_scheduler's own arguments
_SCHEDULE_COMMON = ("lr", "group_lrs", "num_warmup_steps", "num_training_steps")


def _native(hp: Mapping[str, Any]) -> dict[str, Any]:
    """Reference hyperparameters as optimspec.torch kwargs: the same names; pairs as tuples (a
    malformed value is passed on unchanged, for the class to reject)."""
    kwargs = dict(hp)
    for name in ("betas", "eps"):
        if isinstance(kwargs.get(name), list):
            kwargs[name] = tuple(kwargs[name])
    return kwargs


def _quiet(build: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. WSD's "both num_training_steps and num_stable_steps"
        return build()


class _AdafactorScheduleRunner:
    """:class:`optimspec.torch.AdafactorSchedule` read-back (the reference's ``adafactor_schedule``).

    ``inputs[0]`` builds the optimizer (``{"params": {...}}`` or ``{"groups": [{"params": {...},
    "hparams": {...}}, ...]}``, params in name order within a group; float64 tensors); row 0 is
    every group's lr after ``AdafactorSchedule(optimizer, initial_lr)``; each later input is a
    grads dict, and its row the group lrs after ``optimizer.step(); scheduler.step()``.
    """

    def __init__(self, hparams: Mapping[str, Any]) -> None:
        import torch

        from optimspec.torch import Adafactor, AdafactorSchedule

        hp = dict(hparams)
        self.initial_lr = hp.pop("initial_lr", 0.0)
        self.hparams = _native(hp)
        # Validate now: the optimizer's hyperparameters and initial_lr.
        AdafactorSchedule(Adafactor([torch.zeros(1, requires_grad=True)], **self.hparams), self.initial_lr)

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        from optimspec.torch import Adafactor, AdafactorSchedule

        construction, step_grads = inputs[0], inputs[1:]
        given = construction.get("groups") or [{"params": construction["params"]}]
        tensors: dict[str, Any] = {}
        torch_groups = []
        for group in given:
            names = sorted(group["params"])
            for name in names:
                tensors[name] = to_torch(np.asarray(group["params"][name], dtype=np.float64), "float64").requires_grad_(True)
            torch_groups.append({"params": [tensors[n] for n in names], **_native(group.get("hparams", {}))})
        optimizer = Adafactor(torch_groups, **self.hparams)
        scheduler = AdafactorSchedule(optimizer, self.initial_lr)
        rows = [[float(lr) for lr in scheduler.get_last_lr()]]
        for grads in step_grads:
            for name, tensor in tensors.items():
                grad = grads.get(name)
                tensor.grad = None if grad is None else to_torch(np.asarray(grad, dtype=np.float64), "float64")
            optimizer.step()
            scheduler.step()
            rows.append([float(g["lr"]) for g in optimizer.param_groups])
        return np.array(rows, dtype=np.float64)


def through_bytes(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """``state_dict`` as a checkpoint file holds it: ``torch.save`` to bytes, then
    ``torch.load(weights_only=True)`` (no pickled objects)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


class ResumingStepper(TorchStepper):
    """:class:`TorchStepper` whose optimizer is saved and resumed through ``state_dict()`` /
    ``load_state_dict()`` bytes after every load and step, and whose exported state is read from
    those bytes."""

    def load_state(self, params: Mapping[str, np.ndarray], state: Mapping[str, Mapping[str, Any]]) -> None:
        super().load_state(params, state)
        self.resume()

    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        params = super().step(grads)
        self.resume()
        return params

    def resume(self) -> None:
        """Continue from a fresh optimizer loaded from this one's saved ``state_dict()``."""
        saved = through_bytes(self.optimizer.state_dict())
        self.optimizer = self.new_optimizer()
        self.optimizer.load_state_dict(saved)

    def export_state(self) -> dict[str, dict[str, Any]]:
        saved = through_bytes(self.optimizer.state_dict())
        ids = [i for group in saved["param_groups"] for i in group["params"]]
        tensors = [p for group in self.optimizer.param_groups for p in group["params"]]
        index_of = {id(t): i for t, i in zip(tensors, ids)}
        out: dict[str, dict[str, Any]] = {}
        for name, tensor in self.tensors.items():
            native = saved["state"].get(index_of[id(tensor)])
            out[name] = self.state_map.export(tensor, native) if native else {}
        return out


class OptimspecTorchAdapter:
    """optimspec.torch's optimizers and schedules on the paths of ``variant`` (a key of :data:`PATHS`).

    The default variant covers everything; a path variant covers only the optimizers that have that
    path (their schedules and the other optimizers are the default adapter's). ``device``: where
    the optimizers' params live (``"cuda"`` runs the CUDA paths; the built-in adapters use the CPU).
    """

    def __init__(self, variant: str = "default", device: str = "cpu") -> None:
        if variant not in PATHS:
            raise ValueError(f"variant={variant!r} is not one of {', '.join(PATHS)}")
        self.variant, self.device = variant, device
        self.name = ("optimspec.torch" if variant == "default" else f"optimspec.torch-{variant}") + ("" if device == "cpu" else f"@{device}")

    def info(self) -> dict[str, Any]:
        from importlib.metadata import version

        versions = {**torch_versions(), "optimspec": version("optimspec")}
        return {"name": self.name, "framework": "optimspec.torch", "impl": self.variant, "versions": versions, "device": self.device}

    def _notes(self, algorithm: str, cls_name: str) -> str:
        impl = PATHS[self.variant].get(algorithm)
        return f"optimspec.torch.{cls_name}" + (f" (impl={impl!r})" if impl else " (default path)")

    def capabilities(self) -> Capabilities:
        algorithms = {
            "adamw": AlgorithmSupport(state_names=ADAMW_STATE.names(), notes=self._notes("adamw", "AdamW")),
            "adafactor": AlgorithmSupport(state_names=OPTIMSPEC_ADAFACTOR_STATE.names(), notes=self._notes("adafactor", "Adafactor")),
            "adafactor_schedule": AlgorithmSupport(notes="optimspec.torch.AdafactorSchedule"),
        }
        for name, factory in {**LAMBDA_FACTORIES, **METRIC_FACTORIES}.items():
            algorithms[name] = AlgorithmSupport(notes=f"optimspec.torch.{factory}")
        if self.variant != "default":
            algorithms = {name: support for name, support in algorithms.items() if name in PATHS[self.variant]}
        return Capabilities(
            algorithms=algorithms,
            dtypes=TORCH_DTYPES,
            can_load_state=True,
            can_export_state=True,
            validates_hparams=True,
            schedule_dtype="float64",
        )

    # -- optimizers --------------------------------------------------------------------------------

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> ResumingStepper:
        from optimspec.torch import Adafactor, AdamW

        torch_dtype(dtype)  # Unsupported for a dtype torch lacks
        classes = {"adamw": (AdamW, ADAMW_STATE), "adafactor": (Adafactor, OPTIMSPEC_ADAFACTOR_STATE)}
        if algorithm not in classes or (self.variant != "default" and algorithm not in PATHS[self.variant]):
            raise Unsupported(f"{self.name} has no {algorithm}")
        cls, state_map = classes[algorithm]
        impl = PATHS[self.variant].get(algorithm)
        # TorchStepper builds each group's kwargs through the constructor once (on a dummy tensor), so
        # an invalid hyperparameter raises ValueError here, at make_optimizer.
        return ResumingStepper(
            algorithm, cls, _native, state_map, hparams, param_groups, dtype, extra={"impl": impl} if impl else None,
            spec_defaults=False, master_weights=True, device=self.device,
        )

    # -- schedules ---------------------------------------------------------------------------------

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        import optimspec.torch as impl

        if algorithm == "adafactor_schedule":
            return _AdafactorScheduleRunner(hparams)
        if algorithm not in LAMBDA_FACTORIES and algorithm not in METRIC_FACTORIES:
            raise Unsupported(f"optimspec.torch has no schedule {algorithm}")
        resolved = with_defaults(algorithm, hparams)  # the dummy optimizer's lr: the spec's default 1.0
        lr, group_lrs = resolved["lr"], resolved.get("group_lrs")
        kwargs = {k: v for k, v in hparams.items() if k not in _SCHEDULE_COMMON}
        warmup, total = hparams.get("num_warmup_steps"), hparams.get("num_training_steps")

        def build() -> tuple[Any, Any]:
            optimizer = dummy_optimizer(lr, group_lrs)
            scheduler = _quiet(
                lambda: impl.get_scheduler(
                    algorithm, optimizer, num_warmup_steps=warmup, num_training_steps=total, scheduler_specific_kwargs=dict(kwargs)
                )
            )
            return optimizer, scheduler

        build()  # construction errors (ValueError) surface here, at make_schedule
        return MetricScheduleRunner(build) if algorithm in METRIC_FACTORIES else LambdaScheduleRunner(build)

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported("optimspec.torch has no gradient accumulator (the TF GradientAccumulator is optimspec.tf's)")


def default() -> OptimspecTorchAdapter:
    """``--adapter optimspec.conformance.adapters.optimspec_torch:default`` (the built-in ``optimspec.torch``)."""
    return OptimspecTorchAdapter("default")


def foreach() -> OptimspecTorchAdapter:
    """``--adapter optimspec.conformance.adapters.optimspec_torch:foreach``: the ``impl="foreach"`` paths."""
    return OptimspecTorchAdapter("foreach")


def per_tensor() -> OptimspecTorchAdapter:
    """``--adapter optimspec.conformance.adapters.optimspec_torch:per_tensor``: the paths bit-identical to transformers."""
    return OptimspecTorchAdapter("per_tensor")

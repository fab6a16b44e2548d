"""The ``transformers`` adapter: the installed transformers (v5: PyTorch only) driven as a peer.

transformers is the spec's source, so this adapter is the check that the reference reproduces the
upstream code it was written from: every case it covers should pass.

What it covers:

* ``adafactor`` → ``transformers.Adafactor`` with every hyperparameter passed as is (same names),
  state loaded into and read from ``optimizer.state`` under transformers' own field names;
* ``adafactor_schedule`` → ``transformers.AdafactorSchedule`` (the lr read-back proxy), when the
  reference declares it;
* every ``SchedulerType`` (constant … warmup_stable_decay, reduce_lr_on_plateau, greedy) →
  ``transformers.get_scheduler(name, optimizer, num_warmup_steps, num_training_steps,
  scheduler_specific_kwargs=<every other hyperparameter>)``, on an optimizer whose
  ``defaults["lr"]`` is ``lr`` and whose groups start at ``group_lrs``.

Not covered: ``adamw`` (removed in v4.50; v5 has no ``transformers.AdamW``) and the TensorFlow
half (``AdamWeightDecay``, ``WarmUp``, ``create_optimizer``, ``GradientAccumulator``: removed in v5).

``validates_hparams`` is False: transformers validates some arguments and not others (e.g.
polynomial with W == T fails late, with ZeroDivisionError, instead of at construction), so the
``invalid/`` cases are not applicable.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .torch_helpers import (
    ADAFACTOR_STATE,
    TORCH_DTYPES,
    LambdaScheduleRunner,
    MetricScheduleRunner,
    TorchStepper,
    dummy_optimizer,
    to_torch,
    torch_versions,
    with_defaults,
)
from .base import AlgorithmSupport, Capabilities, Unsupported

# transformers Adafactor keeps its state in the (up-cast) gradient's dtype: float32 for half params.

LAMBDA_SCHEDULES = (
    "constant",
    "constant_with_warmup",
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "inverse_sqrt",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
)
METRIC_SCHEDULES = ("reduce_lr_on_plateau", "greedy")
_SCHEDULE_COMMON = ("lr", "group_lrs", "num_warmup_steps", "num_training_steps")


def _adafactor_kwargs(hp: Mapping[str, Any]) -> dict[str, Any]:
    """The reference's names are transformers' own, except optimspec's ``master_weights`` (left
    out: a case that sets it is unsupported, :func:`~.base.refuse_master_weights`)."""
    kwargs = {name: value for name, value in hp.items() if name != "master_weights"}
    if "eps" in kwargs:
        kwargs["eps"] = tuple(kwargs["eps"])
    return kwargs


class _AdafactorScheduleRunner:
    """``AdafactorSchedule`` read-back (the reference's ``adafactor_schedule`` inputs).

    ``inputs[0]`` builds the optimizer: ``{"params": {name: values}}`` (one group) or
    ``{"groups": [{"params": {...}, "hparams": {...}}, ...]}``, params in name order within a group;
    float64 tensors. Row 0 is every group's lr right after ``AdafactorSchedule(optimizer,
    initial_lr)``; each later input is a grads dict, and its row the group lrs after
    ``optimizer.step(); scheduler.step()``.
    """

    def __init__(self, hparams: Mapping[str, Any]) -> None:
        self.hparams = dict(hparams)

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        from transformers.optimization import Adafactor, AdafactorSchedule

        hp = dict(self.hparams)
        initial_lr = hp.pop("initial_lr", 0.0)
        construction, step_grads = inputs[0], inputs[1:]
        given = construction.get("groups") or [{"params": construction["params"]}]
        tensors: dict[str, Any] = {}
        torch_groups = []
        for group in given:
            names = sorted(group["params"])
            for name in names:
                tensors[name] = to_torch(np.asarray(group["params"][name], dtype=np.float64), "float64").requires_grad_(True)
            torch_groups.append({"params": [tensors[n] for n in names], **_adafactor_kwargs(group.get("hparams", {}))})
        optimizer = Adafactor(torch_groups, **_adafactor_kwargs(hp))
        scheduler = AdafactorSchedule(optimizer, initial_lr)
        rows = [[float(g["lr"]) for g in optimizer.param_groups]]
        for grads in step_grads:
            for name, tensor in tensors.items():
                grad = grads.get(name)
                tensor.grad = None if grad is None else to_torch(np.asarray(grad, dtype=np.float64), "float64")
            optimizer.step()
            scheduler.step()
            rows.append([float(g["lr"]) for g in optimizer.param_groups])
        return np.array(rows, dtype=np.float64)


class TransformersAdapter:
    name = "transformers"

    def info(self) -> dict[str, Any]:
        import transformers

        return {"name": self.name, "framework": "transformers", "versions": {**torch_versions(), "transformers": transformers.__version__}, "device": "cpu"}

    def capabilities(self) -> Capabilities:
        algorithms = {"adafactor": AlgorithmSupport(state_names=ADAFACTOR_STATE.names(), notes="transformers.Adafactor")}
        algorithms["adafactor_schedule"] = AlgorithmSupport(notes="transformers.AdafactorSchedule")
        for name in LAMBDA_SCHEDULES + METRIC_SCHEDULES:
            algorithms[name] = AlgorithmSupport(notes=f"transformers.get_scheduler({name!r})")
        return Capabilities(
            algorithms=algorithms,
            dtypes=TORCH_DTYPES,
            can_load_state=True,
            can_export_state=True,
            validates_hparams=False,
            schedule_dtype="float64",
        )

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> TorchStepper:
        import transformers.optimization

        if algorithm == "adafactor":
            return TorchStepper(algorithm, transformers.optimization.Adafactor, _adafactor_kwargs, ADAFACTOR_STATE, hparams, param_groups, dtype)
        if algorithm == "adamw":
            raise Unsupported("transformers v5 has no AdamW (removed in v4.50)")
        raise Unsupported(f"transformers v5 has no {algorithm}")

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        import transformers

        if algorithm == "adafactor_schedule":
            return _AdafactorScheduleRunner(hparams)
        if algorithm not in LAMBDA_SCHEDULES + METRIC_SCHEDULES:
            raise Unsupported(f"transformers v5 has no schedule {algorithm}")
        resolved = with_defaults(algorithm, hparams)
        lr, group_lrs = resolved.get("lr", 1.0), resolved.get("group_lrs")
        kwargs = {k: v for k, v in hparams.items() if k not in _SCHEDULE_COMMON}
        warmup = resolved.get("num_warmup_steps")
        # WSD may be given num_stable_steps instead of T: only then is T left out.
        total = hparams.get("num_training_steps") if algorithm == "warmup_stable_decay" else resolved.get("num_training_steps")

        def build() -> tuple[Any, Any]:
            optimizer = dummy_optimizer(lr, group_lrs)
            scheduler = transformers.get_scheduler(
                algorithm, optimizer, num_warmup_steps=warmup, num_training_steps=total, scheduler_specific_kwargs=dict(kwargs)
            )
            return optimizer, scheduler

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. WSD's "both num_training_steps and num_stable_steps"
            build()  # construction errors surface at make_schedule
        return MetricScheduleRunner(build) if algorithm in METRIC_SCHEDULES else LambdaScheduleRunner(build)

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported("transformers v5 has no GradientAccumulator (the TF half was removed)")

"""The ``optimspec.tf`` adapter: this project's TensorFlow / Keras 3 implementations.

What maps onto what (reference names on the left):

* ``adam_weight_decay`` → ``optimspec.tf.AdamWeightDecay(learning_rate, beta_1, beta_2, epsilon,
  amsgrad, weight_decay_rate, include_in_weight_decay, exclude_from_weight_decay)``, constructed in
  ``make_optimizer`` (so out-of-domain hyperparameters raise ``ValueError`` there). Each golden
  tensor becomes a ``keras.Variable`` of the case dtype created under nested ``keras.name_scope``\\ s,
  so that its ``.path`` *is* the golden name (``"encoder/dense/kernel"``): the include/exclude
  regexes are matched against exactly the string the reference matches. Param groups with their
  own hyperparameters become one optimizer per group.
* ``gradient_accumulator`` → ``optimspec.tf.GradientAccumulator`` (eager, default strategy).
* ``polynomial_decay`` → ``optimspec.tf.PolynomialDecay`` (Keras' ``PolynomialDecay`` with
  construction-time checks); ``warmup`` → ``optimspec.tf.WarmUp(initial, PolynomialDecay(initial,
  decay_steps, end_learning_rate, decay_power), warmup_steps, power)``; ``create_optimizer`` → the
  schedule ``optimspec.tf.create_optimizer(...)`` returns, and its ``optim/`` cases step the optimizer
  it returns (``AdamWeightDecay``, or Keras' ``Adam`` without decay) like ``adam_weight_decay``. Schedules are called eagerly with an
  int64 step, as Keras calls them with ``optimizer.iterations``; they compute in float32.

Only the hyperparameters a case gives are passed: an omitted one takes optimspec.tf's own default,
which must be the spec's.

Save/resume is inside the check: after ``load_state`` and after every step each optimizer is
saved the way a ``.keras`` file keeps it, its config through ``keras.saving.serialize_keras_object``
and its variables (``iterations``, the learning rate, the slots) through ``save_own_variables``,
and the next step is taken by the optimizer ``deserialize_keras_object`` and
``load_own_variables`` rebuild from that (:func:`resumed`); schedules are evaluated after the same
config round trip (:func:`restored`). A ``get_config`` that loses a setting, or a variable that is
not saved, therefore fails the check.

Teacher forcing: ``load_state`` rebuilds the variables from the given params, builds a fresh
optimizer and assigns ``iterations`` and the ``momentum`` / ``velocity`` / ``velocity_hat`` slots
(reference ``m`` / ``v`` / ``vhat``). Keras keeps one ``iterations`` counter per optimizer, not a
step per tensor: a state whose tensors have different steps, and a step with a missing (None)
gradient (which would still advance the shared counter), are unsupported. ``vhat`` exists only
with ``amsgrad`` (the reference keeps it at zero otherwise) and is exported only then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .keras3 import make_variable
from .base import AlgorithmSupport, Capabilities, StateDict, Tensors, Unsupported, group_hparams, unused

TF_DTYPES = ("float64", "float32")
SLOTS = {"m": "_momentums", "v": "_velocities", "vhat": "_velocity_hats"}
STATE_NAMES = {"m": "momentum", "v": "velocity", "vhat": "velocity_hat"}
SCHEDULES = ("warmup", "polynomial_decay", "create_optimizer")


def _tf() -> tuple[Any, Any, Any]:
    """(tensorflow, keras, optimspec.tf), imported on first use with TensorFlow quiet."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    import optimspec.tf as otf

    if keras.backend.backend() != "tensorflow":
        raise Unsupported(f"optimspec.tf needs the tensorflow Keras backend, not {keras.backend.backend()}")
    return tf, keras, otf


# --------------------------------------------------------------------------------------------------
# adam_weight_decay
# --------------------------------------------------------------------------------------------------


def restored(obj: Any) -> Any:
    """``obj`` (an optimizer or a schedule) rebuilt from its serialized config, as a ``.keras``
    file restores it."""
    _, keras, _ = _tf()
    return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))


def resumed(optimizer: Any, variables: Sequence[Any]) -> Any:
    """The optimizer a ``.keras`` checkpoint of ``optimizer`` restores: rebuilt from its serialized
    config over ``variables``, its own variables loaded from what ``save_own_variables`` wrote."""
    store: dict[str, Any] = {}
    optimizer.save_own_variables(store)
    restored_optimizer = restored(optimizer)
    restored_optimizer.build(list(variables))
    restored_optimizer.load_own_variables({key: np.array(value) for key, value in store.items()})
    return restored_optimizer


def _optimizer_factory(algorithm: str) -> Any:
    """``hparams -> a fresh optimizer``: ``AdamWeightDecay(**hparams)``, or the optimizer
    ``create_optimizer(**hparams)`` returns (the reference names are their own argument names)."""
    _, _, otf = _tf()
    if algorithm == "adam_weight_decay":
        return lambda hp: otf.AdamWeightDecay(**hp)
    return lambda hp: otf.create_optimizer(**hp)[0]


class AdamWeightDecayStepper:
    """Drives one optimizer per param group (an ``AdamWeightDecay``, or what ``create_optimizer``
    returns) over Keras variables named as the golden tensors."""

    def __init__(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> None:
        if dtype not in TF_DTYPES:
            raise Unsupported(f"dtype {dtype}: the optimspec.tf adapter runs float32 and float64 variables")
        _, self.keras, self.otf = _tf()
        self.dtype, self.groups = dtype, param_groups
        self.make = _optimizer_factory(algorithm)
        self.kwargs = group_hparams(hparams, param_groups)
        for kwargs in self.kwargs:  # validates every group's hyperparameters now (ValueError)
            self.make(kwargs)
        self.variables: dict[str, Any] = {}
        self.optimizers: list[tuple[Any, list[str]]] = []

    def _build(self, params: Tensors) -> None:
        self.variables = {name: make_variable(self.keras, name, value, self.dtype) for name, value in params.items()}
        names_per_group = [list(g["params"]) for g in self.groups] if self.groups else [list(params)]
        self.optimizers = []
        for kwargs, names in zip(self.kwargs, names_per_group):
            optimizer = self.make(kwargs)
            optimizer.build([self.variables[n] for n in names])
            self.optimizers.append((optimizer, names))

    def _resume(self) -> None:
        self.optimizers = [(resumed(optimizer, [self.variables[n] for n in names]), names) for optimizer, names in self.optimizers]

    def init(self, params: Tensors) -> None:
        self._build(params)

    def load_state(self, params: Tensors, state: StateDict) -> None:
        self._build(params)
        for optimizer, names in self.optimizers:
            steps = {int(state[n]["step"]) for n in names if state.get(n, {}).get("step") is not None}
            if len(steps) > 1:
                raise Unsupported(f"Keras keeps one iterations counter per optimizer; the state has per-tensor steps {sorted(steps)}")
            optimizer.iterations.assign(steps.pop() if steps else 0)
            for name in names:
                index = optimizer._get_variable_index(self.variables[name])
                for field, attribute in SLOTS.items():
                    value = state.get(name, {}).get(field)
                    slots = getattr(optimizer, attribute, None)
                    if unused(value) or not slots or slots[index] is None:
                        continue  # vhat without amsgrad: the reference keeps it at zero, Keras has no slot
                    slots[index].assign(np.asarray(value, dtype=self.dtype))
        self._resume()

    def step(self, grads: Mapping[str, np.ndarray | None]) -> Tensors:
        missing = [n for n in self.variables if grads.get(n) is None]
        if missing:
            raise Unsupported(f"no gradient for {missing}: Keras would still advance the shared iterations counter (the reference counts per tensor)")
        for optimizer, names in self.optimizers:
            optimizer.apply([np.asarray(grads[n], dtype=self.dtype) for n in names], [self.variables[n] for n in names])
        self._resume()
        return {n: np.asarray(v.numpy(), dtype=np.float64) for n, v in self.variables.items()}

    def export_state(self) -> StateDict:
        out: StateDict = {}
        for optimizer, names in self.optimizers:
            step = int(optimizer.iterations.numpy())
            for name in names:
                index = optimizer._get_variable_index(self.variables[name])
                fields: dict[str, Any] = {"step": step}
                for field, attribute in SLOTS.items():
                    slots = getattr(optimizer, attribute, None)
                    if slots and slots[index] is not None:
                        fields[field] = np.asarray(slots[index].numpy(), dtype=np.float64)
                out[name] = fields
        return out


# --------------------------------------------------------------------------------------------------
# gradient_accumulator
# --------------------------------------------------------------------------------------------------


class AccumulatorRunner:
    def __init__(self, dtype: str) -> None:
        if dtype not in TF_DTYPES:
            raise Unsupported(f"dtype {dtype}: the optimspec.tf adapter runs float32 and float64 gradients")
        self.tf, _, otf = _tf()
        self.dtype = dtype
        self.accumulator = otf.GradientAccumulator()

    def call(self, grads: Sequence[np.ndarray | None]) -> None:
        self.accumulator([None if g is None else self.tf.constant(np.asarray(g, dtype=self.dtype)) for g in grads])

    def reset(self) -> None:
        self.accumulator.reset()

    def read(self) -> tuple[int, list[np.ndarray | None] | None]:
        step = int(self.accumulator.step.numpy())
        try:
            sums = self.accumulator.gradients
        except ValueError:  # before the first call
            return step, None
        return step, [None if s is None else np.asarray(s.numpy(), dtype=np.float64) for s in sums]


# --------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------


class ScheduleRunner:
    """A Keras schedule called eagerly at int64 steps (as ``optimizer.iterations`` is)."""

    def __init__(self, schedule: Any) -> None:
        self.tf, _, _ = _tf()
        self.schedule = schedule

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        rows = [[float(np.asarray(self.schedule(self.tf.constant(int(step), dtype=self.tf.int64))))] for step in inputs]
        return np.array(rows, dtype=np.float64).reshape(len(rows), 1)


def _given(hp: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``{native name: value}`` of the hyperparameters (reference name -> native name) the case gives."""
    return {native: hp[name] for name, native in names.items() if name in hp}


def _schedule(algorithm: str, hp: Mapping[str, Any]) -> Any:
    """The schedule from the hyperparameters the case gives (the others: optimspec.tf's defaults)."""
    _, _, otf = _tf()
    if algorithm == "polynomial_decay":
        return otf.PolynomialDecay(**hp)
    if algorithm == "warmup":
        initial = hp["initial_learning_rate"]
        decay = otf.PolynomialDecay(initial, hp["decay_steps"], **_given(hp, {"end_learning_rate": "end_learning_rate", "decay_power": "power"}))
        return otf.WarmUp(initial, decay, hp["warmup_steps"], **_given(hp, {"power": "power"}))
    if algorithm == "create_optimizer":
        _, schedule = otf.create_optimizer(**hp)
        return schedule
    raise Unsupported(f"optimspec.tf has no {algorithm}")


# --------------------------------------------------------------------------------------------------
# the adapter
# --------------------------------------------------------------------------------------------------


class OptimspecTfAdapter:
    name = "optimspec.tf"

    def __init__(self) -> None:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        if backend != "tensorflow":  # an ImportError makes the built-in "unavailable", with this reason
            raise ImportError(f"optimspec.tf needs the tensorflow Keras backend (KERAS_BACKEND={backend!r})")

    def info(self) -> dict[str, Any]:
        tf, keras, _ = _tf()
        from importlib.metadata import PackageNotFoundError, version

        versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}
        try:
            versions["optimspec"] = version("optimspec")
        except PackageNotFoundError:
            pass
        return {"name": self.name, "framework": "optimspec.tf (TensorFlow, Keras 3)", "versions": versions, "device": "cpu", "floatx": keras.config.floatx()}

    def capabilities(self) -> Capabilities:
        algorithms = {
            # Keras creates no velocity_hat slot without amsgrad (the reference keeps vhat at zero)
            "adam_weight_decay": AlgorithmSupport(state_names=STATE_NAMES, unexported_state=("vhat",), notes="optimspec.tf.AdamWeightDecay"),
            "create_optimizer": AlgorithmSupport(state_names=STATE_NAMES, unexported_state=("vhat",), notes="optimspec.tf.create_optimizer: its schedule, and its optimizer stepped on named variables"),
            "gradient_accumulator": AlgorithmSupport(notes="optimspec.tf.GradientAccumulator"),
            "warmup": AlgorithmSupport(notes="optimspec.tf.WarmUp over optimspec.tf.PolynomialDecay"),
            "polynomial_decay": AlgorithmSupport(notes="optimspec.tf.PolynomialDecay (Keras PolynomialDecay, validated)"),
        }
        return Capabilities(
            algorithms=algorithms,
            dtypes=TF_DTYPES,
            can_load_state=True,
            can_export_state=True,
            validates_hparams=True,
            schedule_dtype="float32",
        )

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> AdamWeightDecayStepper:
        if algorithm not in ("adam_weight_decay", "create_optimizer"):
            raise Unsupported(f"optimspec.tf has no optimizer {algorithm}")
        return AdamWeightDecayStepper(algorithm, hparams, param_groups, dtype)

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> ScheduleRunner:
        if algorithm not in SCHEDULES:
            raise Unsupported(f"optimspec.tf has no {algorithm}")
        return ScheduleRunner(restored(_schedule(algorithm, hparams)))

    def make_accumulator(self, algorithm: str, dtype: str) -> AccumulatorRunner:
        if algorithm != "gradient_accumulator":
            raise Unsupported(f"optimspec.tf has no {algorithm}")
        return AccumulatorRunner(dtype)
